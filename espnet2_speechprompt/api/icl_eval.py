"""In-context learning on one task, over several seeds, with the baselines on the same episodes.

For each seed: one evaluation episode per test query (n demonstrations drawn from the task's
pool, the query's label among them), a label mapping per episode onto the backbone's unit
tokens (drawn from the seed), all episodes run in batches. Per seed:

- ``with_warmup`` / ``without_warmup`` (the same frozen backbone, no prompts, ``<s>`` as the
  separator): ``accuracy`` (the demonstration label of highest log-probability is the query's),
  ``free_accuracy`` (the unconstrained prediction, argmax over every unit token, is the query's
  label token) and ``guessing_rate`` (share of unconstrained predictions that are one of the
  episode's demonstration label tokens);
- ``random``: ``expected_accuracy`` (mean of 1/K, K the episode's distinct demonstration
  labels) and ``accuracy`` of a seeded uniform draw among them;
- ``svc``: ``accuracy`` of an SVC trained on each episode's demonstrations;
- ``prompt_tuning``: ``accuracy`` of classification prompts trained on a few pool examples.

The summary gives the mean and sample standard deviation of every number over the seeds.
"""

from __future__ import annotations

import os
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..baselines.icl import (
    SVC_FEATURES,
    FewShotTuningConfig,
    classify_all,
    few_shot_examples,
    svc_predict,
    tune_few_shot,
)
from ..data.episodes import Episode, EpisodeError, Example, TaskPool, evaluation_episodes
from ..kaldi_text import read_table
from ..prompt.icl import EpisodeConfig, PromptedICL, episode_tokens, label_mapping
from ..prompt.prompts import PromptConfig
from ..units.datadir import read_units
from .inputs import SpeechPromptDataError
from .preprocess import UnitEncoder

SEEDS = (0, 1, 2, 3, 4)
NO_PROMPTS = PromptConfig(input_length=0, deep_length=0, separator=False, dropout=0.0)


@dataclass
class ICLEvalConfig:
    seeds: Sequence[int] = SEEDS
    batch_size: int = 16
    svc: bool = True
    prompt_tuning: FewShotTuningConfig | None = field(default_factory=FewShotTuningConfig)


@dataclass(frozen=True)
class PreparedEpisode:
    """An evaluation episode as the model reads it: its distinct demonstration labels (in
    order of first appearance), their backbone tokens under the episode's mapping, and the
    episode's backbone tokens."""

    episode: Episode
    labels: tuple[str, ...]
    label_tokens: tuple[int, ...]
    tokens: tuple[int, ...]

    @property
    def answer(self) -> int:
        return self.labels.index(self.episode.query.label)


@dataclass
class Predictions:
    """One model on a list of episodes: best candidate index, candidate log-probabilities,
    unconstrained token."""

    best: list[int] = field(default_factory=list)
    scores: list[list[float]] = field(default_factory=list)
    free: list[int] = field(default_factory=list)


@dataclass
class SeedResult:
    seed: int
    metrics: dict[str, dict[str, float]]
    episodes: list[PreparedEpisode]
    warm: Predictions
    cold: Predictions


def read_task_dir(directory: str | os.PathLike, task: str) -> list[Example]:
    """The labelled utterances of a data dir holding ``units`` (k-means ids) and ``label``."""
    path = Path(directory)
    missing = [name for name in ("units", "label") if not (path / name).is_file()]
    if missing:
        why = "no such directory" if not path.is_dir() else f"no {' or '.join(missing)} file"
        raise SpeechPromptDataError(
            f"task {task}: {path} is not a task data dir ({why}); give a dir holding the "
            "task's units and label files"
        )
    labels = read_table(path / "label", "label file")
    examples = []
    for utt, units in read_units(path / "units"):
        if utt not in labels:
            raise SpeechPromptDataError(
                f"task {task}: {path / 'label'}: utterance {utt} has no label"
            )
        examples.append(Example(utt, tuple(units), labels[utt]))
    if not examples:
        raise SpeechPromptDataError(f"task {task}: {path / 'units'} holds no utterances")
    return examples


def check_queries(pool: TaskPool, queries: Sequence[Example]) -> None:
    """One error for the first test label no demonstration in the pool has."""
    for query in queries:
        if query.label not in pool.by_label:
            raise EpisodeError(
                f"task {pool.name}: test utterance {query.utt} has label {query.label!r}, which "
                f"no utterance of the demonstration pool has ({', '.join(sorted(pool.by_label))})"
                "; add examples of it to the pool"
            )


class TokenCache:
    """k-means units -> backbone tokens, once per utterance."""

    def __init__(self, encoder: UnitEncoder):
        self.encoder, self.cache = encoder, {}

    def __call__(self, example: Example) -> list[int]:
        if example.utt not in self.cache:
            self.cache[example.utt] = self.encoder.encode(example.units, example.utt).tolist()
        return self.cache[example.utt]


def without_warmup(model: PromptedICL) -> PromptedICL:
    """The same frozen backbone reading episodes with no prompts (``<s>`` embedding as the
    separator): no trainable parameters."""
    device = next(model.backbone.parameters()).device
    cold = PromptedICL(model.backbone, model.label_tokens.tolist(), NO_PROMPTS, model.sep_index)
    return cold.to(device).eval()


def seeded(seed: int, purpose: str) -> random.Random:
    """A random generator for one purpose of one seed (independent of the others)."""
    return random.Random(f"{seed}/{purpose}")


def prepare_episodes(
    pool: TaskPool,
    queries: Sequence[Example],
    config: EpisodeConfig,
    tokens: TokenCache,
    unit_tokens: Sequence[int],
    seed: int,
    sep: int,
) -> list[PreparedEpisode]:
    """One episode per query (``evaluation_episodes``), each with its own label mapping."""
    rng = seeded(seed, "label-mapping")
    prepared = []
    for episode in evaluation_episodes(pool, queries, config.num_demos, seed):
        labels = episode.demo_labels()
        mapping = label_mapping(labels, unit_tokens, rng)
        demos = [(tokens(d), mapping[d.label]) for d in episode.demos]
        row = episode_tokens(demos, tokens(episode.query), config, sep)
        prepared.append(
            PreparedEpisode(episode, tuple(labels), tuple(mapping[x] for x in labels), tuple(row))
        )
    return prepared


def predict_episodes(
    model: PromptedICL, prepared: Sequence[PreparedEpisode], batch_size: int
) -> Predictions:
    """``model.predict`` over the episodes in batches; candidate lists of different lengths are
    padded (with the first candidate) and the padding masked out."""
    device = next(model.backbone.parameters()).device
    out = Predictions()
    for start in range(0, len(prepared), batch_size):
        chunk = prepared[start : start + batch_size]
        width = max(len(p.label_tokens) for p in chunk)
        padded = [list(p.label_tokens) + [p.label_tokens[0]] * (width - len(p.label_tokens))
                  for p in chunk]  # fmt: skip
        real = torch.tensor([[i < len(p.label_tokens) for i in range(width)] for p in chunk])
        rows = torch.tensor([p.tokens for p in chunk], device=device)
        _, scores, free = model.predict(rows, torch.tensor(padded, device=device))
        scores = scores.float().cpu().masked_fill(~real, float("-inf"))
        out.best += scores.argmax(-1).tolist()
        rows_scores = zip(scores.tolist(), chunk, strict=True)
        out.scores += [row[: len(p.label_tokens)] for row, p in rows_scores]
        out.free += free.cpu().tolist()
    return out


def model_metrics(prepared: Sequence[PreparedEpisode], predictions: Predictions) -> dict:
    """Accuracy (constrained), accuracy of the unconstrained prediction and guessing rate."""
    total = len(prepared)
    correct = sum(b == p.answer for b, p in zip(predictions.best, prepared, strict=True))
    free_correct = sum(
        f == p.label_tokens[p.answer] for f, p in zip(predictions.free, prepared, strict=True)
    )
    guesses = sum(f in p.label_tokens for f, p in zip(predictions.free, prepared, strict=True))
    return {
        "accuracy": correct / total,
        "free_accuracy": free_correct / total,
        "guessing_rate": guesses / total,
    }


def random_metrics(prepared: Sequence[PreparedEpisode], seed: int) -> dict:
    """Random choice among the demonstration labels: expected and one seeded draw."""
    rng = seeded(seed, "random-choice")
    drawn = sum(rng.randrange(len(p.labels)) == p.answer for p in prepared)
    return {
        "expected_accuracy": float(np.mean([1.0 / len(p.labels) for p in prepared])),
        "accuracy": drawn / len(prepared),
    }


def svc_metrics(prepared: Sequence[PreparedEpisode]) -> dict:
    correct = sum(svc_predict(p.episode) == p.episode.query.label for p in prepared)
    return {"accuracy": correct / len(prepared)}


def prompt_tuning_metrics(
    model: PromptedICL,
    pool: TaskPool,
    queries: Sequence[Example],
    context: tuple[EpisodeConfig, TokenCache],
    tuning: FewShotTuningConfig,
    seed: int,
    batch_size: int,
) -> dict:
    """Prompts + learnable verbalizer trained on a few pool examples, scored on the queries
    over all the pool's labels."""
    config, tokens = context
    labels = sorted(pool.by_label)
    index = {label: i for i, label in enumerate(labels)}
    train = few_shot_examples(pool, tuning.shots_per_label, seeded(seed, "prompt-tuning"))
    rows = [tokens(e)[: config.unit_length] for e in train]
    pairs = [(row, index[e.label]) for row, e in zip(rows, train, strict=True)]
    unit_tokens = model.label_tokens.tolist()
    tuned = tune_few_shot(model.backbone, unit_tokens, pairs, len(labels), tuning, seed)
    test_rows = [tokens(q)[: config.unit_length] for q in queries]
    best = classify_all(tuned, test_rows, len(labels), batch_size)
    correct = sum(labels[b] == q.label for b, q in zip(best, queries, strict=True))
    return {"accuracy": correct / len(queries), "train_examples": len(train)}


def evaluate_seed(
    models: tuple[PromptedICL, PromptedICL],
    pool: TaskPool,
    queries: Sequence[Example],
    context: tuple[EpisodeConfig, TokenCache],
    config: ICLEvalConfig,
    seed: int,
) -> SeedResult:
    """Every number of one seed, the baselines on the same episodes."""
    warm, cold = models
    episode_config, tokens = context
    unit_tokens = warm.label_tokens.tolist()
    prepared = prepare_episodes(
        pool, queries, episode_config, tokens, unit_tokens, seed, warm.sep_index
    )
    warm_out = predict_episodes(warm, prepared, config.batch_size)
    cold_out = predict_episodes(cold, prepared, config.batch_size)
    metrics = {
        "with_warmup": model_metrics(prepared, warm_out),
        "without_warmup": model_metrics(prepared, cold_out),
        "random": random_metrics(prepared, seed),
    }
    if config.svc:
        metrics["svc"] = svc_metrics(prepared)
    if config.prompt_tuning is not None:
        metrics["prompt_tuning"] = prompt_tuning_metrics(
            warm, pool, queries, context, config.prompt_tuning, seed, config.batch_size
        )
    return SeedResult(seed, metrics, prepared, warm_out, cold_out)


def summarize(per_seed: Sequence[dict[str, dict[str, float]]]) -> dict:
    """Mean and sample standard deviation (0 for one seed) of every number over the seeds."""
    summary = {}
    for method, numbers in per_seed[0].items():
        summary[method] = {}
        for name in numbers:
            values = [float(seed_metrics[method][name]) for seed_metrics in per_seed]
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            summary[method][name] = {"mean": statistics.fmean(values), "std": std}
    return summary


def evaluate_task(
    model: PromptedICL,
    episode_config: EpisodeConfig,
    encoder: UnitEncoder,
    pool: TaskPool,
    queries: Sequence[Example],
    config: ICLEvalConfig | None = None,
) -> list[SeedResult]:
    """ICL with warm-up (``model``), without it and the baselines, for every seed."""
    config = config or ICLEvalConfig()
    pool.require(episode_config.num_demos)
    model.eval()
    models = (model, without_warmup(model))
    context = (episode_config, TokenCache(encoder))
    return [evaluate_seed(models, pool, queries, context, config, s) for s in config.seeds]


def task_result(
    task: str,
    split: str,
    results: Sequence[SeedResult],
    config: ICLEvalConfig,
    episode_config: EpisodeConfig,
) -> dict:
    """The ``result.json`` of one task (see the module docstring for the numbers)."""
    methods = {
        "with_warmup": "warmed-up prompts, scoring the demonstration labels",
        "without_warmup": "the same frozen backbone, no prompts, <s> as the separator",
        "random": "uniform choice among the episode's K distinct demonstration labels: "
        "expected_accuracy = mean of 1/K over episodes, accuracy = one seeded draw",
    }
    if config.svc:
        methods["svc"] = SVC_FEATURES
    if config.prompt_tuning is not None:
        methods["prompt_tuning"] = config.prompt_tuning.describe()
    return {
        "task": task,
        "split": split,
        "num_queries": len(results[0].episodes),
        "num_demos": episode_config.num_demos,
        "unit_length": episode_config.unit_length,
        "seeds": [r.seed for r in results],
        "methods": methods,
        "per_seed": {str(r.seed): r.metrics for r in results},
        "summary": summarize([r.metrics for r in results]),
    }
