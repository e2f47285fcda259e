"""Batched sampling over any autoregressive step function (the ``first``/``advance`` pair of
``beam_search``): ``num_samples`` independent samples per source, with temperature, top-k and
top-p (nucleus) filtering.

Every source draws from its own ``torch.Generator``, in a fixed order (its samples in turn,
step by step), so a source's samples do not depend on the other sources of its batch: a seeded
batch gives what its sources give one at a time. A sample's ``logprob`` is its log-likelihood
under the model (temperature 1, unfiltered), ``</s>`` included; ``score`` is the same divided
by its length (``</s>`` counted). Temperature 0 is greedy search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..errors import SpeechPromptError
from .beam_search import Advance, Hypothesis, restrict


@dataclass(frozen=True)
class SamplingConfig:
    """How tokens are drawn: ``temperature`` (0: greedy), ``top_k`` (0: all tokens),
    ``top_p`` (1: all tokens), ``num_samples`` per source."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    num_samples: int = 1

    def __post_init__(self):
        if self.temperature < 0 or self.top_k < 0 or not 0 < self.top_p <= 1:
            raise SpeechPromptError(
                "sampling needs temperature >= 0, top_k >= 0 and 0 < top_p <= 1 (got "
                f"{self.temperature}, {self.top_k}, {self.top_p})"
            )
        if self.num_samples < 1:
            raise SpeechPromptError(f"num_samples must be at least 1, not {self.num_samples}")


def filtered_probs(logprobs: torch.Tensor, config: SamplingConfig) -> torch.Tensor:
    """``[N, V]`` probabilities to draw from: temperature, then top-k, then top-p."""
    logits = logprobs / config.temperature
    if 0 < config.top_k < logits.shape[-1]:
        kth = logits.topk(config.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if config.top_p < 1:
        ordered, order = probs.sort(dim=-1, descending=True)
        before = ordered.cumsum(dim=-1) - ordered  # mass of the better tokens
        ordered = ordered.masked_fill(before >= config.top_p, 0.0)  # the best always stays
        probs = torch.zeros_like(probs).scatter(-1, order, ordered)
        probs = probs / probs.sum(dim=-1, keepdim=True)
    return probs


def draw(probs: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """One token per row by inverse CDF from ``uniforms`` ``[N]`` in [0, 1)."""
    cdf = probs.cumsum(dim=-1)
    chosen = torch.searchsorted(cdf, (uniforms * cdf[:, -1])[:, None], right=True)[:, 0]
    return chosen.clamp(max=probs.shape[-1] - 1)


def pick(
    logprobs: torch.Tensor, config: SamplingConfig, sources: torch.Tensor, generators
) -> torch.Tensor:
    """The next token of every row (``sources``: its source's index into ``generators``)."""
    if config.temperature == 0:
        return logprobs.argmax(dim=-1)
    uniforms = torch.stack(
        [torch.rand((), generator=generators[int(s)]) for s in sources.tolist()]
    ).to(logprobs.device)
    return draw(filtered_probs(logprobs, config), uniforms)


def sample(
    first: torch.Tensor,
    advance: Advance,
    max_lengths: torch.Tensor,
    eos: int,
    generators: Sequence[torch.Generator],
    config: SamplingConfig = SamplingConfig(),
    blocked: Sequence[int] = (),
) -> list[list[Hypothesis]]:
    """``config.num_samples`` samples per source (in the order drawn). ``first``: ``[B, V]``
    log-probabilities of the first token; ``advance(index, history)``: as for
    ``beam_search`` (``index`` keeps/repeats the previous call's rows); after ``max_lengths``
    tokens ``</s>`` is forced."""
    batch = first.shape[0]
    if len(generators) != batch:
        raise SpeechPromptError(f"{len(generators)} generators for {batch} sources")
    device, n = first.device, config.num_samples
    rows = torch.arange(batch, device=device).repeat_interleave(n)  # the source of each row
    logprobs = first.index_select(0, rows)
    history = torch.empty(len(rows), 0, dtype=torch.long, device=device)
    totals = torch.zeros(len(rows), device=device)
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    while len(rows):
        step = history.shape[1]
        logprobs = restrict(logprobs, eos, blocked, max_lengths[rows] <= step)
        tokens = pick(logprobs, config, rows, generators)
        totals = totals + logprobs.gather(1, tokens[:, None])[:, 0]
        done = tokens.eq(eos)
        for r in done.nonzero()[:, 0].tolist():
            value = float(totals[r])
            finished[int(rows[r])].append(
                Hypothesis(history[r].tolist(), value / (step + 1), value)
            )
        going = (~done).nonzero()[:, 0]
        if not len(going):
            break
        keep = rows[going] if step == 0 else going  # rows of the previous call's state
        rows, totals = rows[going], totals[going]
        history = torch.cat([history[going], tokens[going, None]], dim=1)
        logprobs = advance(keep, history)
    return finished
