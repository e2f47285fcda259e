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
