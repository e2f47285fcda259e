"""SUPERB slot-filling metrics on slot-tagged transcripts (``... B-<slot> value E-<slot> ...``).

Definitions (SUPERB SF, as in its reference implementation):

- slots: scanning left to right, a ``B-x`` token opens a slot that the first later ``E-x``
  token (at least one token later) closes; the tokens between are the value. Slots do not
  overlap: scanning resumes after the ``E-x``. A ``B-x`` with no ``E-x`` is ignored. In a
  hypothesis, tags inside a value are dropped from it (reference values are used as is).
- slot-type F1: per utterance, the F1 of the *set* of slot types of the hypothesis against
  the reference's (1 when both have none, 0 when only one has none), averaged over utterances.
- slot-value CER (WER): for every reference slot (in order), the hypothesis value of the same
  type with the lowest CER (WER) against it (the first such value on ties; the empty string
  when the hypothesis has no slot of that type); then the corpus CER (WER) of these pairs:
  summed character (word) edit distance over summed reference length.

One difference, on purpose: a closing tag must equal ``E-x`` exactly, where the reference
implementation's regular expression also accepts ``E-x`` as a prefix (``E-xy``).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import SpeechPromptError
from .metrics import edit_distance


def _is_tag(token: str) -> bool:
    return token.startswith(("B-", "E-")) and len(token) > 2


def strip_slot_tags(text: str) -> str:
    """The transcript without its ``B-x``/``E-x`` tags."""
    return " ".join(t for t in text.split() if not _is_tag(t))


def parse_slots(text: str, clean_values: bool = False) -> list[tuple[str, str]]:
    """``(slot type, value)`` pairs of a slot-tagged transcript, in order."""
    tokens = text.split()
    slots = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.startswith("B-") and len(token) > 2:
            closing = "E-" + token[2:]
            end = next((j for j in range(i + 2, len(tokens)) if tokens[j] == closing), None)
            if end is not None:
                value = tokens[i + 1 : end]
                if clean_values:
                    value = [t for t in value if not _is_tag(t)]
                slots.append((token[2:], " ".join(value)))
                i = end + 1
                continue
        i += 1
    return slots


def _by_type(slots: list[tuple[str, str]]) -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}
    for slot_type, value in slots:
        table.setdefault(slot_type, []).append(value)
    return table


def _check(hyps: Sequence[str], refs: Sequence[str]) -> None:
    if len(hyps) != len(refs):
        raise SpeechPromptError(f"{len(hyps)} hypotheses for {len(refs)} references")
    if not refs:
        raise SpeechPromptError("no utterances to score")


def slot_type_f1(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """Mean per-utterance F1 of the sets of slot types (SUPERB "slot_type_f1")."""
    _check(hyps, refs)
    scores = []
    for hyp, ref in zip(hyps, refs, strict=True):
        hyp_types = set(_by_type(parse_slots(hyp, clean_values=True)))
        ref_types = set(_by_type(parse_slots(ref)))
        if not hyp_types and not ref_types:
            scores.append(1.0)
        elif not hyp_types or not ref_types:
            scores.append(0.0)
        else:
            common = len(hyp_types & ref_types)
            precision, recall = common / len(hyp_types), common / len(ref_types)
            total = precision + recall
            scores.append(2 * precision * recall / total if total > 0 else 0.0)
    return sum(scores) / len(scores)


def _value_pairs(hyps, refs, unit) -> tuple[list, list]:
    pair_hyps, pair_refs = [], []
    for hyp, ref in zip(hyps, refs, strict=True):
        hyp_values = _by_type(parse_slots(hyp, clean_values=True))
        for slot_type, ref_value in parse_slots(ref):
            ref_units = unit(ref_value)
            best = ""
            best_rate = float("inf")
            for candidate in hyp_values.get(slot_type, []):
                rate = edit_distance(unit(candidate), ref_units) / max(len(ref_units), 1)
                if rate < best_rate:
                    best, best_rate = candidate, rate
            pair_hyps.append(unit(best))
            pair_refs.append(ref_units)
    return pair_hyps, pair_refs


def _slot_value_rate(hyps, refs, unit) -> float:
    _check(hyps, refs)
    pair_hyps, pair_refs = _value_pairs(hyps, refs, unit)
    total = sum(len(r) for r in pair_refs)
    if total == 0:
        raise SpeechPromptError("the references have no slot values: slot-value error undefined")
    return sum(edit_distance(h, r) for h, r in zip(pair_hyps, pair_refs, strict=True)) / total


def slot_value_cer(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """Character error rate of the slot values (SUPERB "slot_value_cer")."""
    return _slot_value_rate(hyps, refs, lambda value: value)


def slot_value_wer(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """Word error rate of the slot values (SUPERB "slot_value_wer")."""
    return _slot_value_rate(hyps, refs, lambda value: value.split(" ") if value else [])
