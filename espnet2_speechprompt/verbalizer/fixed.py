"""Fixed verbalizers: label ``c`` is one backbone token, chosen by rule.

- random: a seeded draw of distinct unit tokens;
- frequency: the i-th most frequent label gets the i-th most frequent source unit (SpeechPrompt v1);
- identity: the token whose ``dict.txt`` symbol equals the label (labels that are units).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from ..errors import SpeechPromptError
from ..vocab import NUM_SPECIALS, Dictionary
from .base import Verbalizer


class VerbalizerError(SpeechPromptError):
    """A verbalizer that cannot be built from these labels and units."""


def _need_units(num_labels: int, num_units: int) -> None:
    if num_units < num_labels:
        raise VerbalizerError(
            f"a fixed verbalizer needs at least as many units as labels ({num_labels} labels, "
            f"{num_units} units): use the learnable verbalizer"
        )


def random_mapping(num_labels: int, unit_tokens: Sequence[int], seed: int = 0) -> list[int]:
    _need_units(num_labels, len(unit_tokens))
    order = torch.randperm(len(unit_tokens), generator=torch.Generator().manual_seed(seed))
    return [int(unit_tokens[i]) for i in order[:num_labels]]


def frequency_mapping(label_counts: Sequence[int], unit_counts: Mapping[int, int]) -> list[int]:
    """Label counts (by label index) and source-unit counts (by token index) from train data."""
    _need_units(len(label_counts), len(unit_counts))
    labels = sorted(range(len(label_counts)), key=lambda c: (-label_counts[c], c))
    units = sorted(unit_counts, key=lambda t: (-unit_counts[t], t))
    mapping = [0] * len(label_counts)
    for label, token in zip(labels, units, strict=False):  # extra units stay unused
        mapping[label] = int(token)
    return mapping


def identity_mapping(labels: Sequence[str], vocab: Dictionary) -> list[int]:
    missing = [label for label in labels if label not in vocab]
    if missing:
        raise VerbalizerError(
            f"identity verbalizer: label {missing[0]!r} is not a symbol of the backbone "
            f"dictionary ({len(missing)} labels missing)"
        )
    return [vocab.index(label) for label in labels]


class FixedVerbalizer(Verbalizer):
    def __init__(self, label_tokens: Sequence[int]):
        super().__init__()
        if len(set(label_tokens)) != len(label_tokens):
            raise VerbalizerError("a fixed verbalizer needs a distinct token for every label")
        if any(t < NUM_SPECIALS for t in label_tokens):
            raise VerbalizerError("a fixed verbalizer cannot map a label to a special token")
        self.num_labels = len(label_tokens)
        columns = torch.tensor(list(range(NUM_SPECIALS)) + list(label_tokens), dtype=torch.long)
        self.register_buffer("columns", columns, persistent=False)  # the mapping is config

    def forward(self, lm_logits: torch.Tensor) -> torch.Tensor:
        return lm_logits.index_select(-1, self.columns)

    def embedding_table(self, token_embeddings: torch.Tensor) -> torch.Tensor:
        return token_embeddings.index_select(0, self.columns)

    def label_tokens(self) -> torch.Tensor:
        return self.columns[NUM_SPECIALS:]
