"""Padding token sequences into a batch (shared by the training loops and baselines)."""

from __future__ import annotations

import torch

from .vocab import PAD


def pad_batch(rows: list[list[int]], pad: int = PAD) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``[B, T_max]`` long tensor and the lengths ``[B]``."""
    lengths = torch.tensor([len(r) for r in rows])
    out = torch.full((len(rows), int(lengths.max())), pad, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out, lengths
