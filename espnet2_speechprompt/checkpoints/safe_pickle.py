"""Read fairseq checkpoints without fairseq and without running pickled code.

fairseq pickles ``argparse.Namespace`` configs, omegaconf ``DictConfig`` objects, meters and
dictionaries next to the weights. Only tensor reconstruction, a few containers and
``Namespace`` are rebuilt for real; every other class becomes an inert ``PickledStub`` holding
its state, so nothing from the file is ever called.
"""

from __future__ import annotations

import argparse
import collections
import io
import os
import pickle
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import SpeechPromptError


class CheckpointError(SpeechPromptError):
    """A checkpoint, dictionary or config that cannot be used; the message says why."""


class PickledStub:
    """Stand-in for a class we do not import (fairseq, omegaconf, numpy ...)."""

    _stub_of = "?"

    def __init__(self, *args: Any, **kwargs: Any):
        self.__dict__["_args"] = args
        self.__dict__.update(kwargs)

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            state = {**(state[0] or {}), **state[1]}  # (dict, slots) form
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__["_state"] = state

    def __repr__(self) -> str:
        return f"<stub of {self._stub_of}>"


_STUBS: dict[str, type] = {}
_BUILTINS = {"set", "frozenset", "list", "tuple", "dict", "int", "float", "bool", "str"}
_BUILTINS |= {"bytes", "bytearray", "complex", "slice", "range"}
_TORCH_REBUILD = {
    "_rebuild_tensor",
    "_rebuild_tensor_v2",
    "_rebuild_parameter",
    "_rebuild_parameter_with_state",
}


def _allowed(module: str, name: str) -> Any:
    """The real object for an allow-listed global, else None."""
    if module == "collections" and name == "OrderedDict":
        return collections.OrderedDict
    if module == "argparse" and name == "Namespace":
        return argparse.Namespace
    if module == "builtins" and name in _BUILTINS:
        return getattr(__import__("builtins"), name)
    if module == "_codecs" and name == "encode":
        return __import__("codecs").encode
    if module == "torch._utils" and name in _TORCH_REBUILD:
        return getattr(torch._utils, name)
    if module == "torch" and (name.endswith("Storage") or name == "Size"):
        return getattr(torch, name, None)
    if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
        return getattr(torch, name)
    if module == "torch.storage" and name in {"UntypedStorage", "TypedStorage"}:
        return getattr(torch.storage, name)
    return None


def _stub(module: str, name: str) -> type:
    key = f"{module}.{name}"
    if key not in _STUBS:
        _STUBS[key] = type(name, (PickledStub,), {"_stub_of": key, "__module__": __name__})
    return _STUBS[key]


class SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        real = _allowed(module, name)
        return real if real is not None else _stub(module, name)


class _SafePickleModule:
    """The ``pickle_module`` handed to ``torch.load``."""

    Unpickler = SafeUnpickler
    __name__ = "safe_pickle"

    @staticmethod
    def load(file: io.IOBase, **kwargs: Any) -> Any:
        return SafeUnpickler(file, **kwargs).load()


def safe_torch_load(path: str | os.PathLike) -> Any:
    """``torch.load`` on CPU with the restricted unpickler; one clear error for a bad file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        return torch.load(
            path, map_location="cpu", pickle_module=_SafePickleModule, weights_only=False
        )
    except Exception as exc:  # torch raises many types for a corrupt file
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); the file may be "
            "truncated or not a checkpoint — download it again"
        ) from None


def to_plain(obj: Any) -> Any:
    """Turn Namespace / DictConfig stubs / nodes into plain dicts, lists and values."""
    if isinstance(obj, argparse.Namespace):
        return to_plain(vars(obj))
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_plain(v) for v in obj]
    if isinstance(obj, PickledStub):
        state = obj.__dict__
        if "_content" in state:  # omegaconf DictConfig / ListConfig
            return to_plain(state["_content"])
        if "_val" in state:  # omegaconf value node
            return to_plain(state["_val"])
        return {k: to_plain(v) for k, v in state.items() if not k.startswith("_")}
    return obj


@dataclass
class FairseqCheckpoint:
    """The parts of a fairseq checkpoint a loader needs."""

    path: str
    model_state: dict[str, torch.Tensor]
    model_config: dict[str, Any]
    arch: str


def read_fairseq_checkpoint(path: str | os.PathLike) -> FairseqCheckpoint:
    """Model state (fp32) and model config from either layout (``args`` or ``cfg``)."""
    state = safe_torch_load(path)
    path = os.fspath(path)
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise CheckpointError(
            f"{path}: not a fairseq checkpoint (expected a dict with a 'model' state dict)"
        )
    config: dict[str, Any] = {}
    if state.get("cfg") is not None:
        cfg = to_plain(state["cfg"])
        config = dict(cfg.get("model") or {}) if isinstance(cfg, dict) else {}
    if not config and state.get("args") is not None:
        config = to_plain(state["args"])
    if not isinstance(config, dict):
        config = {}
    arch = str(config.get("arch") or config.get("_name") or "unknown")
    model_state = {}
    for key, value in state["model"].items():
        if isinstance(value, torch.Tensor):
            model_state[key] = value.float() if value.is_floating_point() else value
    return FairseqCheckpoint(path, model_state, config, arch)
