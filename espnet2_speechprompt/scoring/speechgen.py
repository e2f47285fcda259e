"""Metrics of generated speech units that need no text (SpeechGen: continuation, inpainting).

- ``unit_bleu``: corpus BLEU of generated against true units (unit ids as words);
- ``span_error_rate``: the unit error rate inside masked spans, from an edit-distance alignment
  of the whole generated utterance with the original (errors charged to the span's units and
  to insertions within it), over the spans' summed length;
- ``auto_bleu`` (GSLM's, Lakhotia et al. 2021): the share of a sample's n-gram occurrences
  whose n-gram occurs again elsewhere in the same sample (repetition; lower is better);
- ``self_bleu``: the mean BLEU of each sample against the other samples of the same input
  (sameness across samples; lower is more diverse).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from ..errors import SpeechPromptError
from .bleu import corpus_bleu
from .metrics import check_pairs

Units = Sequence[int]


def _words(units: Units) -> str:
    return " ".join(str(int(u)) for u in units)


def unit_bleu(hyps: Sequence[Units], refs: Sequence[Units]) -> float:
    """Corpus BLEU (0-100) of unit sequences, each unit id a word."""
    check_pairs(hyps, refs)
    words = [_words(h) for h in hyps]
    return float(corpus_bleu(words, [[_words(r) for r in refs]], tokenize="none")["score"])


def alignment(hyp: Units, ref: Units) -> list[tuple[str, int]]:
    """A minimum edit-distance alignment: ``(op, ref position)`` per operation, op one of
    ``=`` (match), ``s`` (substitution), ``d`` (deletion of ``ref[pos]``) and ``i``
    (insertion before ``ref[pos]``), in order."""
    rows, cols = len(hyp) + 1, len(ref) + 1
    cost = [[0] * cols for _ in range(rows)]
    for i in range(rows):
        cost[i][0] = i
    for j in range(cols):
        cost[0][j] = j
    for i in range(1, rows):
        for j in range(1, cols):
            same = hyp[i - 1] == ref[j - 1]
            cost[i][j] = min(
                cost[i - 1][j - 1] + (not same), cost[i - 1][j] + 1, cost[i][j - 1] + 1
            )
    ops, i, j = [], rows - 1, cols - 1
    while i or j:
        if i and j and cost[i][j] == cost[i - 1][j - 1] + (hyp[i - 1] != ref[j - 1]):
            ops.append(("=" if hyp[i - 1] == ref[j - 1] else "s", j - 1))
            i, j = i - 1, j - 1
        elif j and cost[i][j] == cost[i][j - 1] + 1:
            ops.append(("d", j - 1))
            j -= 1
        else:
            ops.append(("i", j))
            i -= 1
    return ops[::-1]


def span_error_rate(
    hyps: Sequence[Units], refs: Sequence[Units], spans: Sequence[Sequence[tuple[int, int]]]
) -> float:
    """Unit error rate inside the ``spans`` (per utterance, ``[start, end)`` ranges of the
    original units): substitutions and deletions of span units and insertions inside a span
    (after its first unit, before its end), over the spans' summed length."""
    check_pairs(hyps, refs)
    if len(spans) != len(refs):
        raise SpeechPromptError(f"{len(spans)} span lists for {len(refs)} utterances")
    errors = total = 0
    for hyp, ref, ranges in zip(hyps, refs, spans, strict=True):
        for start, end in ranges:
            if not 0 <= start < end <= len(ref):
                raise SpeechPromptError(
                    f"span [{start}, {end}) is outside an utterance of {len(ref)} units"
                )
            total += end - start
        for op, pos in alignment(hyp, ref):
            inside = any(
                start <= pos < end if op != "i" else start < pos < end for start, end in ranges
            )
            errors += op != "=" and inside
    if total == 0:
        raise SpeechPromptError("no masked units: the span error rate is undefined")
    return errors / total


def _ngrams(units: Units, n: int) -> list[tuple[int, ...]]:
    return [tuple(units[i : i + n]) for i in range(len(units) - n + 1)]


def auto_bleu(samples: Sequence[Units], n: int = 2) -> float:
    """Mean over samples (with at least one n-gram) of the share of their n-gram occurrences
    that occur again elsewhere in the same sample."""
    shares = []
    for units in samples:
        grams = _ngrams(list(units), n)
        if grams:
            counts = Counter(grams)
            shares.append(sum(counts[g] > 1 for g in grams) / len(grams))
    if not shares:
        raise SpeechPromptError(f"no sample has {n} units: Auto-BLEU is undefined")
    return sum(shares) / len(shares)


def self_bleu(groups: Sequence[Sequence[Units]]) -> float:
    """Mean sentence BLEU (0-100) of each sample against the other samples of its input, over
    inputs with at least two samples."""
    import sacrebleu

    metric = sacrebleu.metrics.BLEU(tokenize="none", effective_order=True)
    scores = []
    for samples in groups:
        words = [_words(s) for s in samples]
        for k, hyp in enumerate(words):
            others = words[:k] + words[k + 1 :]
            if others:
                scores.append(metric.sentence_score(hyp, others).score)
    if not scores:
        raise SpeechPromptError("Self-BLEU needs at least two samples of one input")
    return float(sum(scores) / len(scores))
