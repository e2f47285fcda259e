"""The trainable state of a prompted model (prompts, separator, verbalizer), read safely."""

from __future__ import annotations

import os

import torch

from ..errors import CheckpointError
from ..safe_load import load_state_dict_file


def load_trainable_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Prompt-only weights from ``*.safetensors`` or an ESPnet ``*.pth`` (tensors only); a
    missing, damaged or unsafe file is one :class:`CheckpointError` naming it."""
    return load_state_dict_file(
        path,
        kind="prompt model file",
        remedy="give a model file written by training (e.g. valid.acc.best.pth)",
        error=CheckpointError,
    )
