"""The library: a trained task for inference (``SpeechPrompt``; in-context learning:
``InContextSpeechPrompt``), building a prompted model from a task's options
(``build_speechprompt``, ``build_icl``), reading a training ``config.yaml``, and packages
(``pack``, ``resolve_pretrained``). Imports no ``espnet2``."""

from ..checkpoints.trainable_state import load_trainable_state
from .builder import BuiltSpeechPrompt, build_preprocessor, build_speechprompt, trainable_state
from .config import read_train_config
from .icl import InContextSpeechPrompt
from .icl_builder import build_icl
from .packing import pack, resolve_pretrained, verify_backbone
from .speechprompt import SpeechPrompt

__all__ = [
    "BuiltSpeechPrompt",
    "InContextSpeechPrompt",
    "SpeechPrompt",
    "build_icl",
    "build_preprocessor",
    "build_speechprompt",
    "load_trainable_state",
    "pack",
    "read_train_config",
    "resolve_pretrained",
    "trainable_state",
    "verify_backbone",
]
