"""Decoder-only prompting beyond the shared contract (test/contract): the trainable parameter
count, empty prompts leaving the unit LM unchanged, and beam search's own properties."""

from __future__ import annotations

import pytest
import torch

from espnet2_speechprompt.prompt.prompted_lm import PromptedUnitLM, source_block
from espnet2_speechprompt.prompt.prompts import PromptConfig, Prompts
from espnet2_speechprompt.verbalizer.fixed import FixedVerbalizer
from espnet2_speechprompt.verbalizer.learnable import LearnableVerbalizer
from test.factories.unit_lm import tiny_decoder

PROMPT = PromptConfig(input_length=3, deep_length=2, dropout=0.0)
VERBALIZERS = {
    "fixed": lambda: FixedVerbalizer([5, 9, 12]),
    "learnable-soft": lambda: LearnableVerbalizer(20, 3, init_tokens=[5, 9, 12]),
}


def _model(verbalizer: str) -> PromptedUnitLM:
    return PromptedUnitLM(tiny_decoder(), VERBALIZERS[verbalizer](), PROMPT)


def _batch():
    units = torch.randint(4, 20, (4, 7))
    lengths = torch.tensor([7, 3, 5, 1])
    for i, n in enumerate(lengths):
        units[i, n:] = 1
    labels = torch.tensor([[4, 5, 6], [6, 1, 1], [5, 4, 1], [4, 4, 4]])  # multi-token labels
    return units, lengths, labels, labels.ne(1).sum(1)


def test_parameter_count_formula():
    model = _model("fixed")
    trainable, total = model.parameter_counts()
    assert trainable == Prompts.expected_num_parameters(PROMPT, 2, 16)
    assert trainable == 3 * 16 + 2 * 2 * 2 * 16 + 16
    assert total == trainable + sum(p.numel() for p in model.backbone.parameters())
    # GSLM (12 layers, d=1024) with L=6: the 154,624 trainable parameters SpeechPrompt v1 logs
    gslm = Prompts.expected_num_parameters(PromptConfig(input_length=6, deep_length=6), 12, 1024)
    assert gslm == 154_624


def test_empty_prompts_leave_the_backbone_output_unchanged():
    backbone = tiny_decoder()
    verbalizer = FixedVerbalizer(list(range(4, 20)))
    model = PromptedUnitLM(backbone, verbalizer, PromptConfig(0, 0, separator=False, dropout=0.0))
    units, lengths, labels, label_lengths = _batch()
    block = source_block(units, lengths)
    # label c -> token 4 + c, so label-space ids are the backbone tokens themselves
    tokens = torch.cat([block, labels], dim=1)
    expected = backbone(tokens)[:, block.shape[1] - 1 :]
    got = model.sequence_logits(units, lengths, labels)  # top layer on the label positions only
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("verbalizer", ["fixed", "learnable-soft"])
def test_beam_search(verbalizer):
    """GSLM beam search through speechlm/beam_search.py: n-best sorted, beam 1 == greedy, and a
    beam's best is at least as likely as greedy under no length norm."""
    torch.manual_seed(0)
    model = _model(verbalizer).eval()
    units, lengths, _, _ = _batch()
    cached = model.search(units, lengths, beam_size=3, max_len_b=5)
    for nbest in cached:
        assert 1 <= len(nbest) <= 3 and all(len(h.tokens) <= 5 for h in nbest)
        assert [h.score for h in nbest] == sorted((h.score for h in nbest), reverse=True)
    greedy, greedy_scores = model.generate(units, lengths, max_length=5)
    beam1, beam1_scores = model.generate(units, lengths, max_length=5, beam_size=1)
    assert beam1 == greedy and torch.equal(beam1_scores, greedy_scores)
    beam = model.search(units, lengths, beam_size=4, max_len_b=5, length_penalty=0.0)
    for nbest, score in zip(beam, greedy_scores, strict=True):
        assert nbest[0].logprob >= float(score) - 1e-5
    long = model.search(units, lengths, beam_size=2, max_len_a=1.0, max_len_b=0)
    assert all(len(h.tokens) <= int(n) for nb, n in zip(long, lengths, strict=True) for h in nb)
