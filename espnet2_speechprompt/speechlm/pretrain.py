"""Pre-train a small unit LM (next-unit prediction, ``</s> u_1..u_T </s>`` per utterance).

The mini recipe makes its own backbone with this, so the rest of the pipeline runs on a file in
the GSLM release layout exactly as it would with the real GSLM.
"""

from __future__ import annotations

import logging
import math
import os
import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..batching import pad_batch
from ..errors import SpeechPromptError
from ..fileio import atomic_path
from ..safe_load import load_torch_file
from ..vocab import EOS, PAD
from .transformer_lm import DecoderConfig, TransformerDecoder

logger = logging.getLogger(__name__)


@dataclass
class PretrainConfig:
    embed_dim: int = 128
    num_layers: int = 3
    num_heads: int = 4
    ffn_dim: int = 512
    max_epoch: int = 10
    lr: float = 2e-3
    batch_size: int = 32
    seed: int = 0
    max_positions: int = 1024


def _batches(rows: list[list[int]], batch_size: int, rng: random.Random | None):
    order = list(range(len(rows)))
    if rng is not None:
        rng.shuffle(order)
    for i in range(0, len(order), batch_size):
        yield pad_batch([[EOS] + rows[j] + [EOS] for j in order[i : i + batch_size]])[0]


def lm_loss(model: TransformerDecoder, tokens: torch.Tensor) -> tuple[torch.Tensor, int]:
    logits = model(tokens[:, :-1])
    targets = tokens[:, 1:]
    loss = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=PAD, reduction="sum")
    return loss, int(targets.ne(PAD).sum())


@torch.no_grad()
def evaluate(model: TransformerDecoder, rows: list[list[int]], batch_size: int = 64) -> float:
    """Per-token negative log-likelihood (nats)."""
    model.eval()
    total, count = 0.0, 0
    for tokens in _batches(rows, batch_size, None):
        loss, n = lm_loss(model, tokens)
        total, count = total + float(loss), count + n
    return total / max(count, 1)


def _training_state(
    epoch: int,
    model: TransformerDecoder,
    optim: torch.optim.Optimizer,
    rng: random.Random,
    best: float,
    best_state: dict | None,
) -> dict:
    """Everything a resumed run needs, as tensors and plain values (loads weights-only)."""
    version, internal, gauss_next = rng.getstate()
    return {
        "epoch": epoch, "model": model.state_dict(), "optimizer": optim.state_dict(),
        "rng": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64),
                "gauss_next": gauss_next},
        "torch_rng": torch.get_rng_state(), "best": best, "best_state": best_state,
    }  # fmt: skip


def _resume(
    state_path: str, model: TransformerDecoder, optim: torch.optim.Optimizer, rng: random.Random
) -> tuple[int, float, dict | None]:
    """Restore a saved training state; returns (next epoch, best valid nll, best weights)."""
    remedy = "delete it to start the pre-training over"
    state = load_torch_file(state_path, kind="training state", remedy=remedy)
    try:
        model.load_state_dict(state["model"])
        optim.load_state_dict(state["optimizer"])
        saved = state["rng"]
        internal = tuple(int(x) for x in saved["internal"].tolist())
        rng.setstate((saved["version"], internal, saved["gauss_next"]))
        torch.set_rng_state(state["torch_rng"])
        epoch, best, best_state = int(state["epoch"]), float(state["best"]), state["best_state"]
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpeechPromptError(
            f"{state_path}: not a training state this run can resume ({type(exc).__name__}: "
            f"{reason}); {remedy}"
        ) from None
    logger.info(f"unit LM: resuming after epoch {epoch} from {state_path}")
    return epoch + 1, best, best_state


def pretrain_unit_lm(
    train: list[list[int]],
    valid: list[list[int]] | None,
    vocab_size: int,
    config: PretrainConfig,
    state_path: str | os.PathLike | None = None,
) -> TransformerDecoder:
    """Train from scratch; returns the model of the best validation epoch (eval mode).

    With ``state_path``, the full training state is saved there after every epoch (atomically)
    and an interrupted run continues from it.
    """
    torch.manual_seed(config.seed)
    model = TransformerDecoder(
        DecoderConfig(
            vocab_size,
            config.embed_dim,
            config.ffn_dim,
            config.num_layers,
            config.num_heads,
            max_positions=config.max_positions,
        )
    )
    optim = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.9, 0.98))
    rng = random.Random(config.seed)
    start, best, best_state = 1, math.inf, None
    if state_path is not None and os.path.isfile(state_path):
        start, best, best_state = _resume(os.fspath(state_path), model, optim, rng)
    for epoch in range(start, config.max_epoch + 1):
        model.train()
        total, count = 0.0, 0
        for tokens in _batches(train, config.batch_size, rng):
            loss, n = lm_loss(model, tokens)
            optim.zero_grad()
            (loss / n).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            total, count = total + float(loss.detach()), count + n
        valid_nll = evaluate(model, valid) if valid else total / count
        logger.info(
            f"unit LM epoch {epoch}: train nll {total / count:.3f}, valid nll {valid_nll:.3f}"
        )
        if valid_nll < best:
            best, best_state = valid_nll, {k: v.clone() for k, v in model.state_dict().items()}
        if state_path is not None:
            with atomic_path(state_path) as tmp:
                torch.save(_training_state(epoch, model, optim, rng, best, best_state), tmp)
    model.load_state_dict(best_state)
    return model.eval()
