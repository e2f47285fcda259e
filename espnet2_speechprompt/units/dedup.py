"""Collapse runs of repeated units (``torch.unique_consecutive`` semantics)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def dedup(units: torch.Tensor | Sequence[int], return_durations: bool = False) -> Any:
    """Drop consecutive repeats: ``[5, 5, 3, 3, 3, 5] -> [5, 3, 5]`` (durations ``[2, 3, 1]``).

    A 1-D tensor gives tensors (dtype kept), a sequence of ints gives lists. With
    ``return_durations`` the result is ``(units, durations)``; durations sum to the input length.
    """
    as_list = not isinstance(units, torch.Tensor)
    tensor = torch.as_tensor(list(units), dtype=torch.long) if as_list else units
    if tensor.dim() != 1:
        raise ValueError(f"dedup expects a 1-D unit sequence, got shape {tuple(tensor.shape)}")
    values, counts = torch.unique_consecutive(tensor, return_counts=True)
    if as_list:
        values, counts = values.tolist(), counts.tolist()
    return (values, counts) if return_durations else values
