"""GSLM-style speech continuation: the bare unit LM (no prompts) continues unit prefixes by
sampling (fairseq's GSLM samples at temperature 0.7), or greedily at temperature 0; and the
perplexity of unit sequences under it (a metric of generated speech).

Each prefix is fed as ``</s> u_1..u_T`` (left-padded, so every row's last unit is in the last
column); the continuation ends at ``</s>`` or after ``max_new`` units. Specials other than
``</s>`` are never drawn. Sources draw from their own generators: a batch continues each
prefix as it is continued alone (``sampling``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..batching import left_padded
from ..precision import autocast_to
from ..vocab import BOS, EOS, PAD, UNK
from .beam_search import Hypothesis
from .sampling import SamplingConfig, sample
from .transformer_lm import DecodingState, TransformerDecoder

GSLM_SAMPLING = SamplingConfig(temperature=0.7)


@torch.no_grad()
def continue_units(
    lm: TransformerDecoder,
    units: torch.Tensor,
    lengths: torch.Tensor,
    seeds: Sequence[int],
    config: SamplingConfig = GSLM_SAMPLING,
    max_new: int = 200,
) -> list[list[Hypothesis]]:
    """``config.num_samples`` continuations (backbone token ids, without ``</s>``) of each
    prefix of ``units`` (right-padded backbone tokens ``[B, T]``, ``lengths`` ``[B]``); row
    ``r`` draws from a generator seeded with ``seeds[r]``."""
    state = DecodingState()
    block = left_padded(units, lengths)
    with autocast_to(lm):
        first = lm(block, state=state)[:, -1].float()

    def advance(index: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        state.select(index)
        with autocast_to(lm):
            logits = lm(history[:, -1:], state=state)[:, -1].float()
        return torch.log_softmax(logits, dim=-1)

    generators = [torch.Generator().manual_seed(int(seed)) for seed in seeds]
    max_lengths = torch.full((len(units),), max_new, device=units.device)
    first = torch.log_softmax(first, dim=-1)
    return sample(first, advance, max_lengths, EOS, generators, config, (BOS, PAD, UNK))


@torch.no_grad()
def perplexity(
    lm: TransformerDecoder,
    units: torch.Tensor,
    lengths: torch.Tensor,
    context_lengths: torch.Tensor | None = None,
) -> float:
    """exp of the mean negative log-likelihood per token of ``u_1..u_T </s>`` after ``</s>``
    over all rows (right-padded backbone tokens ``[B, T]``); with ``context_lengths``, each
    row's first units are the given context, not scored."""
    context = torch.zeros_like(lengths) if context_lengths is None else context_lengths
    if int((lengths - context).min()) < 1 or int(context.min()) < 0:
        raise ValueError("perplexity needs sequences of at least one unit after the context")
    block = left_padded(units, lengths, last=EOS)  # </s> u_1..u_T </s>
    with autocast_to(lm):
        logprobs = torch.log_softmax(lm(block)[:, :-1].float(), dim=-1)
    targets = block[:, 1:]
    picked = logprobs.gather(-1, targets[..., None])[..., 0]
    steps = torch.arange(targets.shape[1], device=targets.device)
    real = steps[None, :] >= targets.shape[1] - (lengths - context)[:, None] - 1
    return float(torch.exp(-(picked * real).sum() / real.sum()))
