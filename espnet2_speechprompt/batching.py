"""Padding token sequences into a batch (shared by the training loops and baselines)."""

from __future__ import annotations

import torch

from .vocab import EOS, PAD


def pad_batch(rows: list[list[int]], pad: int = PAD) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``[B, T_max]`` long tensor and the lengths ``[B]``."""
    lengths = torch.tensor([len(r) for r in rows])
    out = torch.full((len(rows), int(lengths.max())), pad, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out, lengths


def left_padded(
    units: torch.Tensor, lengths: torch.Tensor, last: int | torch.Tensor | None = None
) -> torch.Tensor:
    """Right-padded units ``[B, T]`` -> left-padded rows ``</s> u_1..u_T`` (+ ``last``, a
    token or one per row), so every row's last token is in the last column (decoder-only LMs
    start a sequence with ``</s>``, as fairseq's)."""
    batch, width = units.shape
    extra = 0 if last is None else 1
    block = units.new_full((batch, width + 1 + extra), PAD)
    shift = width - lengths
    steps = torch.arange(width, device=units.device)
    valid = steps[None, :] < lengths[:, None]
    rows = torch.arange(batch, device=units.device)[:, None].expand(-1, width)
    block[rows[valid], (steps[None, :] + shift[:, None] + 1)[valid]] = units[valid]
    block[torch.arange(batch, device=units.device), shift] = EOS
    if last is not None:
        block[:, -1] = last
    return block
