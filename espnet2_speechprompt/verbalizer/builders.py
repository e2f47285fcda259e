"""Verbalizer settings as they appear in a config (``verbalizer_conf``), resolved to modules.

Rule-based mappings are resolved once (at training time) into unit *symbols* and written back
into the config, so a saved ``config.yaml`` rebuilds exactly the same verbalizer anywhere.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from ..options import check_keys, keyword_names
from ..vocab import Dictionary
from .base import Verbalizer
from .fixed import (
    FixedVerbalizer,
    VerbalizerError,
    frequency_mapping,
    identity_mapping,
    random_mapping,
)
from .learnable import LearnableVerbalizer

MODES = ("random", "frequency", "identity")


class TrainStatistics:
    """Train-set label counts (by label index) and source-unit counts (by backbone token)."""

    def __init__(self, label_counts: Sequence[int], unit_counts: dict[int, int]):
        self.label_counts, self.unit_counts = list(label_counts), dict(unit_counts)

    @classmethod
    def from_sequences(
        cls, labels: Sequence[Sequence[int]], units: Sequence[Sequence[int]], num_labels: int
    ) -> TrainStatistics:
        """labels: label indices per utterance; units: backbone tokens per utterance."""
        label_counter = Counter(c for row in labels for c in row)
        unit_counter = Counter(t for row in units for t in row)
        return cls([label_counter[c] for c in range(num_labels)], dict(unit_counter))


def resolve_mapping(
    mode: str,
    labels: Sequence[str],
    vocab: Dictionary,
    seed: int = 0,
    stats: TrainStatistics | None = None,
) -> list[int]:
    """Backbone token for each label by rule."""
    if mode == "random":
        return random_mapping(len(labels), vocab.unit_indices(), seed)
    if mode == "identity":
        return identity_mapping(labels, vocab)
    if mode == "frequency":
        if stats is None:
            raise VerbalizerError(
                "the frequency verbalizer needs training data (units and label) to count "
                "frequencies, or an explicit verbalizer_conf.label_units list"
            )
        return frequency_mapping(stats.label_counts, stats.unit_counts)
    raise VerbalizerError(f"verbalizer mode must be one of {MODES}, not {mode!r}")


class FixedVerbalizerConfig:
    """``--verbalizer fixed``: label -> one unit, by ``mode`` (random, frequency, identity)."""

    def __init__(
        self, mode: str = "frequency", seed: int = 0, label_units: list[str] | None = None
    ):
        self.mode, self.seed, self.label_units = mode, seed, label_units

    @classmethod
    def from_conf(cls, conf: dict | None, option: str = "verbalizer_conf"):
        """From a ``verbalizer_conf`` mapping; an unknown key is one error listing the valid
        ones (those of this verbalizer)."""
        return cls(**check_keys(option, conf, keyword_names(cls)))

    def resolve(self, labels, vocab, stats=None) -> list[int]:
        if self.label_units is None:
            tokens = resolve_mapping(self.mode, labels, vocab, self.seed, stats)
            self.label_units = [vocab.symbol(t) for t in tokens]
        if len(self.label_units) != len(labels):
            raise VerbalizerError(
                f"verbalizer_conf.label_units has {len(self.label_units)} entries for "
                f"{len(labels)} labels"
            )
        return vocab.encode(self.label_units, "verbalizer_conf.label_units")

    def build(self, labels, vocab, stats=None) -> Verbalizer:
        return FixedVerbalizer(self.resolve(labels, vocab, stats))

    def conf(self) -> dict:
        return {"mode": self.mode, "seed": self.seed, "label_units": self.label_units}


class LearnableVerbalizerConfig(FixedVerbalizerConfig):
    """``--verbalizer learnable``: a linear map, initialised from a rule-based mapping
    (``init: fixed``, by ``mode``) or at random (``init: random``)."""

    def __init__(
        self,
        mode: str = "random",
        seed: int = 0,
        label_units: list[str] | None = None,
        init: str = "fixed",
        temperature: float = 0.1,
        feedback: str = "soft",
    ):
        super().__init__(mode, seed, label_units)
        self.init, self.temperature, self.feedback = init, temperature, feedback

    def build(self, labels, vocab, stats=None) -> Verbalizer:
        init_tokens = self.resolve(labels, vocab, stats) if self.init == "fixed" else None
        return LearnableVerbalizer(
            len(vocab), len(labels), init_tokens, self.temperature, self.feedback
        )

    def conf(self) -> dict:
        return {
            **super().conf(),
            "init": self.init,
            "temperature": self.temperature,
            "feedback": self.feedback,
        }


# ``--verbalizer <name>``: the settings class of each verbalizer
VERBALIZERS = {"fixed": FixedVerbalizerConfig, "learnable": LearnableVerbalizerConfig}
