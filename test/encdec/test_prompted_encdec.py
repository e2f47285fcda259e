"""Encoder-decoder prompting beyond the shared contract (test/contract): the trainable parameter
count and encoder length with an input prompt, beam search's ranking and length rules, and the
search loop itself (exhaustive n-best, beam 1 == greedy, a sampling step)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from espnet2_speechprompt.prompt.prompted_encdec import PromptedEncoderDecoder
from espnet2_speechprompt.prompt.prompts import PromptConfig
from espnet2_speechprompt.speechlm.beam_search import beam_search
from espnet2_speechprompt.verbalizer.fixed import FixedVerbalizer
from espnet2_speechprompt.verbalizer.learnable import LearnableVerbalizer
from test.factories.encdec import tiny_encdec, tiny_wav2seq

V = 20
CONFIG = PromptConfig(input_length=3, deep_length=2, decoder_deep_length=4, dropout=0.0)


def _source(kind: str):
    if kind == "wav2seq":
        return torch.randn(3, 3000), torch.tensor([3000, 2200, 1600])
    units, lengths = torch.randint(4, V, (3, 7)), torch.tensor([7, 4, 2])
    for i, n in enumerate(lengths):
        units[i, n:] = 1
    return units, lengths


def _model(kind: str, verbalizer: str = "learnable") -> PromptedEncoderDecoder:
    torch.manual_seed(0)
    backbone = tiny_wav2seq(V) if kind == "wav2seq" else tiny_encdec(V, dim=16, heads=2).eval()
    verb = (
        LearnableVerbalizer(V, 5, init_tokens=[5, 9, 12, 13, 17])
        if verbalizer == "learnable"
        else FixedVerbalizer([5, 9, 12, 13, 17])
    )
    return PromptedEncoderDecoder(backbone, verb, CONFIG)


KINDS = ["unit_mbart", "wav2seq"]


@pytest.mark.parametrize("kind", KINDS)
def test_trainable_parameter_count(kind):
    model = _model(kind, "fixed")
    enc, dec = model.backbone.encoder, model.backbone.decoder.config
    expected = (
        CONFIG.input_length * enc.embed_dim
        + 2 * enc.num_layers * CONFIG.deep_length * enc.embed_dim
        + 2 * dec.num_layers * CONFIG.decoder_deep_length * dec.embed_dim
    )
    assert model.parameter_counts()[0] == expected
    states = model.encode(*_source(kind)).states
    assert states.shape[1] == CONFIG.input_length + (9 if kind == "wav2seq" else 8)


def test_beam_search_is_deterministic_sorted_and_scored():
    model = _model("unit_mbart").eval()
    source = _source("unit_mbart")
    first = model.search(*source, beam_size=4, max_len_a=0.5, max_len_b=2, length_penalty=0.5)
    again = model.search(*source, beam_size=4, max_len_a=0.5, max_len_b=2, length_penalty=0.5)
    assert [[(h.tokens, h.score) for h in r] for r in first] == [
        [(h.tokens, h.score) for h in r] for r in again
    ]
    for row, length in zip(first, source[1].tolist(), strict=True):
        assert len(row) == 4
        assert all(a.score >= b.score for a, b in zip(row, row[1:], strict=False))
        limit = int(0.5 * length + 2)
        for h in row:
            assert len(h.tokens) <= limit and all(t >= 4 for t in h.tokens)
            assert math.isclose(h.score, h.logprob / (len(h.tokens) + 1) ** 0.5, rel_tol=1e-6)
    # a hypothesis' log-prob is the model's score of that label sequence
    best = first[0][0]
    cand = torch.tensor([best.tokens + [1] * (3 - len(best.tokens))])
    score = model.score_candidates(source[0][:1], source[1][:1], cand)
    assert math.isclose(float(score), best.logprob, abs_tol=1e-4)


def _markov(vocab: int = 4, seed: int = 0):
    """A fixed next-token table: log p(next | last) (token 0 = start)."""
    table = torch.log_softmax(
        torch.randn(vocab, vocab, generator=torch.Generator().manual_seed(seed)), -1
    )
    return table, lambda index, history: table[history[:, -1]]


def test_beam_search_finds_the_exhaustive_nbest():
    table, advance = _markov()
    eos, max_len, penalty = 2, 3, 0.7
    first = table[torch.tensor([0, 0])]
    got = beam_search(first, advance, torch.tensor([max_len, 1]), eos, 200, penalty)
    for row, limit in zip(got, [max_len, 1], strict=True):
        brute = []
        for n in range(limit + 1):
            for seq in itertools.product([t for t in range(4) if t != eos], repeat=n):
                path = [0, *seq, eos]
                lp = sum(float(table[a, b]) for a, b in zip(path, path[1:], strict=False))
                brute.append((lp / (n + 1) ** penalty, list(seq)))
        brute.sort(key=lambda x: (-round(x[0], 5), x[1]))  # ties: equal transition multisets
        got_row = sorted(((round(h.score, 5), h.tokens) for h in row), key=lambda x: (-x[0], x[1]))
        assert got_row == [(round(s, 5), seq) for s, seq in brute]
        assert all(a.score >= b.score for a, b in zip(row, row[1:], strict=False))


def _greedy_walk(table: torch.Tensor, first: torch.Tensor, max_length: int, eos: int):
    """The most likely next token until ``</s>`` (forced at ``max_length``): tokens, log-prob."""
    tokens, logprob, logprobs = [], 0.0, first
    while True:
        token = eos if len(tokens) == max_length else int(logprobs.argmax())
        logprob += float(logprobs[token])
        if token == eos:
            return tokens, logprob
        tokens.append(token)
        logprobs = table[token]


def test_beam_one_is_greedy():
    table, advance = _markov(vocab=6, seed=3)
    first = table[torch.tensor([0, 1, 4])]
    lengths = torch.tensor([6, 2, 9])
    beam = beam_search(first, advance, lengths, eos=2, beam_size=1)
    for row, start, length in zip(beam, first, lengths.tolist(), strict=True):
        tokens, logprob = _greedy_walk(table, start, length, eos=2)
        assert len(row) == 1 and row[0].tokens == tokens
        assert math.isclose(row[0].logprob, logprob, abs_tol=1e-5)


def test_a_sampling_choice_plugs_into_the_same_loop():
    """Sampling as the loop's ``choose`` step (one drawn extension per source): the ``</s>``
    and length rules and the scores stay the loop's."""
    table, advance = _markov(vocab=6, seed=3)
    generator = torch.Generator().manual_seed(0)

    def sample(scores: torch.Tensor, logprobs: torch.Tensor, beam_size: int):
        total = (scores[..., None] + logprobs).flatten(1)
        flat = torch.multinomial(logprobs.flatten(1).exp(), beam_size, generator=generator)
        return total.gather(1, flat), flat

    starts, lengths = [0, 1, 4, 4, 4], torch.tensor([6, 2, 9, 1, 0])
    drawn = beam_search(table[torch.tensor(starts)], advance, lengths, 2, 1, choose=sample)
    for (hyp,), start, length in zip(drawn, starts, lengths.tolist(), strict=True):
        assert len(hyp.tokens) <= length and 2 not in hyp.tokens
        path = [start, *hyp.tokens, 2]
        expected = sum(float(table[a, b]) for a, b in zip(path, path[1:], strict=False))
        assert math.isclose(hyp.logprob, expected, abs_tol=1e-5)
