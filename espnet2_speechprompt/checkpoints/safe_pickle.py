"""Read fairseq checkpoints without fairseq and without running pickled code.

fairseq pickles ``argparse.Namespace`` configs, omegaconf ``DictConfig`` objects, meters and
dictionaries next to the weights. The file is read by torch's weights-only unpickler; only
``Namespace`` is rebuilt for real beyond tensors and containers, every other class becomes an
inert ``PickledStub`` holding its state, and globals that run code refuse the file.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import CheckpointError
from ..safe_load import PickledStub, load_torch_file


def _plain_dict(*_args: Any) -> dict:
    """``collections.defaultdict`` read as a plain dict (its default factory is not kept)."""
    return {}


# real globals beyond torch's own: configs, containers and the plain types
FOREIGN_ALLOWED = [argparse.Namespace, dict, list, tuple, int, float, bool, str, frozenset]
FOREIGN_ALLOWED += [(_plain_dict, "collections.defaultdict")]


def safe_torch_load(path: str | os.PathLike, mmap: bool = False) -> Any:
    """A checkpoint written by another program (fairseq, HiFi-GAN) on CPU, foreign classes as
    inert stubs; one clear error for a missing, damaged or unsafe file. ``mmap``: tensors
    read from the file only when used."""
    return load_torch_file(
        path, allowed=FOREIGN_ALLOWED, stub_unknown=True, error=CheckpointError, mmap=mmap
    )


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
