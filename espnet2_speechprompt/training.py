"""The one training loop for the project's own training runs: unit LM pre-training, the GRU
baseline, the demo's prompt tuning.

    history = train(model, batches, loss, optimizer, epochs=8, clip_norm=1.0,
                    valid_loss=lambda: evaluate(model, valid), keep_best=True,
                    state_path="exp/lm/train_state.pt")

Each epoch: ``model.train()``, one optimizer step per batch of ``batches(rng)`` (``rng`` is the
run's ``random.Random(seed)``, so the batch order is reproducible and resumable), then the
validation loss (the epoch's training loss without ``valid_loss``). With ``keep_best`` the model
ends with the weights of the epoch of lowest validation loss; it always ends in eval mode. With
``state_path`` the whole state (weights, optimizer, both random generators, best weights) is
written there after every epoch, atomically, and an interrupted run continues from it, read
weights-only; with ``run_id`` (what the run is of: its data and settings, e.g. a hash) a state
saved by another run is refused. A resumed run is exact when ``batches`` depends on nothing but
``rng``.
"""

from __future__ import annotations

import logging
import math
import os
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from torch import nn

from .errors import SpeechPromptError
from .fileio import atomic_path
from .safe_load import load_torch_file

logger = logging.getLogger(__name__)

Batch = TypeVar("Batch")
Item = TypeVar("Item")
RESUME_REMEDY = "delete it to start the pre-training over"


@dataclass
class History:
    """Losses of this run (a resumed run starts its lists at the resumed epoch)."""

    step_losses: list[float] = field(default_factory=list)  # every optimizer step
    train_losses: list[float] = field(default_factory=list)  # per epoch, mean over items
    valid_losses: list[float] = field(default_factory=list)  # per epoch
    best_loss: float = math.inf  # the lowest validation loss so far (resumed runs included)


def train(
    model: nn.Module,
    batches: Callable[[random.Random], Iterable[Batch]],
    loss: Callable[[Batch], tuple[torch.Tensor, int]],
    optimizer: torch.optim.Optimizer,
    epochs: int,
    *,
    seed: int = 0,
    clip_norm: float | None = None,
    valid_loss: Callable[[], float] | None = None,
    keep_best: bool = False,
    state_path: str | os.PathLike | None = None,
    name: str = "model",
    run_id: str = "",
) -> History:
    """Train ``model`` for ``epochs`` epochs (see the module docstring).

    ``loss(batch)`` returns the batch's mean loss and the number of items it averages over
    (tokens, utterances), which weighs it in the epoch's training loss; ``clip_norm`` clips the
    gradient norm of the optimizer's parameters; ``name`` prefixes the log lines.
    """
    rng, history, best_state = random.Random(seed), History(), None
    start = 1
    if state_path is not None and os.path.isfile(state_path):
        start, best_state = _resume(
            os.fspath(state_path), model, optimizer, rng, history, name, run_id
        )
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    for epoch in range(start, epochs + 1):
        model.train()
        train_loss = _epoch(batches(rng), loss, optimizer, parameters, clip_norm, history)
        valid = valid_loss() if valid_loss is not None else train_loss
        history.train_losses.append(train_loss)
        history.valid_losses.append(valid)
        logger.info(f"{name} epoch {epoch}: train loss {train_loss:.3f}, valid loss {valid:.3f}")
        if valid < history.best_loss:
            history.best_loss = valid
            if keep_best:
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if state_path is not None:
            state = _training_state(epoch, model, optimizer, rng, history.best_loss, best_state)
            state["run_id"] = run_id
            with atomic_path(state_path) as tmp:
                torch.save(state, tmp)
    if keep_best and best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history


def reshuffled(items: Sequence[Item], batch_size: int) -> Callable[[random.Random], Iterator]:
    """``batches`` for :func:`train`: every epoch shuffles a copy of ``items`` further (each
    epoch starts from the previous epoch's order) and cuts it into lists of ``batch_size``.
    That order lives outside the state file: not for runs that resume."""
    order = list(items)

    def epoch_batches(rng: random.Random) -> Iterator[list[Item]]:
        rng.shuffle(order)
        for start in range(0, len(order), batch_size):
            yield order[start : start + batch_size]

    return epoch_batches


def _epoch(
    batches: Iterable[Batch],
    loss: Callable[[Batch], tuple[torch.Tensor, int]],
    optimizer: torch.optim.Optimizer,
    parameters: list[torch.Tensor],
    clip_norm: float | None,
    history: History,
) -> float:
    """One pass of optimizer steps; the item-weighted mean training loss."""
    total, count = 0.0, 0
    for batch in batches:
        value, items = loss(batch)
        optimizer.zero_grad()
        value.backward()
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(parameters, clip_norm)
        optimizer.step()
        history.step_losses.append(float(value.detach()))
        total, count = total + history.step_losses[-1] * items, count + items
    return total / max(count, 1)


def _training_state(
    epoch: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    rng: random.Random,
    best_loss: float,
    best_state: dict | None,
) -> dict[str, Any]:
    """Everything a resumed run needs, as tensors and plain values (loads weights-only)."""
    version, internal, gauss_next = rng.getstate()
    return {
        "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "rng": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64),
                "gauss_next": gauss_next},
        "torch_rng": torch.get_rng_state(), "best": best_loss, "best_state": best_state,
    }  # fmt: skip


def _resume(
    path: str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    rng: random.Random,
    history: History,
    name: str,
    run_id: str = "",
) -> tuple[int, dict | None]:
    """Restore a saved training state; returns the next epoch and the best weights."""
    state = load_torch_file(path, kind="training state", remedy=RESUME_REMEDY)
    if isinstance(state, dict) and state.get("run_id", "") != run_id:
        raise SpeechPromptError(
            f"{path}: saved by a run on other data or settings, which this one does not "
            f"continue; {RESUME_REMEDY}"
        )
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        saved = state["rng"]
        internal = tuple(int(x) for x in saved["internal"].tolist())
        rng.setstate((saved["version"], internal, saved["gauss_next"]))
        torch.set_rng_state(state["torch_rng"])
        epoch, history.best_loss = int(state["epoch"]), float(state["best"])
        best_state = state["best_state"]
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpeechPromptError(
            f"{path}: not a training state this run can resume ({type(exc).__name__}: "
            f"{reason}); {RESUME_REMEDY}"
        ) from None
    logger.info(f"{name}: resuming after epoch {epoch} from {path}")
    return epoch + 1, best_state
