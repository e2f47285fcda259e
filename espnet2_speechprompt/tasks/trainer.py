"""ESPnet's ``Trainer`` with a resume that runs no code from the experiment directory.

``--resume true`` reads ``checkpoint.pth`` with torch's weights-only unpickler and an explicit
allow-list (what ESPnet saves: tensors, optimizer/scheduler state, the reporter's numpy scalars
and timedeltas), and checks the ``<n>epoch.pth`` files that ESPnet averages at the end of
training before any of them is read by ESPnet itself.
"""

from __future__ import annotations

import datetime
import importlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from espnet2.train.reporter import Reporter
from espnet2.train.trainer import Trainer

from ..errors import SpeechPromptError
from ..precision import dtype_name, low_precision_dtype
from ..safe_load import load_state_dict_file, load_torch_file
from .distributed import prepare_distributed

_NUMERIC_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32")
_NUMERIC_DTYPES += ("uint64", "float16", "float32", "float64")


def _numpy_scalar() -> Any:
    for module in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            return importlib.import_module(module).scalar
        except (ImportError, AttributeError):
            continue
    raise ImportError("numpy's multiarray.scalar not found")


def reporter_globals() -> list[Any]:
    """The globals ESPnet's reporter state pickles (numpy scalars, dtypes, timedeltas)."""
    scalar = _numpy_scalar()
    dtype_classes = {type(np.dtype(name)) for name in _NUMERIC_DTYPES}
    return [
        (scalar, "numpy._core.multiarray.scalar"),  # written by numpy 2
        (scalar, "numpy.core.multiarray.scalar"),  # written by numpy 1
        np.dtype,
        *sorted(dtype_classes, key=lambda c: c.__name__),
        datetime.timedelta,
    ]


def _remedy(path: Path) -> str:
    return f"delete {path} (or run with --resume false) to start the training over"


def load_training_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """ESPnet's ``checkpoint.pth`` (model, reporter, optimizers, schedulers, scaler), read
    with an allow-list; a damaged or foreign file is one :class:`SpeechPromptError`."""
    path = Path(path)
    remedy = _remedy(path)
    state = load_torch_file(
        path, allowed=reporter_globals(), kind="training checkpoint", remedy=remedy
    )
    expected = {"model", "reporter", "optimizers", "schedulers"}
    if not isinstance(state, dict) or not expected <= state.keys():
        raise SpeechPromptError(
            f"{path}: not an ESPnet training checkpoint (expected the keys "
            f"{sorted(expected)}); {remedy}"
        )
    reporter = state["reporter"]
    if not isinstance(reporter, dict) or not isinstance(reporter.get("stats"), dict):
        raise SpeechPromptError(f"{path}: no reporter state in this checkpoint; {remedy}")
    return state


def check_epoch_files(directory: Path) -> None:
    """Every ``<n>epoch.pth`` in ``directory`` must be a file of named tensors (ESPnet reads
    them without an allow-list when it averages the best epochs)."""
    for path in sorted(directory.glob("*epoch.pth")):
        load_state_dict_file(path, kind="epoch model file", remedy=_remedy(path))


class SpeechPromptTrainer(Trainer):
    """ESPnet's trainer; ``resume`` is allow-listed (one-line errors) and, distributed, the
    frozen backbone stays out of DDP (``distributed.prepare_distributed``). The backbone keeps
    its ``backbone_precision`` through ESPnet's cast to ``--train_dtype``
    (``TrainableStateModel.keep_backbone_dtype``)."""

    @classmethod
    def run(cls, model: torch.nn.Module, *args: Any, **kwargs: Any) -> None:
        """ESPnet's ``run`` (same arguments); logs the precision the backbone trains in."""
        backbone = model.prompted.backbone
        dtype = low_precision_dtype(backbone) or torch.float32
        logging.info(f"training with the frozen backbone in {dtype_name(dtype)}")
        distributed_option = kwargs.get("distributed_option", args[-1] if args else None)
        if distributed_option is not None and distributed_option.distributed:
            prepare_distributed(model)
        super().run(model, *args, **kwargs)

    @staticmethod
    def resume(
        checkpoint: str | Path,
        model: torch.nn.Module,
        reporter: Reporter,
        optimizers: Sequence[torch.optim.Optimizer],
        schedulers: Sequence[Any],
        scaler: Any,
        ngpu: int = 0,
        strict: bool = True,
    ) -> None:
        """Restore model, reporter, optimizers, schedulers and scaler from ``checkpoint``
        (tensors are read on CPU; ``load_state_dict`` moves them to the model's device)."""
        checkpoint = Path(checkpoint)
        states = load_training_checkpoint(checkpoint)
        check_epoch_files(checkpoint.parent)
        try:
            model.load_state_dict(states["model"], strict=strict)
        except RuntimeError as exc:
            raise SpeechPromptError(
                f"{checkpoint}: does not fit this model ({str(exc).splitlines()[0]}); it was "
                f"written for another configuration — {_remedy(checkpoint)}"
            ) from None
        reporter.load_state_dict(states["reporter"])
        for optimizer, state in zip(optimizers, states["optimizers"], strict=False):
            optimizer.load_state_dict(state)
        for scheduler, state in zip(schedulers, states["schedulers"], strict=False):
            if scheduler is not None:
                scheduler.load_state_dict(state)
        if scaler is not None and states.get("scaler") is not None:
            scaler.load_state_dict(states["scaler"])
        elif scaler is not None:
            logging.warning(f"{checkpoint}: no AMP scaler state; the scaler starts afresh")
        logging.info(f"Resumed the training from {checkpoint}")
