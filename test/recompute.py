"""Decoding by recomputation, what cached decoding is compared with: every step runs the
prompted model's teacher-forced forward (``sequence_logits``, the training-time forward) over
the source and the whole label history, with no state kept between steps."""

from __future__ import annotations

import math

import torch

from espnet2_speechprompt.prompt.base import (
    NOT_PREDICTED,
    PromptedModel,
    label_targets,
    sequence_logprobs,
)
from espnet2_speechprompt.speechlm.beam_search import Hypothesis, beam_search
from espnet2_speechprompt.vocab import EOS, PAD


class RecomputedSteps:
    """``advance`` for ``beam_search``: follows which source every row comes from."""

    def __init__(self, model: PromptedModel, source: torch.Tensor, lengths: torch.Tensor):
        self.model, self.source, self.lengths = model, source, lengths
        self.rows = torch.arange(len(source), device=source.device)

    @torch.no_grad()
    def __call__(self, index: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        self.rows = self.rows.index_select(0, index)
        source, lengths = self.source[self.rows], self.lengths[self.rows]
        logits = self.model.sequence_logits(source, lengths, history)[:, -1]
        return torch.log_softmax(logits.float(), dim=-1)


def recomputed_search(
    model: PromptedModel,
    source: torch.Tensor,
    lengths: torch.Tensor,
    beam_size: int = 5,
    max_len_a: float = 0.0,
    max_len_b: int = 200,
    length_penalty: float = 1.0,
) -> list[list[Hypothesis]]:
    """``model.search`` by recomputation."""
    max_lengths = model.max_label_lengths(source, lengths, max_len_a, max_len_b)
    advance = RecomputedSteps(model, source, lengths)
    start = torch.arange(len(source), device=source.device)
    first = advance(start, torch.empty(len(source), 0, dtype=torch.long, device=source.device))
    return beam_search(first, advance, max_lengths, EOS, beam_size, length_penalty, NOT_PREDICTED)


@torch.no_grad()
def recomputed_scores(
    model: PromptedModel, source: torch.Tensor, lengths: torch.Tensor, candidates: torch.Tensor
) -> torch.Tensor:
    """``model.score_candidates`` by one teacher-forced forward per (source, candidate)."""
    batch, num = source.shape[0], candidates.shape[0]
    rows = torch.arange(batch, device=source.device).repeat_interleave(num)
    cand = candidates.repeat(batch, 1)
    logits = model.sequence_logits(source[rows], lengths[rows], cand)
    return sequence_logprobs(logits, label_targets(cand, cand.ne(PAD).sum(dim=1))).view(batch, num)


def assert_same_nbest(
    got: list[list[Hypothesis]], expected: list[list[Hypothesis]], atol: float = 1e-5
) -> None:
    """The same hypotheses in the same order, scores and log-probs within ``atol``."""
    assert [[h.tokens for h in row] for row in got] == [[h.tokens for h in row] for row in expected]
    for row_got, row_expected in zip(got, expected, strict=True):
        for a, b in zip(row_got, row_expected, strict=True):
            assert math.isclose(a.score, b.score, abs_tol=atol), (a, b)
            assert math.isclose(a.logprob, b.logprob, abs_tol=atol), (a, b)
