"""Baselines for in-context learning on an unseen task, beside the warmed-up model.

- SVC: for each episode, a linear support vector classifier (scikit-learn ``SVC``, linear
  kernel, ``C = 1``) trained on the episode's demonstrations alone and applied to its query.
  Features of an utterance: the counts of its k-means units and of its unit bigrams (the whole
  utterance, not cut to the episode length), as one vector scaled to unit L2 norm.
- Few-shot prompt tuning (a reference with training): classification prompts and a learnable
  verbalizer (``PromptedUnitLM``) on the same frozen backbone, trained with the project's
  training loop on a seeded draw of a few labelled examples from the demonstration pool (see
  ``FewShotTuningConfig``), then scored on every query over all the pool's labels.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .. import training
from ..batching import pad_batch
from ..data.episodes import Episode, Example, TaskPool
from ..prompt.prompted_lm import PromptedUnitLM
from ..prompt.prompts import PromptConfig
from ..speechlm.transformer_lm import TransformerDecoder
from ..verbalizer.fixed import random_mapping
from ..verbalizer.learnable import LearnableVerbalizer
from ..vocab import NUM_SPECIALS

SVC_FEATURES = (
    "linear SVC (C=1) on each episode's demonstrations; features: counts of k-means units and "
    "unit bigrams of the whole utterance, L2-normalized"
)


# ---------------------------------------------------------------- SVC on the demonstrations
def unit_features(units: Sequence[int]) -> Counter:
    """Unit and unit-bigram counts of one utterance."""
    features = Counter(("unit", u) for u in units)
    features.update(("bigram", a, b) for a, b in zip(units, units[1:], strict=False))
    return features


def feature_matrix(rows: Sequence[Sequence[int]]) -> np.ndarray:
    """One L2-normalized feature row per utterance, over the features any of them has."""
    counts = [unit_features(units) for units in rows]
    keys = sorted({key for count in counts for key in count})
    column = {key: i for i, key in enumerate(keys)}
    matrix = np.zeros((len(rows), max(len(keys), 1)))
    for row, count in enumerate(counts):
        for key, value in count.items():
            matrix[row, column[key]] = value
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def svc_predict(episode: Episode) -> str:
    """The label an SVC trained on the episode's demonstrations gives its query."""
    from sklearn.svm import SVC

    labels = [demo.label for demo in episode.demos]
    if len(set(labels)) == 1:
        return labels[0]
    matrix = feature_matrix([demo.units for demo in episode.demos] + [episode.query.units])
    classifier = SVC(kernel="linear", C=1.0).fit(matrix[:-1], labels)
    return str(classifier.predict(matrix[-1:])[0])


# ---------------------------------------------------------------- few-shot prompt tuning
@dataclass
class FewShotTuningConfig:
    """``shots_per_label`` examples of every label of the pool (fewer where the pool has
    fewer), drawn with the evaluation seed; ``steps`` full-batch Adam steps (betas 0.9/0.98,
    gradient norm clipped to 1) at ``lr`` on the prompts and the verbalizer; each utterance cut
    to the episodes' unit length. The verbalizer starts from a seeded random label -> unit
    mapping (at random where there are more labels than units)."""

    shots_per_label: int = 1
    steps: int = 40
    lr: float = 2e-2
    prompt: PromptConfig = field(
        default_factory=lambda: PromptConfig(
            input_length=5, deep_length=5, separator=True, dropout=0.0
        )
    )

    def describe(self) -> str:
        p = self.prompt
        return (
            f"{self.shots_per_label} example(s) per label drawn from the pool per seed; "
            f"PromptedUnitLM (input prompt {p.input_length}, deep prompt {p.deep_length}, "
            f"separator {p.separator}) + learnable verbalizer; {self.steps} full-batch Adam "
            f"steps, lr {self.lr}, clip 1.0; units cut to the episode length"
        )


def few_shot_examples(pool: TaskPool, shots: int, rng: random.Random) -> list[Example]:
    """``shots`` examples of every label of ``pool`` (all of a label that has fewer)."""
    chosen = []
    for label in sorted(pool.by_label):
        examples = pool.by_label[label]
        chosen += rng.sample(examples, min(shots, len(examples)))
    return chosen


def tune_few_shot(
    backbone: TransformerDecoder,
    unit_tokens: Sequence[int],
    train: Sequence[tuple[Sequence[int], int]],
    num_labels: int,
    config: FewShotTuningConfig,
    seed: int,
) -> PromptedUnitLM:
    """Prompts and a learnable verbalizer trained on ``train`` (backbone tokens, label index)
    over the frozen ``backbone``; deterministic for ``seed``."""
    device = next(backbone.parameters()).device
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        init = (
            random_mapping(num_labels, unit_tokens, seed)
            if num_labels <= len(unit_tokens)
            else None
        )
        verbalizer = LearnableVerbalizer(backbone.config.vocab_size, num_labels, init)
        model = PromptedUnitLM(backbone, verbalizer, config.prompt).to(device)
    rows = [list(tokens) for tokens, _ in train]
    units, lengths = pad_batch(rows)
    labels = torch.tensor([[NUM_SPECIALS + label] for _, label in train])
    batch = (units.to(device), lengths.to(device), labels.to(device))

    def loss(inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, int]:
        ones = torch.ones(len(inputs[2]), dtype=torch.long, device=device)
        return model(*inputs, ones)["loss"], len(inputs[2])

    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=config.lr, betas=(0.9, 0.98))
    training.train(
        model, lambda rng: [batch] * config.steps, loss, optimizer, epochs=1, seed=seed,
        clip_norm=1.0, name="few-shot prompt tuning",
    )  # fmt: skip
    return model


def classify_all(
    model: PromptedUnitLM, rows: Sequence[Sequence[int]], num_labels: int, batch_size: int
) -> list[int]:
    """The best label index for each row of backbone tokens, scored over all labels."""
    device = next(model.backbone.parameters()).device
    candidates = torch.arange(NUM_SPECIALS, NUM_SPECIALS + num_labels, device=device)[:, None]
    best = []
    for start in range(0, len(rows), batch_size):
        units, lengths = pad_batch([list(r) for r in rows[start : start + batch_size]])
        chosen, _ = model.classify(units.to(device), lengths.to(device), candidates)
        best += chosen.tolist()
    return best
