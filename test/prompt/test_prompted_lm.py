"""One shared test for every prompt configuration x verbalizer (the PEFT pattern):
gradient flow, frozen backbone, save/load of the trainable state, cached decoding == the
teacher-forced forward recomputed at every step."""

from __future__ import annotations

import pytest
import torch

from espnet2_speechprompt.prompt.prompted_lm import PromptedUnitLM, source_block
from espnet2_speechprompt.prompt.prompts import PromptConfig, Prompts
from espnet2_speechprompt.verbalizer.fixed import FixedVerbalizer
from espnet2_speechprompt.verbalizer.learnable import LearnableVerbalizer
from test.factories.unit_lm import tiny_decoder
from test.recompute import assert_same_nbest, recomputed_scores, recomputed_search

PROMPTS = {
    "input+deep+sep": PromptConfig(input_length=3, deep_length=2, dropout=0.0),
    "input-only": PromptConfig(input_length=4, deep_length=0, separator=False, dropout=0.0),
    "deep-only": PromptConfig(input_length=0, deep_length=3, separator=True, dropout=0.0),
}
VERBALIZERS = {
    "fixed": lambda: FixedVerbalizer([5, 9, 12]),
    "learnable-soft": lambda: LearnableVerbalizer(20, 3, init_tokens=[5, 9, 12]),
    "learnable-argmax": lambda: LearnableVerbalizer(20, 3, feedback="argmax"),
}
CASES = [(p, v) for p in PROMPTS for v in VERBALIZERS]


def _model(prompt: str, verbalizer: str) -> PromptedUnitLM:
    return PromptedUnitLM(tiny_decoder(), VERBALIZERS[verbalizer](), PROMPTS[prompt])


def _batch():
    units = torch.randint(4, 20, (4, 7))
    lengths = torch.tensor([7, 3, 5, 1])
    for i, n in enumerate(lengths):
        units[i, n:] = 1
    labels = torch.tensor([[4, 5, 6], [6, 1, 1], [5, 4, 1], [4, 4, 4]])  # multi-token labels
    return units, lengths, labels, labels.ne(1).sum(1)


@pytest.mark.parametrize("prompt,verbalizer", CASES)
def test_every_trainable_parameter_gets_gradient(prompt, verbalizer):
    model = _model(prompt, verbalizer).train()
    model(*_batch())["loss"].backward()
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and not any(n.startswith("backbone.") for n in trainable)
    for name, p in trainable.items():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("prompt,verbalizer", CASES)
def test_backbone_frozen_and_unchanged_after_steps(prompt, verbalizer):
    model = _model(prompt, verbalizer)
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    optim = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    assert not model.backbone.training
    for _ in range(3):
        optim.zero_grad()
        model(*_batch())["loss"].backward()
        optim.step()
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, before[key]), key


@pytest.mark.parametrize("prompt,verbalizer", CASES)
def test_trainable_state_round_trip(prompt, verbalizer, tmp_path):
    model = _model(prompt, verbalizer)
    state = model.trainable_state_dict()
    assert not any(k.startswith("backbone.") for k in state)
    torch.save(state, tmp_path / "prompts.pt")
    other = PromptedUnitLM(model.backbone, VERBALIZERS[verbalizer](), PROMPTS[prompt])
    other.load_state_dict(torch.load(tmp_path / "prompts.pt"), strict=False)
    units, lengths, _, _ = _batch()
    cands = torch.tensor([[4, 1], [5, 6], [6, 1]])
    torch.testing.assert_close(
        other.score_candidates(units, lengths, cands), model.score_candidates(units, lengths, cands)
    )


@pytest.mark.parametrize("prompt,verbalizer", CASES)
def test_cached_inference_equals_recompute(prompt, verbalizer):
    model = _model(prompt, verbalizer).eval()
    units, lengths, _, _ = _batch()
    cands = torch.tensor([[4, 1, 1], [5, 6, 1], [6, 4, 5]])
    torch.testing.assert_close(
        model.score_candidates(units, lengths, cands),
        recomputed_scores(model, units, lengths, cands),
        atol=1e-5,
        rtol=0,
    )
    greedy = model.search(units, lengths, beam_size=1, max_len_b=6)
    assert_same_nbest(greedy, recomputed_search(model, units, lengths, 1, max_len_b=6))
    hyps, logprobs = model.generate(units, lengths, max_length=6)
    assert hyps == [row[0].tokens for row in greedy]
    assert logprobs.tolist() == [row[0].logprob for row in greedy]
    assert all(len(h) <= 6 and all(t >= 4 for t in h) for h in hyps)


@pytest.mark.parametrize("prompt,verbalizer", CASES)
def test_batched_equals_one_at_a_time(prompt, verbalizer):
    model = _model(prompt, verbalizer).eval()
    units, lengths, _, _ = _batch()
    cands = torch.tensor([[4, 1], [5, 6], [6, 1]])
    batched = model.score_candidates(units, lengths, cands)
    single = torch.cat(
        [
            model.score_candidates(units[i : i + 1, :n], lengths[i : i + 1], cands)
            for i, n in enumerate(lengths)
        ]
    )
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=0)
    assert model.generate(units, lengths, 4)[0] == [
        model.generate(units[i : i + 1, :n], lengths[i : i + 1], 4)[0][0]
        for i, n in enumerate(lengths)
    ]


def test_parameter_count_formula():
    model = _model("input+deep+sep", "fixed")
    trainable, total = model.parameter_counts()
    assert trainable == Prompts.expected_num_parameters(PROMPTS["input+deep+sep"], 2, 16)
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
    """GSLM beam search through speechlm/beam_search.py: cached == recomputed, n-best sorted,
    beam 1 == greedy, and a beam's best is at least as likely as greedy under no length norm."""
    torch.manual_seed(0)
    model = _model("input+deep+sep", verbalizer).eval()
    units, lengths, _, _ = _batch()
    cached = model.search(units, lengths, beam_size=3, max_len_b=5)
    assert_same_nbest(cached, recomputed_search(model, units, lengths, 3, max_len_b=5))
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
