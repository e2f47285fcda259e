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

``key_value_documents`` teaches the next step, what an episode asks: after an utterance that
sounds like an earlier one, predict what followed the earlier one. A document is ``pairs``
utterances of different labels of one task (keys), each followed by a short stretch of another
utterance of the task (its value), then the pairs again in another order, each key replaced
with probability ``near`` by another utterance of its label (the same word, most likely by
another voice), each value as before: a value after a near repeat of its key is predictable
only by finding the key it sounds like.
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
        by_label = _by_label(task, utterances, 1, "no utterances to make documents of")
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


def key_value_documents(
    tasks: Sequence[tuple[str, Sequence[Utterance]]],
    pairs: int,
    near: float,
    value_length: int,
    rounds: int,
    seed: int = 0,
) -> list[tuple[str, list[int]]]:
    """``(id, units)`` key-value documents (ids ``<task>-<n>``); a task makes
    ``rounds * utterances / (2 * pairs)`` of them (see the module docstring)."""
    if pairs < 2 or not 0.0 <= near <= 1.0 or value_length < 1 or rounds < 1:
        raise SpeechPromptError(
            "key-value documents need pairs >= 2, 0 <= near <= 1, value_length >= 1 and "
            f"rounds >= 1 (got pairs {pairs}, near {near}, value_length {value_length}, "
            f"rounds {rounds})"
        )
    rng = random.Random(seed)
    documents = []
    for task, utterances in tasks:
        by_label = _by_label(task, utterances, 2, "key-value documents need 2 labels or more")
        for index in range(max(1, rounds * len(utterances) // (2 * pairs))):
            labels = rng.sample(sorted(by_label), min(pairs, len(by_label)))
            keys = [rng.choice(by_label[label]) for label in labels]
            values = [_stretch(rng.choice(utterances)[0], value_length, rng) for _ in labels]
            units = [u for key, value in zip(keys, values, strict=True) for u in [*key, *value]]
            for j in rng.sample(range(len(labels)), len(labels)):
                same_label = [u for u in by_label[labels[j]] if u is not keys[j]]
                key = rng.choice(same_label) if same_label and rng.random() < near else keys[j]
                units += [*key, *values[j]]
            documents.append((f"{task}-{index}", units))
    return documents


def _by_label(
    task: str, utterances: Sequence[Utterance], at_least: int, otherwise: str
) -> dict[str, list[Sequence[int]]]:
    """The units of ``utterances`` by label; one error (``otherwise``) with fewer labels than
    ``at_least``."""
    by_label = defaultdict(list)
    for units, label in utterances:
        by_label[label].append(units)
    if len(by_label) < at_least:
        raise SpeechPromptError(f"task {task}: {otherwise}")
    return by_label


def _stretch(units: Sequence[int], length: int, rng: random.Random) -> list[int]:
    """``length`` consecutive units of ``units`` from a random start (all if shorter)."""
    start = rng.randrange(max(1, len(units) - length + 1))
    return list(units[start : start + length])
