"""Baselines of speech inpainting that use no model: fill each masked span by copying its
neighbours (the first half from the unit before the span, the rest from the unit after it;
one side when the span touches an end)."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import SpeechPromptError
from ..vocab import MASK_UNIT


def copy_neighbours(source: Sequence[int]) -> list[int]:
    """``source`` with every run of ``MASK_UNIT`` filled from the units around it."""
    filled = list(source)
    if filled and all(u == MASK_UNIT for u in filled):
        raise SpeechPromptError("every unit is masked: no neighbour to copy")
    i = 0
    while i < len(filled):
        if filled[i] != MASK_UNIT:
            i += 1
            continue
        end = i
        while end < len(filled) and filled[end] == MASK_UNIT:
            end += 1
        left = filled[i - 1] if i > 0 else None
        right = filled[end] if end < len(filled) else None
        half = (end - i + 1) // 2
        for k in range(i, end):
            use_left = right is None or (left is not None and k - i < half)
            filled[k] = left if use_left else right
        i = end
    return filled
