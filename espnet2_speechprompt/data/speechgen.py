"""Speech continuation and inpainting pairs (SpeechGen) from any units file.

- continuation: the source is the first ``round(ratio * N)`` units of an utterance of ``N``
  units, the target the rest;
- inpainting: ``num_spans`` non-overlapping spans of ``round(span_seconds * units_per_second)``
  units each are masked: every masked unit becomes ``MASK_UNIT`` (-1; the units preprocessor
  maps it to the dictionary's ``<mask>`` or the prompts' trainable mask vector), so the gap's
  length is known;
  the target is the whole utterance (``target: whole``, default) or the spans' units one after
  another (``target: span``). Spans are drawn from a generator seeded with the seed and the
  utterance id: an utterance gets the same spans in any file order.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..errors import SpeechPromptError
from ..vocab import MASK_UNIT

TARGETS = ("whole", "span")


class PairError(SpeechPromptError):
    """Settings or an utterance that cannot give a pair."""


@dataclass(frozen=True)
class InpaintingConfig:
    span_seconds: float = 0.5
    num_spans: int = 1
    units_per_second: float = 50.0
    target: str = "whole"
    seed: int = 0

    def __post_init__(self):
        if self.span_seconds <= 0 or self.units_per_second <= 0 or self.num_spans < 1:
            raise PairError("inpainting needs span_seconds > 0, units_per_second > 0 and "
                            "num_spans >= 1")  # fmt: skip
        if self.target not in TARGETS:
            raise PairError(f"inpainting target {self.target!r}: use one of {TARGETS}")

    @property
    def span_units(self) -> int:
        return max(1, round(self.span_seconds * self.units_per_second))


def check_ratio(ratio: float) -> float:
    if not 0 < ratio < 1:
        raise PairError(f"the continuation ratio must be in (0, 1), not {ratio}")
    return ratio


def continuation_pair(utt: str, units: list[int], ratio: float) -> tuple[list[int], list[int]]:
    """(prefix, continuation) of an utterance."""
    cut = round(check_ratio(ratio) * len(units))
    if not 0 < cut < len(units):
        raise PairError(
            f"utterance {utt}: {len(units)} units cannot be cut at {ratio} (a prefix and a "
            "continuation of at least one unit each)"
        )
    return units[:cut], units[cut:]


def span_starts(utt: str, length: int, config: InpaintingConfig) -> list[int]:
    """Sorted starts of ``config.num_spans`` non-overlapping spans in ``length`` units."""
    width, count = config.span_units, config.num_spans
    free = length - width * count
    if free < 0:
        raise PairError(
            f"utterance {utt}: {count} span(s) of {width} units ({config.span_seconds} s at "
            f"{config.units_per_second} units/s) are longer than its {length} units: use "
            "shorter spans or fewer"
        )
    rng = random.Random(f"{config.seed}:{utt}")
    gaps = sorted(rng.randint(0, free) for _ in range(count))  # units left free before each
    return [gap + i * width for i, gap in enumerate(gaps)]


def inpainting_pair(
    utt: str, units: list[int], config: InpaintingConfig
) -> tuple[list[int], list[int], list[tuple[int, int]]]:
    """(source units with ``MASK_UNIT``, target units, masked ``[start, end)`` spans)."""
    spans = [(s, s + config.span_units) for s in span_starts(utt, len(units), config)]
    source = list(units)
    for start, end in spans:
        source[start:end] = [MASK_UNIT] * (end - start)
    if config.target == "whole":
        return source, list(units), spans
    return source, [u for start, end in spans for u in units[start:end]], spans
