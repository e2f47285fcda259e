"""Batched greedy and beam search over any autoregressive step function.

The model side is two callables:
- the log-probabilities ``[B, V]`` of the first token, one row per source;
- ``advance(index, history) -> [N, V]``: keep/repeat state rows ``index`` ([N] rows of the
  previous call's state), then score the next token after ``history`` ([N, t] tokens so far;
  a cached model reads only the last column).

Beam search follows fairseq's rules: each step ranks the ``2k`` best (hypothesis, token)
extensions of a source; an end-of-sequence extension ranked among the first ``k`` is finished
with score ``logprob / (length + 1) ** length_penalty`` (``</s>`` counted); the ``k`` best
other extensions go on. A source stops once it has ``k`` finished hypotheses or reaches its
maximum length (where only ``</s>`` is allowed). Finished sources leave the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

Advance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Hypothesis:
    tokens: list[int]  # without the final </s>
    score: float  # length-normalised, what hypotheses are ranked by
    logprob: float  # sum of token log-probabilities, </s> included


def _restrict(
    logprobs: torch.Tensor, eos: int, blocked: Sequence[int], at_max: torch.Tensor
) -> torch.Tensor:
    logprobs = logprobs.float().clone()
    if blocked:
        logprobs[:, list(blocked)] = float("-inf")
    if bool(at_max.any()):
        forced = torch.full_like(logprobs[0], float("-inf"))
        forced[eos] = 0.0
        logprobs[at_max] = torch.where(forced.isinf(), forced, logprobs[at_max])
    return logprobs


def greedy_search(
    first: torch.Tensor,
    advance: Advance,
    max_lengths: torch.Tensor,
    eos: int,
    blocked: Sequence[int] = (),
) -> list[Hypothesis]:
    """The most likely token at every step; rows stop at ``</s>`` or their maximum length."""
    batch = first.shape[0]
    device = first.device
    history = torch.empty(batch, 0, dtype=torch.long, device=device)
    logprob = torch.zeros(batch, device=device)
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch, dtype=torch.long, device=device)
    logprobs = first
    while True:
        step = history.shape[1]
        logprobs = _restrict(logprobs, eos, blocked, max_lengths <= step)
        best, token = logprobs.max(dim=-1)
        logprob = logprob + torch.where(done, 0.0, best)
        lengths = lengths + (~done & token.ne(eos)).long()
        done = done | token.eq(eos)
        if bool(done.all()):
            break
        history = torch.cat([history, token.masked_fill(done, eos)[:, None]], dim=1)
        logprobs = advance(torch.arange(batch, device=device), history)
    return [
        Hypothesis(
            history[i, : lengths[i]].tolist(),
            float(logprob[i]) / (int(lengths[i]) + 1),
            float(logprob[i]),
        )
        for i in range(batch)
    ]


def beam_search(
    first: torch.Tensor,
    advance: Advance,
    max_lengths: torch.Tensor,
    eos: int,
    beam_size: int = 5,
    length_penalty: float = 1.0,
    blocked: Sequence[int] = (),
) -> list[list[Hypothesis]]:
    """Up to ``beam_size`` finished hypotheses per source, best score first."""
    batch, vocab = first.shape
    device = first.device
    k = beam_size
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    active = torch.arange(batch, device=device)  # sources still searching
    history = torch.empty(batch, 0, dtype=torch.long, device=device)
    scores = torch.zeros(batch, device=device)  # summed log-probs of the live rows
    logprobs, width = first, 1  # live rows per active source (1 before the first step)
    while True:
        step = history.shape[1]
        at_max = (max_lengths[active] <= step).repeat_interleave(width)
        logprobs = _restrict(logprobs, eos, blocked, at_max)
        total = (scores[:, None] + logprobs).view(len(active), width * vocab)
        if total.shape[1] < 2 * k:  # tiny vocabularies: pad with impossible candidates
            total = torch.cat([total, total.new_full((len(active), 2 * k), float("-inf"))], 1)
        top, flat = total.topk(2 * k, dim=1)
        flat = flat.clamp(max=width * vocab - 1)
        row = (
            flat.div(vocab, rounding_mode="floor")
            + width * torch.arange(len(active), device=device)[:, None]
        )
        token = flat % vocab
        is_eos = token.eq(eos) & top.isfinite()
        if bool(is_eos[:, :k].any()):  # </s> among the first k: a finished hypothesis
            for s, rank in is_eos[:, :k].nonzero().tolist():
                src = int(active[s])
                if len(finished[src]) < k:
                    tokens = history[row[s, rank]].tolist()
                    value = float(top[s, rank])
                    norm = (len(tokens) + 1) ** length_penalty
                    finished[src].append(Hypothesis(tokens, value / norm, value))
        # the first k other extensions go on (at most `width` <= k of the 2k are </s>)
        live = ~is_eos
        keep = live & (torch.cumsum(live.long(), dim=1) <= k)
        stays = torch.tensor(
            [len(finished[src]) < k and int(max_lengths[src]) > step for src in active.tolist()],
            dtype=torch.bool,
            device=device,
        )
        stays &= top.isfinite().any(dim=1)
        if not bool(stays.any()):
            break
        keep &= stays[:, None]
        index, chosen, new_scores = row[keep], token[keep], top[keep]
        active, width = active[stays], k
        history = torch.cat([history[index], chosen[:, None]], dim=1)
        scores = new_scores
        logprobs = advance(index, history)
    for hyps in finished:
        hyps.sort(key=lambda h: -h.score)
    return finished
