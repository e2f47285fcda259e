"""Episode sampling for in-context learning: balanced, seeded, and one line for a bad pool; an
episode's tokens: each utterance cut or left-padded to the unit length, then ``<sep>`` and its
label."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from espnet2_speechprompt.data.episodes import (
    EpisodeError,
    Example,
    TaskPool,
    evaluation_episodes,
    query_episode,
    warmup_episode,
    warmup_episodes,
)
from espnet2_speechprompt.prompt.icl import EpisodeConfig, episode_tokens, fit_units
from espnet2_speechprompt.vocab import BOS, EOS


def pool(name: str = "cmd", labels: str = "abcde", per_label: int = 4) -> TaskPool:
    examples = [
        Example(f"{name}-{label}{i}", (i, ord(label)), label)
        for label in labels
        for i in range(per_label)
    ]
    return TaskPool(name, examples)


def test_warmup_demonstrations_cover_distinct_labels_and_the_query_label_is_among_them():
    rng = random.Random(0)
    for _ in range(200):
        episode = warmup_episode(pool(), 4, rng)
        labels = [d.label for d in episode.demos]
        assert len(set(labels)) == 4  # 5 labels: 4 distinct ones
        assert episode.query.label in labels
        assert episode.query.utt not in {d.utt for d in episode.demos}
        assert len({d.utt for d in episode.demos}) == 4


def test_warmup_with_fewer_labels_than_demonstrations_repeats_labels():
    episode = warmup_episode(pool(labels="ab"), 4, random.Random(1))
    assert set(Counter(d.label for d in episode.demos)) == {"a", "b"}


def test_tasks_are_drawn_uniformly_and_a_seed_gives_the_same_episodes():
    pools = [pool("x"), pool("y"), pool("z")]
    episodes = warmup_episodes(pools, 600, 4, seed=5)
    counts = Counter(e.task for e in episodes)
    assert all(160 < counts[name] < 240 for name in "xyz"), counts
    assert episodes == warmup_episodes(pools, 600, 4, seed=5)
    assert episodes != warmup_episodes(pools, 600, 4, seed=6)


def test_evaluation_demonstrations_include_the_query_label_but_never_the_query():
    demo_pool, rng = pool(), random.Random(2)
    for query in pool("cmd", per_label=6).examples[-10:]:
        episode = query_episode(demo_pool, query, 4, rng)
        assert query.label in episode.demo_labels()
        assert query.utt not in {d.utt for d in episode.demos}
    queries = pool("cmd").examples[:6]
    assert evaluation_episodes(demo_pool, queries, 4, 3) == evaluation_episodes(
        demo_pool, queries, 4, 3
    )


def test_a_query_label_missing_from_the_pool_is_one_line():
    query = Example("q1", (1, 2), "zzz")
    with pytest.raises(EpisodeError, match=r"task cmd: utterance q1 has label 'zzz'") as error:
        query_episode(pool(), query, 4, random.Random(0))
    assert "\n" not in str(error.value)


def test_a_pool_smaller_than_the_demonstrations_is_one_line():
    small = pool(labels="a", per_label=3)
    with pytest.raises(EpisodeError, match=r"task cmd: 3 examples, fewer than the 4"):
        query_episode(small, Example("q", (1,), "a"), 4, random.Random(0))
    with pytest.raises(EpisodeError, match=r"task cmd: 3 examples, fewer than the 5"):
        warmup_episodes([small], 1, 4, seed=0)


def test_utterances_are_cut_to_their_first_units_or_padded_on_the_left():
    assert fit_units([7, 8, 9], 5) == [EOS, EOS, 7, 8, 9]  # the last units next to <sep>
    assert fit_units([7, 8, 9, 10], 2) == [7, 8]
    assert fit_units([], 2, pad=1) == [1, 1]
    tokens = episode_tokens([([5], 30), ([6, 7, 8, 9], 31)], [10, 11], EpisodeConfig(2, 3))
    assert tokens == [EOS, EOS, 5, BOS, 30, 6, 7, 8, BOS, 31, EOS, 10, 11, BOS]
