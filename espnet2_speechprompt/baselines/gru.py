"""A supervised comparison baseline on the same units: a bidirectional GRU classifier."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .. import training
from ..batching import pad_batch


@dataclass
class GRUConfig:
    embed_dim: int = 64
    hidden: int = 128
    max_epoch: int = 8
    lr: float = 2e-3
    batch_size: int = 32
    seed: int = 0


class GRUClassifier(nn.Module):
    def __init__(self, num_units: int, num_classes: int, config: GRUConfig):
        super().__init__()
        self.embed = nn.Embedding(num_units + 1, config.embed_dim, padding_idx=num_units)
        self.gru = nn.GRU(config.embed_dim, config.hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * config.hidden, num_classes)
        self.pad = num_units

    def forward(self, units: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embed(units), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        _, hidden = self.gru(packed)  # [2, B, H]: last state of each direction
        return self.out(torch.cat([hidden[0], hidden[1]], dim=-1))


@torch.no_grad()
def predict(model: GRUClassifier, rows: list[list[int]], batch_size: int = 128) -> list[int]:
    model.eval()
    preds = []
    for i in range(0, len(rows), batch_size):
        preds += model(*pad_batch(rows[i : i + batch_size], model.pad)).argmax(-1).tolist()
    return preds


def train_gru(
    train: list[tuple[list[int], int]],
    valid: list[tuple[list[int], int]],
    num_units: int,
    num_classes: int,
    config: GRUConfig,
) -> GRUClassifier:
    """Adam on cross-entropy; keeps the epoch with the best validation accuracy."""
    torch.manual_seed(config.seed)
    model = GRUClassifier(num_units, num_classes, config)

    def cross_entropy(batch: list[tuple[list[int], int]]) -> tuple[torch.Tensor, int]:
        logits = model(*pad_batch([units for units, _ in batch], model.pad))
        return F.cross_entropy(logits, torch.tensor([label for _, label in batch])), len(batch)

    def error_rate() -> float:
        preds = predict(model, [units for units, _ in valid])
        return 1 - sum(p == c for p, (_, c) in zip(preds, valid, strict=True)) / len(valid)

    training.train(
        model,
        training.reshuffled(train, config.batch_size),
        cross_entropy,
        torch.optim.Adam(model.parameters(), lr=config.lr),
        config.max_epoch,
        seed=config.seed,
        valid_loss=error_rate,
        keep_best=True,
        name="GRU baseline",
    )
    return model
