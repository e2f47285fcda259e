"""Episodes for in-context learning: ``n`` demonstrations and one query from one task.

- warm-up (training tasks): a task is drawn uniformly; the demonstrations cover
  ``min(n, number of labels)`` distinct labels drawn uniformly, each label at least once, the
  rest drawn from those labels; the query is another utterance whose label is one of theirs;
- evaluation (unseen tasks): for each query, one demonstration with the query's label and
  ``n - 1`` more drawn from the task's demonstration pool.
Demonstrations come in random order. Everything is drawn from a seeded ``random.Random``.
A task's pool is read from a Kaldi-style data directory: ``units`` (k-means ids) and ``label``.
"""

from __future__ import annotations

import os
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SpeechPromptError
from ..kaldi_text import parse_ints, read_entries


class EpisodeError(SpeechPromptError):
    """A pool that cannot give the episodes asked for; the message names the task."""


@dataclass(frozen=True)
class Example:
    utt: str
    units: tuple[int, ...]  # k-means unit ids (or backbone tokens: the sampler never reads them)
    label: str


@dataclass
class TaskPool:
    """The labelled utterances of one task (a demonstration pool or a training set)."""

    name: str
    examples: list[Example]
    by_label: dict[str, list[Example]] = field(init=False)

    def __post_init__(self):
        self.by_label = defaultdict(list)
        for example in self.examples:
            self.by_label[example.label].append(example)
        self.by_label = dict(self.by_label)

    def require(self, num_demos: int) -> None:
        """One error when the pool cannot hold ``num_demos`` demonstrations (+ a query)."""
        if len(self.examples) < num_demos:
            raise EpisodeError(
                f"task {self.name}: {len(self.examples)} examples, fewer than the "
                f"{num_demos} demonstrations an episode needs; give a larger pool or fewer "
                "demonstrations"
            )


@dataclass(frozen=True)
class Episode:
    task: str
    demos: tuple[Example, ...]
    query: Example

    def demo_labels(self) -> list[str]:
        """The demonstrations' distinct labels, in order of first appearance."""
        return list(dict.fromkeys(d.label for d in self.demos))


def warmup_episode(pool: TaskPool, num_demos: int, rng: random.Random) -> Episode:
    """A training episode: balanced demonstrations and a query labelled like one of them."""
    pool.require(num_demos + 1)
    labels = sorted(pool.by_label)
    chosen = rng.sample(labels, min(num_demos, len(labels)))
    wanted = chosen + [rng.choice(chosen) for _ in range(num_demos - len(chosen))]
    demos = [_draw(pool, label, set(), rng) for label in wanted]
    used = {d.utt for d in demos}
    candidates = [e for label in chosen for e in pool.by_label[label] if e.utt not in used]
    if not candidates:
        raise EpisodeError(
            f"task {pool.name}: no utterance left for a query after {num_demos} demonstrations"
        )
    rng.shuffle(demos)
    return Episode(pool.name, tuple(demos), rng.choice(candidates))


def query_episode(pool: TaskPool, query: Example, num_demos: int, rng: random.Random) -> Episode:
    """An evaluation episode for ``query``: the pool gives one demonstration with the query's
    label and ``num_demos - 1`` others (never the query itself)."""
    pool.require(num_demos)
    if query.label not in pool.by_label:
        raise EpisodeError(
            f"task {pool.name}: utterance {query.utt} has label {query.label!r}, which no "
            f"demonstration in the pool has ({', '.join(sorted(pool.by_label))}); add examples "
            "of it to the pool"
        )
    first = _draw(pool, query.label, {query.utt}, rng)
    rest = [e for e in pool.examples if e.utt not in (query.utt, first.utt)]
    if len(rest) < num_demos - 1:
        raise EpisodeError(
            f"task {pool.name}: the pool has too few examples besides {query.utt} for "
            f"{num_demos} demonstrations"
        )
    demos = [first, *rng.sample(rest, num_demos - 1)]
    rng.shuffle(demos)
    return Episode(pool.name, tuple(demos), query)


def warmup_episodes(
    pools: Sequence[TaskPool], count: int, num_demos: int, seed: int
) -> list[Episode]:
    """``count`` warm-up episodes, tasks drawn uniformly (seeded)."""
    rng = random.Random(seed)
    for pool in pools:
        pool.require(num_demos + 1)
    return [warmup_episode(rng.choice(pools), num_demos, rng) for _ in range(count)]


def evaluation_episodes(
    pool: TaskPool, queries: Sequence[Example], num_demos: int, seed: int
) -> list[Episode]:
    """One evaluation episode per query (seeded)."""
    rng = random.Random(seed)
    return [query_episode(pool, query, num_demos, rng) for query in queries]


def _draw(pool: TaskPool, label: str, exclude: set[str], rng: random.Random) -> Example:
    options = [e for e in pool.by_label[label] if e.utt not in exclude]
    if not options:
        raise EpisodeError(
            f"task {pool.name}: no example of label {label!r} to use as a demonstration"
        )
    return rng.choice(options)


def read_task_pool(directory: str | os.PathLike, name: str | None = None) -> TaskPool:
    """The examples of the data directory ``directory`` (``units``: k-means ids, ``label``: one
    label per utterance), in the order of ``units``; named ``name`` (default: the directory)."""
    directory = Path(directory)
    name = name or os.fspath(directory)
    if not directory.is_dir():
        raise EpisodeError(
            f"task {name}: no such data directory; give a directory holding units and label"
        )
    for file in ("units", "label"):
        if not (directory / file).is_file():
            raise EpisodeError(f"task {name}: no {file} file in {directory}")
    labels = {e.key: e for e in read_entries(directory / "label", "label file")}
    examples = []
    for entry in read_entries(directory / "units", "units file"):
        label = labels.pop(entry.key, None)
        if label is None:
            raise EpisodeError(
                f"{entry.where}: utterance {entry.key} has no label in {directory / 'label'}"
            )
        if not label.value:
            raise EpisodeError(f"{label.where}: utterance {entry.key} has an empty label")
        units = parse_ints(entry)
        if not units:
            raise EpisodeError(f"{entry.where}: utterance {entry.key} has no units")
        examples.append(Example(entry.key, tuple(units), label.value))
    if labels:
        extra = next(iter(labels.values()))
        raise EpisodeError(f"{extra.where}: utterance {extra.key} has no units in {directory}")
    return TaskPool(name, examples)
