"""Pre-train a small unit LM (next-unit prediction, ``</s> u_1..u_T </s>`` per utterance).

The mini recipe makes its own backbone with this, so the rest of the pipeline runs on a file in
the GSLM release layout exactly as it would with the real GSLM.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .. import training
from ..batching import pad_batch
from ..vocab import EOS, PAD
from .transformer_lm import DecoderConfig, TransformerDecoder


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


def train_from_scratch(
    model: torch.nn.Module,
    batches,
    batch_loss,
    valid_loss,
    config: PretrainConfig,
    state_path: str | os.PathLike | None,
    name: str,
    run_id: str = "",
) -> None:
    """Adam (betas 0.9, 0.98) over ``config.max_epoch`` epochs, gradients clipped at 1, the
    best validation epoch kept; ``batch_loss(batch)`` gives a summed loss and its count. With
    ``state_path`` an interrupted run continues (``run_id``: see ``training.train``)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.9, 0.98))

    def mean_loss(batch) -> tuple[torch.Tensor, int]:
        loss, count = batch_loss(batch)
        return loss / count, count

    training.train(
        model, batches, mean_loss, optimizer, config.max_epoch, seed=config.seed, clip_norm=1.0,
        valid_loss=valid_loss, keep_best=True, state_path=state_path, name=name, run_id=run_id,
    )  # fmt: skip


def pretrain_unit_lm(
    train: list[list[int]],
    valid: list[list[int]] | None,
    vocab_size: int,
    config: PretrainConfig,
    state_path: str | os.PathLike | None = None,
    run_id: str = "",
    init: TransformerDecoder | None = None,
) -> TransformerDecoder:
    """Train from scratch (or go on training ``init``: its shape is kept, the config's model
    fields unused); returns the model of the best validation epoch (eval mode).

    With ``state_path``, the full training state is saved there after every epoch (atomically)
    and an interrupted run continues from it (a state of another ``run_id`` is refused).
    """
    torch.manual_seed(config.seed)
    model = (
        init
        if init is not None
        else TransformerDecoder(
            DecoderConfig(
                vocab_size,
                config.embed_dim,
                config.ffn_dim,
                config.num_layers,
                config.num_heads,
                max_positions=config.max_positions,
            )
        )
    )
    train_from_scratch(
        model,
        lambda rng: _batches(train, config.batch_size, rng),
        lambda tokens: lm_loss(model, tokens),
        (lambda: evaluate(model, valid)) if valid else None,
        config,
        state_path,
        "unit LM",
        run_id,
    )
    return model
