"""Pre-training documents for a unit LM that is to read episodes of several utterances.

An LM pre-trained on single words never sees a position past one word's length, whereas an
in-context episode (four demonstrations and a query) is some 260 tokens long; and it reads an
episode only if it has learnt to use its context, to predict what recurs from where it
occurred before. A document here is ``per_document`` utterances of one task (units only,
concatenated): ``distinct`` different utterances, each at least once, the other slots drawn
again from them (a word said again, as people repeat themselves), in random order. Each task's
utterances are shuffled ``rounds`` times and dealt out ``distinct`` to a document. With
``distinct == per_document`` nothing repeats. Seeded: the same inputs give the same documents.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from ..errors import SpeechPromptError


def unit_documents(
    tasks: Sequence[tuple[str, Sequence[Sequence[int]]]],
    per_document: int,
    distinct: int,
    rounds: int,
    seed: int = 0,
) -> list[tuple[str, list[int]]]:
    """``(id, units)`` documents of the ``(task, [utterance units, ...])`` pairs: ids
    ``<task>-r<round>-<n>``; a task's last document may be shorter (fewer utterances left)."""
    if not 1 <= distinct <= per_document or rounds < 1:
        raise SpeechPromptError(
            "documents need 1 <= distinct <= per_document and rounds >= 1 (got distinct "
            f"{distinct}, per_document {per_document}, rounds {rounds})"
        )
    rng = random.Random(seed)
    documents = []
    for task, utterances in tasks:
        if not utterances:
            raise SpeechPromptError(f"task {task}: no utterances to make documents of")
        for round_index in range(rounds):
            order = rng.sample(list(utterances), len(utterances))
            for start in range(0, len(order), distinct):
                group = order[start : start + distinct]
                size = len(group) * per_document // distinct  # a short last group: fewer slots
                slots = group + [rng.choice(group) for _ in range(size - len(group))]
                rng.shuffle(slots)
                units = [unit for utterance in slots for unit in utterance]
                documents.append((f"{task}-r{round_index}-{start // distinct}", units))
    return documents
