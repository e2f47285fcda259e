"""Pre-training documents for a unit LM that is to read episodes of several utterances.

An LM pre-trained on single words never sees a position past one word's length, whereas an
in-context episode (four demonstrations and a query) is some 260 tokens long; and it reads an
episode only if it has learnt to use its context: to predict what recurs from where it
occurred before. A document here is ``per_document`` utterances of one task (units only,
concatenated): ``distinct`` different utterances whose labels are drawn among ``labels``
labels of the task (so with ``labels < distinct`` some share a label: the same word by another
voice, a near repeat), each at least once, the other slots drawn again from them (exact
repeats), in random order. A task makes ``rounds * utterances / per_document`` documents, so
an utterance fills about ``rounds`` slots. ``per_document == distinct`` and ``labels`` at least
the number of a task's labels: no repeats. Seeded: the same inputs give the same documents.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

from ..errors import SpeechPromptError

Utterance = tuple[Sequence[int], str]  # (units, label)


def unit_documents(
    tasks: Sequence[tuple[str, Sequence[Utterance]]],
    per_document: int,
    distinct: int,
    labels: int,
    rounds: int,
    seed: int = 0,
) -> list[tuple[str, list[int]]]:
    """``(id, units)`` documents (ids ``<task>-<n>``) of the ``(task, [(units, label), ...])``
    pairs."""
    if not 1 <= distinct <= per_document or labels < 1 or rounds < 1:
        raise SpeechPromptError(
            "documents need 1 <= distinct <= per_document, labels >= 1 and rounds >= 1 (got "
            f"per_document {per_document}, distinct {distinct}, labels {labels}, rounds {rounds})"
        )
    rng = random.Random(seed)
    documents = []
    for task, utterances in tasks:
        by_label = defaultdict(list)
        for units, label in utterances:
            by_label[label].append(units)
        if not by_label:
            raise SpeechPromptError(f"task {task}: no utterances to make documents of")
        names = sorted(by_label)
        for index in range(max(1, rounds * len(utterances) // per_document)):
            chosen = rng.sample(names, min(labels, len(names)))
            group = _draw_distinct(by_label, chosen, distinct, rng)
            slots = group + [rng.choice(group) for _ in range(per_document - distinct)]
            rng.shuffle(slots)
            documents.append((f"{task}-{index}", [unit for units in slots for unit in units]))
    return documents


def _draw_distinct(by_label: dict, chosen: list[str], distinct: int, rng: random.Random) -> list:
    """``distinct`` different utterances (fewer if the labels hold fewer), labels drawn among
    ``chosen``."""
    left = {label: list(range(len(by_label[label]))) for label in chosen}
    group = []
    while len(group) < distinct and any(left.values()):
        label = rng.choice([name for name in chosen if left[name]])
        position = left[label].pop(rng.randrange(len(left[label])))
        group.append(by_label[label][position])
    return group


def paired_documents(
    tasks: Sequence[tuple[str, Sequence[Utterance]]],
    per_document: int,
    labels: int,
    recordings: int,
    value_units: int,
    rounds: int,
    seed: int = 0,
) -> list[tuple[str, list[int]]]:
    """``(id, units)`` documents of ``per_document`` pairs: an utterance of one of ``labels``
    labels of the task (one of ``recordings`` utterances drawn per label for the document),
    then the value of its label in this document, ``value_units`` units from the middle of
    another utterance of the task, the same snippet each time the label comes back. Each label
    comes at least once, the slots after drawn among them. A label that comes back is the same
    recording (an exact repeat) or another (the word by another voice): the LM learns to copy
    from its context and to recall what followed a word it hears again, the skill a
    demonstration's label needs."""
    if min(per_document, labels, recordings, value_units, rounds) < 1:
        raise SpeechPromptError(
            "paired documents need per_document, labels, recordings, value_units and rounds "
            f">= 1 (got {per_document}, {labels}, {recordings}, {value_units}, {rounds})"
        )
    rng = random.Random(seed)
    documents = []
    for task, utterances in tasks:
        by_label = defaultdict(list)
        for units, label in utterances:
            by_label[label].append(units)
        if not by_label:
            raise SpeechPromptError(f"task {task}: no utterances to make documents of")
        names = sorted(by_label)
        for index in range(max(1, rounds * len(utterances) // per_document)):
            chosen = rng.sample(names, min(labels, len(names), per_document))
            keys = {
                label: rng.sample(by_label[label], min(recordings, len(by_label[label])))
                for label in chosen
            }
            values = {label: _snippet(rng.choice(utterances)[0], value_units) for label in chosen}
            slots = chosen + [rng.choice(chosen) for _ in range(per_document - len(chosen))]
            units = []
            for label in slots:
                units += list(rng.choice(keys[label])) + values[label]
            documents.append((f"{task}-{index}", units))
    return documents


def _snippet(units: Sequence[int], length: int) -> list[int]:
    """``length`` units from the middle of ``units`` (all of them if it is shorter)."""
    start = max(0, (len(units) - length) // 2)
    return list(units[start : start + length])
