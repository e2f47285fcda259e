"""A supervised comparison baseline on the same units: a bidirectional GRU classifier."""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

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
    rng = random.Random(config.seed)
    model = GRUClassifier(num_units, num_classes, config)
    optim = torch.optim.Adam(model.parameters(), lr=config.lr)
    best, best_state = -1.0, None
    data = list(train)
    for _ in range(config.max_epoch):
        model.train()
        rng.shuffle(data)
        for i in range(0, len(data), config.batch_size):
            chunk = data[i : i + config.batch_size]
            logits = model(*pad_batch([u for u, _ in chunk], model.pad))
            loss = F.cross_entropy(logits, torch.tensor([c for _, c in chunk]))
            optim.zero_grad()
            loss.backward()
            optim.step()
        preds = predict(model, [u for u, _ in valid])
        acc = sum(p == c for p, (_, c) in zip(preds, valid, strict=True)) / len(valid)
        if acc > best:
            best, best_state = acc, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return model.eval()
