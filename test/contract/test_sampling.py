"""Sampling (``speechlm.sampling``) on every contract case: seeded samples are reproducible, a
batch samples what its rows sample alone, temperature 0 and top-k 1 are greedy search, and a
sample's log-likelihood is the teacher-forced one; on a task bank, a mixed batch samples what
each task samples alone."""

from __future__ import annotations

import math

import pytest
import torch

from espnet2_speechprompt.errors import SpeechPromptError
from espnet2_speechprompt.prompt.multitask import TaskBank
from espnet2_speechprompt.speechlm.sampling import SamplingConfig, filtered_probs
from test.contract.cases import BACKBONES, CASES, ContractCase
from test.contract.test_contract import _hypotheses_as_candidates, _rows
from test.contract.test_mixed_tasks import bank_tasks, mixed_rows
from test.recompute import assert_same_nbest, recomputed_scores

ATOL = 1e-5
LIMITS = {"max_len_a": 0.5, "max_len_b": 3}
CONFIG = SamplingConfig(temperature=1.5, top_k=6, top_p=0.95, num_samples=3)
pytestmark = pytest.mark.usefixtures("one_thread")
every_case = pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])


@every_case
def test_seeded_batched_sampling_equals_one_at_a_time_and_is_reproducible(case: ContractCase):
    model, x = case.build().eval(), case.inputs()
    seeds = [11, 12, 13, 14]
    batched = model.sample(x.source, x.lengths, seeds, CONFIG, **LIMITS)
    assert all(len(samples) == CONFIG.num_samples for samples in batched)
    assert_same_nbest(batched, model.sample(x.source, x.lengths, seeds, CONFIG, **LIMITS), 0.0)
    for (source, lengths), seed, samples in zip(_rows(x), seeds, batched, strict=True):
        assert_same_nbest([samples], model.sample(source, lengths, [seed], CONFIG, **LIMITS), ATOL)
        forced = recomputed_scores(model, source, lengths, _hypotheses_as_candidates(samples))
        for hyp, logprob in zip(samples, forced[0].tolist(), strict=True):
            assert math.isclose(hyp.logprob, logprob, abs_tol=ATOL), (hyp, logprob)


@every_case
def test_temperature_zero_and_top_k_one_are_greedy(case: ContractCase):
    model, x = case.build().eval(), case.inputs()
    greedy = model.search(x.source, x.lengths, beam_size=1, **LIMITS)
    for config in (SamplingConfig(temperature=0.0), SamplingConfig(top_k=1)):
        sampled = model.sample(x.source, x.lengths, [0, 1, 2, 3], config, **LIMITS)
        assert_same_nbest(sampled, greedy, ATOL)


@pytest.mark.parametrize("backbone", BACKBONES, ids=[b.name for b in BACKBONES])
def test_a_mixed_batch_samples_what_each_task_samples_alone(backbone):
    tasks = bank_tasks(backbone)
    bank = TaskBank({name: model for name, (model, _) in tasks.items()})
    models = [model for model, _ in tasks.values()]
    source, lengths, task_ids = mixed_rows(backbone, len(tasks))
    seeds = list(range(100, 100 + len(task_ids)))
    mixed = bank.rows(task_ids).sample(source, lengths, seeds, CONFIG, **LIMITS)
    for r, task in enumerate(task_ids.tolist()):
        row = (source[r : r + 1, : int(lengths[r])], lengths[r : r + 1])
        alone = models[task].sample(*row, [seeds[r]], CONFIG, **LIMITS)
        assert_same_nbest([mixed[r]], alone, ATOL)


def test_filters_keep_the_best_tokens_and_bad_settings_are_one_error():
    logprobs = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    top2 = filtered_probs(logprobs, SamplingConfig(top_k=2))
    torch.testing.assert_close(top2, torch.tensor([[0.625, 0.375, 0.0, 0.0]]))
    nucleus = filtered_probs(logprobs, SamplingConfig(top_p=0.7))  # 0.5 + 0.3 reach 0.7
    torch.testing.assert_close(nucleus, torch.tensor([[0.625, 0.375, 0.0, 0.0]]))
    assert filtered_probs(logprobs, SamplingConfig(top_p=0.1))[0, 0] == 1.0
    for bad in ({"temperature": -1.0}, {"top_p": 0.0}, {"top_k": -2}, {"num_samples": 0}):
        with pytest.raises(SpeechPromptError):
            SamplingConfig(**bad)


@every_case
def test_different_seeds_draw_different_samples(case: ContractCase):
    model, x = case.build().eval(), case.inputs()
    source, lengths = _rows(x)[0]
    drawn = {
        tuple(h.tokens)
        for seed in range(8)
        for h in model.sample(source, lengths, [seed], CONFIG, **LIMITS)[0]
    }
    assert len(drawn) > 1
