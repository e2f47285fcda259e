"""A synthetic unit-classification task, a tiny unit LM pre-trained on it, and a plain
prompt-tuning loop: the README demo and the learning tests use these (CPU, seconds).

Each class owns a few "home" units; an utterance draws most of its units from its class's
home set, so the class is a function of the sequence that an LM pre-trained on unlabeled
sequences already half-predicts (as a speech LM does for keywords).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

import torch

from .batching import pad_batch
from .prompt.prompted_lm import PromptedUnitLM
from .speechlm.pretrain import PretrainConfig
from .speechlm.pretrain import pretrain_unit_lm as pretrain
from .speechlm.transformer_lm import TransformerDecoder
from .vocab import NUM_SPECIALS, Dictionary


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


def pretrain_unit_lm(
    corpus: ToyCorpus,
    dim: int = 32,
    layers: int = 2,
    heads: int = 4,
    epochs: int = 4,
    seed: int = 0,
) -> TransformerDecoder:
    """Next-unit prediction on the unlabeled train utterances (``</s> u_1..u_T </s>``)."""
    config = PretrainConfig(dim, layers, heads, 2 * dim, epochs, 3e-3, 32, seed, 256)
    rows = [units for units, _ in corpus.train]
    return pretrain(rows, None, len(corpus.vocab), config)


def frequency_counts(corpus: ToyCorpus) -> tuple[list[int], dict[int, int]]:
    """Train-set label counts (by class) and source-unit counts (by token id)."""
    labels = Counter(label for _, label in corpus.train)
    units = Counter(t for u, _ in corpus.train for t in u)
    return [labels[c] for c in range(corpus.num_classes)], dict(units)


def tune_prompts(
    model: PromptedUnitLM,
    data: list[tuple[list[int], int]],
    epochs: int = 8,
    batch_size: int = 32,
    lr: float = 5e-3,
    seed: int = 0,
) -> list[float]:
    """Adam on the trainable parameters (official settings: lr 5e-3, betas 0.9/0.98, clip 1)."""
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.98))
    gen = random.Random(seed)
    data = list(data)
    losses = []
    model.train()
    for _ in range(epochs):
        gen.shuffle(data)
        for i in range(0, len(data), batch_size):
            units, lengths = pad_batch([u for u, _ in data[i : i + batch_size]])
            labels = torch.tensor([[NUM_SPECIALS + c] for _, c in data[i : i + batch_size]])
            out = model(units, lengths, labels, torch.ones(len(labels), dtype=torch.long))
            optim.zero_grad()
            out["loss"].backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optim.step()
            losses.append(float(out["loss"].detach()))
    model.eval()
    return losses


def accuracy(model: PromptedUnitLM, data: list[tuple[list[int], int]], num_classes: int) -> float:
    candidates = torch.arange(NUM_SPECIALS, NUM_SPECIALS + num_classes)[:, None]
    correct = 0
    for i in range(0, len(data), 64):
        units, lengths = pad_batch([u for u, _ in data[i : i + 64]])
        best, _ = model.classify(units, lengths, candidates)
        correct += sum(int(b) == c for b, (_, c) in zip(best, data[i : i + 64], strict=True))
    return correct / len(data)
