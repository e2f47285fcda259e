"""Batched beam search over any autoregressive step function; greedy search is beam size 1.

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

Which extensions are ranked each step is the ``choose`` step (``best_extensions``: the ``2k``
best); another strategy (sampling) plugs in there and keeps the rest of the loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

Advance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Choose = Callable[[torch.Tensor, torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class Hypothesis:
    tokens: list[int]  # without the final </s>
    score: float  # length-normalised, what hypotheses are ranked by
    logprob: float  # sum of token log-probabilities, </s> included


def restrict(
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


def best_extensions(
    scores: torch.Tensor, logprobs: torch.Tensor, beam_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Beam search's choice: per source, the ``2 * beam_size`` (hypothesis, token) extensions
    with the highest summed log-probability, best first.

    scores: ``[A, W]`` summed log-probs of a source's ``W`` live rows; logprobs: ``[A, W, V]``
    next-token log-probs. Returns their summed log-probs ``[A, C]`` and flat indices
    ``row * V + token`` ``[A, C]`` (impossible ones ``-inf``).
    """
    total = (scores[..., None] + logprobs).flatten(1)
    size, wanted = total.shape[1], 2 * beam_size
    if size < wanted:  # tiny vocabularies: pad with impossible candidates
        total = torch.cat([total, total.new_full((len(total), wanted), float("-inf"))], 1)
    top, flat = total.topk(wanted, dim=1)
    return top, flat.clamp(max=size - 1)


def beam_search(
    first: torch.Tensor,
    advance: Advance,
    max_lengths: torch.Tensor,
    eos: int,
    beam_size: int = 5,
    length_penalty: float = 1.0,
    blocked: Sequence[int] = (),
    choose: Choose = best_extensions,
) -> list[list[Hypothesis]]:
    """Up to ``beam_size`` finished hypotheses per source, best score first (``beam_size=1``:
    greedy search). ``choose`` ranks the extensions each step (``best_extensions``)."""
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
        logprobs = restrict(logprobs, eos, blocked, at_max).view(len(active), width, vocab)
        top, flat = choose(scores.view(len(active), width), logprobs, k)
        offsets = width * torch.arange(len(active), device=device)[:, None]
        row, token = flat.div(vocab, rounding_mode="floor") + offsets, flat % vocab
        is_eos = token.eq(eos) & top.isfinite()
        if bool(is_eos[:, :k].any()):  # </s> among the first k: a finished hypothesis
            _finish(finished, active, is_eos[:, :k], top, history, row, k, length_penalty)
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
        index, chosen, scores = row[keep], token[keep], top[keep]
        active, width = active[stays], k
        history = torch.cat([history[index], chosen[:, None]], dim=1)
        logprobs = advance(index, history)
    for hyps in finished:
        hyps.sort(key=lambda h: -h.score)
    return finished


def _finish(
    finished: list[list[Hypothesis]],
    active: torch.Tensor,
    is_eos: torch.Tensor,
    top: torch.Tensor,
    history: torch.Tensor,
    row: torch.Tensor,
    k: int,
    length_penalty: float,
) -> None:
    """Record the ``</s>`` extensions ``is_eos`` ``[A, k]`` (summed log-probs ``top``, of the
    live rows ``row`` of ``history``) of sources with fewer than ``k`` finished hypotheses."""
    for s, rank in is_eos.nonzero().tolist():
        src = int(active[s])
        if len(finished[src]) < k:
            hyp_tokens = history[row[s, rank]].tolist()
            value = float(top[s, rank])
            norm = (len(hyp_tokens) + 1) ** length_penalty
            finished[src].append(Hypothesis(hyp_tokens, value / norm, value))
