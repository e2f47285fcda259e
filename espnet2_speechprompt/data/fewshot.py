"""Few-shot training subsets: ``n`` utterances per class, drawn with a seed.

Each class is drawn from its own generator seeded by ``(seed, class)``, so the draw for one
class does not depend on which other classes exist; a class with fewer than ``n`` utterances
keeps all of them (and a warning says so). The result is in the input order.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from typing import TypeVar

from .kaldi import DataPrepError

logger = logging.getLogger(__name__)
T = TypeVar("T")


def sample_n_shot(items: Sequence[T], n: int, seed: int, class_of: Callable[[T], str]) -> list[T]:
    """``n`` items of every class (``class_of(item)``), seeded; input order kept."""
    if not isinstance(n, int) or n < 1:
        raise DataPrepError(f"--n_shot must be a positive integer (got {n!r})")
    by_class: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        by_class.setdefault(class_of(item), []).append(index)
    chosen: list[int] = []
    short = []
    for cls in sorted(by_class):
        members = by_class[cls]
        if len(members) <= n:
            chosen += members
            if len(members) < n:
                short.append(f"{cls} ({len(members)})")
            continue
        chosen += random.Random(f"{seed}:{cls}").sample(members, n)
    if short:
        logger.warning(
            "%d class(es) have fewer than %d utterances and are kept whole: %s",
            len(short),
            n,
            ", ".join(short[:10]),
        )
    return [items[i] for i in sorted(chosen)]


def fewshot_name(train_set: str, n: int, seed: int) -> str:
    """The data dir name of a few-shot subset, e.g. ``train_10shot_seed0``."""
    return f"{train_set}_{n}shot_seed{seed}"
