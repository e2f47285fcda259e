"""A synthetic unit-classification corpus for the demo (no audio, no downloads).

Each class owns a few "home" units; an utterance draws most of its units from its class's
home set, so the class is a function of the sequence that an LM pre-trained on unlabeled
sequences already half-predicts (as a speech LM does for keywords).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from ..vocab import Dictionary


@dataclass
class ToyCorpus:
    vocab: Dictionary
    train: list[tuple[list[int], int]]  # (backbone token ids, class)
    test: list[tuple[list[int], int]]
    num_classes: int


def make_toy_corpus(
    num_classes: int = 4,
    num_units: int = 24,
    home_size: int = 5,
    home_rate: float = 0.7,
    length: tuple[int, int] = (10, 18),
    num_train: int = 800,
    num_test: int = 200,
    seed: int = 0,
) -> ToyCorpus:
    rng = random.Random(seed)
    # cpc-style dict.txt order: symbols are not in numeric order
    symbols = [str(u) for u in range(num_units)]
    rng.shuffle(symbols)
    vocab = Dictionary(symbols)
    units = list(range(num_units))
    rng.shuffle(units)
    homes = [units[c * home_size : (c + 1) * home_size] for c in range(num_classes)]

    def utterance(label: int) -> list[int]:
        n = rng.randint(*length)
        drawn = [
            rng.choice(homes[label]) if rng.random() < home_rate else rng.randrange(num_units)
            for _ in range(n)
        ]
        return vocab.encode(drawn)

    def split(n: int) -> list[tuple[list[int], int]]:
        return [(utterance(label := rng.randrange(num_classes)), label) for _ in range(n)]

    return ToyCorpus(vocab, split(num_train), split(num_test), num_classes)


def frequency_counts(corpus: ToyCorpus) -> tuple[list[int], dict[int, int]]:
    """Train-set label counts (by class) and source-unit counts (by token id)."""
    labels = Counter(label for _, label in corpus.train)
    units = Counter(t for u, _ in corpus.train for t in u)
    return [labels[c] for c in range(corpus.num_classes)], dict(units)
