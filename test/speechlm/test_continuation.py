"""GSLM-style continuation by the bare unit LM: seeded samples are the same batched and one at
a time, greedy (temperature 0) equals recomputing the whole sequence at every step, a sample's
log-likelihood is the LM's, and no special token but ``</s>`` is drawn."""

from __future__ import annotations

import math

import pytest
import torch

from espnet2_speechprompt.speechlm.continuation import continue_units, perplexity
from espnet2_speechprompt.speechlm.sampling import SamplingConfig
from espnet2_speechprompt.vocab import EOS, NUM_SPECIALS, PAD
from test.factories.unit_lm import tiny_decoder
from test.recompute import assert_same_nbest

pytestmark = pytest.mark.usefixtures("one_thread")
VOCAB = 20


@pytest.fixture(scope="module")
def lm():
    torch.manual_seed(0)
    return tiny_decoder(VOCAB).eval()


def prefixes() -> tuple[torch.Tensor, torch.Tensor]:
    units = torch.randint(NUM_SPECIALS, VOCAB, (3, 6), generator=torch.Generator().manual_seed(2))
    lengths = torch.tensor([6, 2, 4])
    return units.masked_fill(torch.arange(6)[None] >= lengths[:, None], PAD), lengths


def lm_logprob(lm, prefix: list[int], continuation: list[int]) -> float:
    """log P(continuation </s> | </s> prefix) by one full forward."""
    tokens = torch.tensor([[EOS, *prefix, *continuation]])
    logprobs = torch.log_softmax(lm(tokens)[0].float(), dim=-1)
    targets = [*continuation, EOS]
    start = len(prefix)
    return sum(float(logprobs[start + i, t]) for i, t in enumerate(targets))


def test_batched_equals_alone_and_samples_are_the_lm_likelihood(lm):
    units, lengths = prefixes()
    config = SamplingConfig(temperature=1.0, top_k=8, num_samples=2)
    batched = continue_units(lm, units, lengths, [5, 6, 7], config, max_new=5)
    for r in range(3):
        prefix = units[r, : lengths[r]]
        alone = continue_units(lm, prefix[None], lengths[r : r + 1], [5 + r], config, max_new=5)
        assert_same_nbest([batched[r]], alone)
        for hyp in batched[r]:
            assert len(hyp.tokens) <= 5 and all(t >= NUM_SPECIALS for t in hyp.tokens)
            if len(hyp.tokens) < 5:  # ended by </s> itself, not forced
                expected = lm_logprob(lm, prefix.tolist(), hyp.tokens)
                assert math.isclose(hyp.logprob, expected, abs_tol=1e-4)


def test_greedy_continuation_equals_recomputing_every_step(lm):
    units, lengths = prefixes()
    greedy = continue_units(lm, units, lengths, [0, 0, 0], SamplingConfig(temperature=0.0), 4)
    for r in range(3):
        sequence, new = [EOS, *units[r, : lengths[r]].tolist()], []
        for _ in range(4):
            logits = lm(torch.tensor([sequence]))[0, -1].float()
            logits[[0, 1, 3]] = float("-inf")  # <s>, <pad>, <unk> are never drawn
            token = int(logits.argmax())
            if token == EOS:
                break
            sequence.append(token)
            new.append(token)
        assert greedy[r][0].tokens == new


def test_perplexity_is_the_lm_likelihood_per_token(lm):
    units, lengths = prefixes()
    total = sum(-lm_logprob(lm, [], units[r, : lengths[r]].tolist()) for r in range(3))
    expected = math.exp(total / (int(lengths.sum()) + 3))  # + </s> per row
    assert perplexity(lm, units, lengths) == pytest.approx(expected, rel=1e-5)
