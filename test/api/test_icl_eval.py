"""Evaluating in-context learning on an unseen task: batched episodes, seeded numbers, the
guessing rate and the baselines (random choice, no warm-up, SVC, few-shot prompt tuning)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from espnet2_speechprompt.api.icl_eval import (
    ICLEvalConfig,
    TokenCache,
    check_queries,
    evaluate_task,
    model_metrics,
    predict_episodes,
    prepare_episodes,
    random_metrics,
    read_task_dir,
    task_result,
    without_warmup,
)
from espnet2_speechprompt.api.inputs import SpeechPromptDataError
from espnet2_speechprompt.baselines.icl import FewShotTuningConfig, svc_predict
from espnet2_speechprompt.data.episodes import EpisodeError, Example, TaskPool, evaluation_episodes
from espnet2_speechprompt.prompt.icl import PromptedICL
from espnet2_speechprompt.speechlm.layers import PromptVectors
from espnet2_speechprompt.vocab import NUM_SPECIALS
from test.factories.icl import (
    ICL_EPISODE,
    ICL_VOCAB,
    tiny_icl,
    toy_examples,
    unit_encoder,
    write_task_dir,
)

FAST = ICLEvalConfig(seeds=(0, 1), batch_size=4, prompt_tuning=FewShotTuningConfig(steps=3))


def task(labels: str = "abcd") -> tuple[TaskPool, list[Example]]:
    return TaskPool("toy", toy_examples("pool", labels, 4)), toy_examples("test", labels, 3)


def prepared(model: PromptedICL, seed: int = 0, labels: str = "abcd"):
    pool, queries = task(labels)
    unit_tokens = model.label_tokens.tolist()
    cache = TokenCache(unit_encoder())
    return prepare_episodes(pool, queries, ICL_EPISODE, cache, unit_tokens, seed, model.sep_index)


class FirstDemoLabel(PromptedICL):
    """Forces the unconstrained prediction onto the first demonstration's label token."""

    def query_logits(self, episodes: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(len(episodes), len(ICL_VOCAB))
        first_label = episodes[:, ICL_EPISODE.unit_length + 1]
        return logits.scatter(1, first_label[:, None], 100.0)


class FixedToken(PromptedICL):
    """Forces the unconstrained prediction onto one token."""

    token = len(ICL_VOCAB) - 1

    def query_logits(self, episodes: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(len(episodes), len(ICL_VOCAB))
        logits[:, self.token] = 100.0
        return logits


def test_a_batch_of_episodes_equals_the_episodes_one_at_a_time():
    model = tiny_icl()
    episodes = prepared(model)
    assert len({len(p.labels) for p in episodes}) > 1  # candidate lists of different lengths
    batched = predict_episodes(model, episodes, batch_size=5)
    for i, p in enumerate(episodes):
        one = predict_episodes(model, [p], batch_size=1)
        assert one.best[0] == batched.best[i] and one.free[0] == batched.free[i]
        torch.testing.assert_close(one.scores[0], batched.scores[i], atol=1e-5, rtol=1e-5)
    whole = dataclasses.replace(FAST, batch_size=64, prompt_tuning=None)
    single = dataclasses.replace(FAST, batch_size=1, prompt_tuning=None)
    pool, queries = task()
    a = evaluate_task(model, ICL_EPISODE, unit_encoder(), pool, queries, whole)
    b = evaluate_task(model, ICL_EPISODE, unit_encoder(), pool, queries, single)
    assert [r.metrics for r in a] == [r.metrics for r in b]


def test_scores_are_the_candidates_log_probabilities_and_best_is_their_argmax():
    model = tiny_icl()
    episodes = prepared(model)[:3]
    out = predict_episodes(model, episodes, batch_size=8)
    for p, best, scores in zip(episodes, out.best, out.scores, strict=True):
        row = torch.tensor([p.tokens])
        logprobs = torch.log_softmax(model.query_logits(row)[0, NUM_SPECIALS:].detach(), -1)
        expected = [float(logprobs[t - NUM_SPECIALS]) for t in p.label_tokens]
        assert scores == pytest.approx(expected, abs=1e-5)
        assert best == max(range(len(scores)), key=scores.__getitem__)


def test_the_same_seeds_give_the_same_numbers_and_other_seeds_other_episodes():
    pool, queries = task()
    first, second = (
        evaluate_task(tiny_icl(), ICL_EPISODE, unit_encoder(), pool, queries, FAST)
        for _ in range(2)
    )
    assert task_result("toy", "unseen", first, FAST, ICL_EPISODE) == task_result(
        "toy", "unseen", second, FAST, ICL_EPISODE
    )
    assert [p.tokens for p in first[0].episodes] != [p.tokens for p in first[1].episodes]


def test_the_random_baseline_expects_the_mean_of_one_over_k():
    episodes = prepared(tiny_icl(), seed=3)
    expected = sum(1 / len(p.labels) for p in episodes) / len(episodes)
    numbers = random_metrics(episodes, seed=3)
    assert numbers["expected_accuracy"] == pytest.approx(expected)
    assert numbers == random_metrics(episodes, seed=3)
    assert 0.0 <= numbers["accuracy"] <= 1.0


def test_the_guessing_rate_is_one_when_every_free_prediction_is_a_demonstration_label():
    forced = FirstDemoLabel(tiny_icl().backbone, ICL_VOCAB.unit_indices()).eval()
    episodes = prepared(forced)
    numbers = model_metrics(episodes, predict_episodes(forced, episodes, batch_size=4))
    assert numbers["guessing_rate"] == 1.0
    first_is_answer = [p.episode.demos[0].label == p.episode.query.label for p in episodes]
    assert numbers["free_accuracy"] == pytest.approx(sum(first_is_answer) / len(episodes))


def test_the_guessing_rate_counts_free_predictions_among_the_demonstration_labels():
    units = ICL_VOCAB.unit_indices()
    never_a_label = FixedToken(tiny_icl().backbone, units[:-1]).eval()
    episodes = prepared(never_a_label)
    out = predict_episodes(never_a_label, episodes, batch_size=4)
    assert model_metrics(episodes, out)["guessing_rate"] == 0.0
    model = tiny_icl()
    episodes = prepared(model, seed=1)
    out = predict_episodes(model, episodes, batch_size=4)
    hits = 0
    for p in episodes:
        logits = model.query_logits(torch.tensor([p.tokens]))[0].detach()
        hits += int(logits[NUM_SPECIALS:].argmax()) + NUM_SPECIALS in p.label_tokens
    assert model_metrics(episodes, out)["guessing_rate"] == pytest.approx(hits / len(episodes))


def test_the_svc_baseline_learns_a_task_set_by_which_units_occur():
    pool, queries = TaskPool("toy", toy_examples("pool", "abcd", 6)), toy_examples(
        "test", "abcd", 6
    )
    episodes = evaluation_episodes(pool, queries, 3, seed=0)
    correct = sum(svc_predict(e) == e.query.label for e in episodes)
    chance = sum(1 / len(e.demo_labels()) for e in episodes)
    assert correct / len(episodes) >= 0.9 > chance / len(episodes) + 0.3


def test_without_warmup_is_the_bare_frozen_backbone_with_no_trainable_parameters():
    model = tiny_icl()
    cold = without_warmup(model)
    assert cold.parameter_counts()[0] == 0 and cold.backbone is model.backbone
    assert cold.prompts.separator is None
    rows = torch.tensor([p.tokens for p in prepared(model)[:4]])
    backbone = model.backbone
    bare = backbone(rows, backbone.embed(rows), PromptVectors(None, None), None, 1)[:, -1]
    torch.testing.assert_close(cold.query_logits(rows), bare)


def test_prompt_tuning_reference_trains_prompts_only_and_reports_every_number():
    model = tiny_icl()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pool, queries = task()
    results = evaluate_task(model, ICL_EPISODE, unit_encoder(), pool, queries, FAST)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    numbers = results[0].metrics
    assert set(numbers) == {"with_warmup", "without_warmup", "random", "svc", "prompt_tuning"}
    assert numbers["prompt_tuning"]["train_examples"] == 4  # one example per label
    summary = task_result("toy", "unseen", results, FAST, ICL_EPISODE)["summary"]
    values = [r.metrics["with_warmup"]["accuracy"] for r in results]
    assert summary["with_warmup"]["accuracy"]["mean"] == pytest.approx(sum(values) / 2)


def test_bad_task_dirs_and_labels_are_one_line(tmp_path):
    with pytest.raises(SpeechPromptDataError, match=r"task x: .*nowhere is not a task data dir"):
        read_task_dir(tmp_path / "nowhere", "x")
    write_task_dir(tmp_path / "d", toy_examples("d", "ab", 2))
    (tmp_path / "d" / "label").unlink()
    with pytest.raises(SpeechPromptDataError, match=r"\(no label file\)"):
        read_task_dir(tmp_path / "d", "x")
    pool, _ = task("ab")
    with pytest.raises(EpisodeError, match=r"test utterance test-c0 has label 'c'") as error:
        check_queries(pool, toy_examples("test", "abc", 1))
    assert "\n" not in str(error.value)
