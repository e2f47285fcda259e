"""Accuracy and Levenshtein error rates (pure Python).

Error rates are corpus-level: the summed edit distance over the summed reference length
(as jiwer and sclite compute them), so long utterances weigh more. An empty reference counts
its hypothesis's length as insertions and adds nothing to the denominator; a corpus whose
references are all empty raises (the rate is undefined).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from ..errors import SpeechPromptError


def check_pairs(hyps: Sequence, refs: Sequence) -> None:
    if len(hyps) != len(refs):
        raise SpeechPromptError(f"{len(hyps)} hypotheses for {len(refs)} references")
    if not refs:
        raise SpeechPromptError("no utterances to score")


def accuracy(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """Fraction of utterances whose whole token sequence matches (an FSC intent is correct only
    when action, object and location all are); whitespace differences do not count."""
    check_pairs(hyps, refs)
    return sum(h.split() == r.split() for h, r in zip(hyps, refs, strict=True)) / len(refs)


def edit_distance(hyp: Sequence[Hashable], ref: Sequence[Hashable]) -> int:
    """Levenshtein distance (substitution, insertion, deletion each cost 1)."""
    if len(hyp) < len(ref):
        hyp, ref = ref, hyp  # the row is the shorter one
    previous = list(range(len(ref) + 1))
    for i, h in enumerate(hyp, 1):
        current = [i]
        for j, r in enumerate(ref, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (h != r)))
        previous = current
    return previous[-1]


def error_rate(hyps: Sequence[Sequence[Hashable]], refs: Sequence[Sequence[Hashable]]) -> float:
    """Summed edit distance over summed reference length."""
    check_pairs(hyps, refs)
    total = sum(len(r) for r in refs)
    if total == 0:
        raise SpeechPromptError("every reference is empty: the error rate is undefined")
    return sum(edit_distance(h, r) for h, r in zip(hyps, refs, strict=True)) / total


def wer(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """Word error rate (words split on whitespace)."""
    return error_rate([h.split() for h in hyps], [r.split() for r in refs])


def cer(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """Character error rate over the text with runs of whitespace as one space (spaces count)."""
    return error_rate([" ".join(h.split()) for h in hyps], [" ".join(r.split()) for r in refs])
