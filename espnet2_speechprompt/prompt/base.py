"""What the prompted models share: label targets, the label loss, and a mixin for a frozen
backbone whose (decoder's) embedding table feeds the labels back, with the training forward,
candidate scoring and beam/greedy search on top of each model's decoding steps."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SpeechPromptError
from ..precision import autocast_to, set_frozen_dtype
from ..speechlm.beam_search import Hypothesis, beam_search
from ..speechlm.sampling import SamplingConfig, sample
from ..speechlm.transformer_lm import DecodingState, Packing, TransformerDecoder
from ..vocab import BOS, EOS, NUM_SPECIALS, PAD, UNK

NOT_PREDICTED = (BOS, PAD, UNK)  # label-space ids never emitted while decoding
LENGTH_LIMITS = ("max_len_a", "max_len_b")  # of a search: per row, or one for all rows


def label_targets(labels: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Right-padded labels ``[B, M]`` -> targets ``[B, M + 1]`` with ``</s>`` after each row."""
    targets = F.pad(labels, (0, 1), value=PAD)
    targets[torch.arange(labels.shape[0], device=labels.device), lengths] = EOS
    return targets


def label_loss(
    logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """Cross-entropy over label-space ``logits [B, M+1, S]`` (mean per target token, or per
    unit of weight with per-label ``weights [S]``), token accuracy and whole-sequence accuracy."""
    valid = targets.ne(PAD)
    loss = F.cross_entropy(
        logits.transpose(1, 2), targets, weight=weights, ignore_index=PAD, reduction="sum"
    )
    num_tokens = valid.sum()
    total_weight = num_tokens if weights is None else (weights[targets] * valid).sum()
    correct = (logits.argmax(-1) == targets) & valid
    return {
        "loss": loss / total_weight,
        "acc": correct.sum() / num_tokens,
        "acc_utt": (correct | ~valid).all(dim=1).float().mean(),
        "num_tokens": num_tokens,
    }


def sequence_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Log-likelihood ``[B]`` of ``targets [B, M]`` (``<pad>`` skipped) under ``logits [B, M, S]``."""
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    picked = logprobs.gather(-1, targets.clamp(min=0)[..., None])[..., 0]
    return (picked * targets.ne(PAD)).sum(dim=1)


def pack_candidates(
    candidates: Sequence[torch.Tensor],
) -> tuple[torch.Tensor, Packing, torch.Tensor, torch.Tensor]:
    """Each row's candidate label sequences (``[K_r, M_r]`` right-padded) side by side in one
    row: tokens ``[B, T]`` (``<pad>`` after), their ``Packing``, and per candidate its row
    ``[N]`` and the columns of its tokens ``[N, M]`` (N candidates in all, M the longest)."""
    width = max(c.shape[1] for c in candidates)
    lengths = [c.ne(PAD).sum(dim=1) for c in candidates]
    total = max(1, *(int(n.sum()) for n in lengths))  # one column at least (empty candidates)
    tokens = torch.full((len(candidates), total), PAD, dtype=torch.long)
    steps = torch.zeros_like(tokens)
    owner = torch.full_like(tokens, -1)
    rows, columns = [], torch.zeros(sum(len(c) for c in candidates), width, dtype=torch.long)
    n = 0
    for r, (cands, counts) in enumerate(zip(candidates, lengths, strict=True)):
        at = 0
        for cand, count in zip(cands.cpu(), counts.tolist(), strict=True):
            tokens[r, at : at + count] = cand[:count]
            steps[r, at : at + count] = torch.arange(count)
            owner[r, at : at + count] = n
            columns[n, :count] = torch.arange(at, at + count)
            rows.append(r)
            at, n = at + count, n + 1
    among = (owner[:, :, None] == owner[:, None, :]) & (steps[:, None, :] <= steps[:, :, None])
    packing = Packing(steps, among & owner[:, :, None].ge(0))
    return tokens, packing, torch.tensor(rows), columns


@dataclass
class FittedSources:
    """Sources as the backbone takes them (``PromptedModel.fit_sources``): ``beyond`` is
    (length, trained context) of the first row longer than its context, ``cut`` is (length,
    kept length) of the first row that was cut; ``None`` when there is none."""

    source: torch.Tensor
    lengths: torch.Tensor
    beyond: tuple[int, int] | None = None
    cut: tuple[int, int] | None = None


def _first_over(lengths: torch.Tensor, limit: torch.Tensor) -> tuple[int, int] | None:
    over = (lengths > limit).nonzero()
    if len(over) == 0:
        return None
    row = int(over[0, 0])
    return int(lengths[row]), int(limit[row])


class FrozenBackbone:
    """Mixin for ``nn.Module`` wrappers of a frozen ``backbone``: no gradients, always in eval
    mode; the trainable state is everything else. ``__init__`` calls ``_set_backbone`` first."""

    backbone: nn.Module

    def _set_backbone(self, backbone: nn.Module) -> None:
        """Keep ``backbone`` frozen (no gradients, eval mode)."""
        self.backbone = backbone
        for p in backbone.parameters():
            p.requires_grad_(False)
        backbone.eval()

    def train(self, mode: bool = True) -> Self:
        super().train(mode)
        self.backbone.eval()  # frozen: never in training mode (no dropout)
        return self

    def set_backbone_dtype(self, dtype: torch.dtype) -> Self:
        """Keep the frozen backbone's weights in ``dtype`` (float32 or bfloat16); the
        trainable state stays float32, so do the backbone's normalization layers
        (``precision``)."""
        set_frozen_dtype(self.backbone, dtype)
        return self

    def backbone_precision(self) -> contextlib.AbstractContextManager:
        """The context the backbone runs in: autocast to bf16 for a bf16 backbone."""
        return autocast_to(self.backbone)

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Prompts, separator and verbalizer: everything but the frozen backbone."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("backbone.")}

    def parameter_counts(self) -> tuple[int, int]:
        """(trainable, total) number of parameters."""
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return trainable, sum(p.numel() for p in self.parameters())


class PromptedModel(FrozenBackbone):
    """Mixin for ``nn.Module`` wrappers of a frozen ``backbone`` with a ``verbalizer``.

    Subclasses call ``_set_backbone`` first in ``__init__``, give the decoder that embeds the
    labels (``_label_decoder``) and implement the teacher-forced ``sequence_logits`` (training)
    and, for decoding with a ``DecodingState``, ``start_decoding`` and ``_logits`` (label-space
    logits of decoder inputs after a state).
    """

    verbalizer: nn.Module
    label_weights: torch.Tensor | None

    def _set_backbone(self, backbone: nn.Module) -> None:
        """Keep ``backbone`` frozen; no label weights yet."""
        super()._set_backbone(backbone)
        self.register_buffer("label_weights", None, persistent=False)

    @property
    def _label_decoder(self) -> TransformerDecoder:
        raise NotImplementedError

    def sequence_logits(
        self, source: torch.Tensor, source_lengths: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        """Label-space logits ``[B, M + 1, S]`` predicting ``y_1..y_M </s>`` from the whole
        sequence at once (teacher forcing; right-padded ``labels`` ``[B, M]``)."""
        raise NotImplementedError

    def start_decoding(
        self, source: torch.Tensor, source_lengths: torch.Tensor
    ) -> tuple[DecodingState, torch.Tensor]:
        """A decoding state after the sources (and the decoder start), and the label-space
        logits ``[B, 1, S]`` of the first label."""
        raise NotImplementedError

    def _logits(
        self,
        tokens: torch.Tensor,
        embeds: torch.Tensor,
        state: DecodingState,
        packing: Packing | None = None,
    ) -> torch.Tensor:
        raise NotImplementedError

    def _verbalize(self, lm_logits: torch.Tensor, state: DecodingState | None) -> torch.Tensor:
        """Label-space logits (float32) of backbone logits (of the rows of ``state``)."""
        return self.verbalizer(lm_logits.float())

    def next_logits(
        self, labels: torch.Tensor, state: DecodingState, packing: Packing | None = None
    ) -> torch.Tensor:
        """Label-space logits ``[N, T, S]`` after feeding ``labels`` ``[N, T]`` to ``state``
        (label sequences side by side with ``packing``)."""
        return self._logits(*self._label_inputs(labels, state), state, packing=packing)

    def label_length_limits(
        self, source: torch.Tensor, source_lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per row, the source length ``max_len_a`` multiplies and the most labels the
        backbone's positions take (``None``: no limit)."""
        raise NotImplementedError

    def forward(
        self,
        source: torch.Tensor,
        source_lengths: torch.Tensor,
        labels: torch.Tensor,
        label_lengths: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Loss on ``y_1..y_M </s>`` only, token accuracy and whole-sequence accuracy.

        labels: label-space ids (``4 + c``) ``[B, M]`` right-padded with ``<pad>``.
        """
        logits = self.sequence_logits(source, source_lengths, labels)
        return label_loss(logits, label_targets(labels, label_lengths), self.label_weights)

    def source_context(self, label_lengths: torch.Tensor) -> tuple[torch.Tensor | None, bool]:
        """Per row, the longest source within the backbone's trained context next to
        ``label_lengths`` labels (``None``: no limit), and whether a longer one fails (learned
        positions) rather than degrades."""
        raise NotImplementedError

    def fit_sources(
        self,
        source: torch.Tensor,
        lengths: torch.Tensor,
        label_lengths: torch.Tensor | None = None,
        max_length: int | None = None,
    ) -> FittedSources:
        """Right-padded ``source`` with every row cut to its first ``max_length`` steps (units or
        samples) and, where a longer row would fail (learned positions), to its trained context
        (see ``source_context``). Reports the first row past its context and the first cut."""
        if label_lengths is None:
            label_lengths = torch.zeros_like(lengths)
        context, hard = self.source_context(label_lengths)
        limit = None if max_length is None else torch.full_like(lengths, max_length)
        if hard and context is not None:
            if bool((context < 0).any()):
                row = int((context < 0).nonzero()[0, 0])
                raise SpeechPromptError(
                    f"a label sequence of {int(label_lengths[row])} tokens leaves no room for the "
                    f"source within the backbone's trained positions ({int(context[row])} left)"
                )
            limit = context if limit is None else torch.minimum(limit, context)
        fitted = FittedSources(source, lengths)
        if context is not None:
            fitted.beyond = _first_over(lengths, context)
        if limit is not None and (cut := _first_over(lengths, limit)) is not None:
            fitted.cut = cut
            fitted.lengths = torch.minimum(lengths, limit)
            fitted.source = source[:, : max(int(fitted.lengths.max()), 1)]
        return fitted

    def set_label_weights(self, weights) -> None:
        """Per-label loss weights (class balancing); the specials (``</s>``) weigh 1. Not saved
        with the trainable state: the task keeps them in its config."""
        table = torch.ones(self.verbalizer.label_space_size)
        table[NUM_SPECIALS:] = torch.as_tensor(weights, dtype=torch.float32)
        device = next(self.backbone.parameters()).device
        self.label_weights = table.to(device)

    def _label_inputs(
        self, labels: torch.Tensor, state: DecodingState | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Placeholder tokens (for positions/padding) and embeddings of label-space ids (of
        the rows of ``state``, when decoding)."""
        decoder = self._label_decoder
        with self.backbone_precision():  # the verbalizer's mix of a bf16 table
            table = self.verbalizer.embedding_table(decoder.embed_tokens.weight)
        embeds = decoder.embed_scale * F.embedding(labels, table)
        return torch.where(labels.eq(PAD), PAD, UNK), embeds

    @torch.no_grad()
    def classify(
        self, source: torch.Tensor, source_lengths: torch.Tensor, candidates: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Index of the best candidate per source, and all scores ``[B, K]``."""
        scores = self.score_candidates(source, source_lengths, candidates)
        return scores.argmax(dim=1), scores

    @torch.no_grad()
    def score_candidates(
        self, source: torch.Tensor, source_lengths: torch.Tensor, candidates: torch.Tensor
    ) -> torch.Tensor:
        """Log-likelihood ``[B, K]`` of each candidate label sequence (``[K, M]``, + ``</s>``)."""
        batch = source.shape[0]
        scores = self.score_each(source, source_lengths, [candidates] * batch)
        return torch.stack(scores)

    @torch.no_grad()
    def score_each(
        self,
        source: torch.Tensor,
        source_lengths: torch.Tensor,
        candidates: Sequence[torch.Tensor],
        start: tuple[DecodingState, torch.Tensor] | None = None,
    ) -> list[torch.Tensor]:
        """Per row, the log-likelihood ``[K_r]`` of each of its own candidate label sequences
        (``candidates[r]``: ``[K_r, M_r]`` right-padded, + ``</s>``).

        The sources (and the first decoder step) run once, or are given as ``start`` (what
        ``start_decoding`` returned for these rows); then each row's candidates run side by
        side in one pass over the row's cached keys/values (``pack_candidates``), none of them
        seeing another.
        """
        state, first = start or self.start_decoding(source, source_lengths)
        tokens, packing, rows, columns = pack_candidates(candidates)
        logits = self.next_logits(tokens.to(first.device), state, packing)
        rows, columns = rows.to(first.device), columns.to(first.device)
        logits = torch.cat([first.index_select(0, rows), logits[rows[:, None], columns]], dim=1)
        cand = torch.cat(
            [F.pad(c, (0, columns.shape[1] - c.shape[1]), value=PAD) for c in candidates]
        )
        cand = cand.to(first.device)
        targets = label_targets(cand, cand.ne(PAD).sum(dim=1))
        return list(sequence_logprobs(logits, targets).split([len(c) for c in candidates]))

    def max_label_lengths(
        self,
        source: torch.Tensor,
        source_lengths: torch.Tensor,
        max_len_a: float | torch.Tensor = 0.0,
        max_len_b: int | torch.Tensor = 200,
    ) -> torch.Tensor:
        """The most labels decoded per source: ``max_len_a * source length + max_len_b``
        (numbers, or per-row tensors ``[B]``), within the backbone's learned positions."""
        basis, limit = self.label_length_limits(source, source_lengths)
        a, b = (torch.as_tensor(v, device=basis.device) for v in (max_len_a, max_len_b))
        max_lengths = (a * basis.float() + b).long()
        return max_lengths if limit is None else torch.minimum(max_lengths, limit)

    @torch.no_grad()
    def search(
        self,
        source: torch.Tensor,
        source_lengths: torch.Tensor,
        beam_size: int = 5,
        max_len_a: float | torch.Tensor = 0.0,
        max_len_b: int | torch.Tensor = 200,
        length_penalty: float = 1.0,
        start: tuple[DecodingState, torch.Tensor] | None = None,
    ) -> list[list[Hypothesis]]:
        """n-best label sequences per source (beam search; ``beam_size=1``: greedy); after
        ``max_label_lengths`` labels (limits per row or for all), ``</s>`` is forced.
        ``start``: as in ``score_each``."""
        if beam_size < 1:
            raise ValueError(f"beam_size must be at least 1, got {beam_size}")
        max_lengths = self.max_label_lengths(source, source_lengths, max_len_a, max_len_b)
        first, advance = self._stepper(start or self.start_decoding(source, source_lengths))
        return beam_search(
            first, advance, max_lengths, EOS, beam_size, length_penalty, NOT_PREDICTED
        )

    @torch.no_grad()
    def sample(
        self,
        source: torch.Tensor,
        source_lengths: torch.Tensor,
        seeds: Sequence[int],
        config: SamplingConfig = SamplingConfig(),
        max_len_a: float | torch.Tensor = 0.0,
        max_len_b: int | torch.Tensor = 200,
        start: tuple[DecodingState, torch.Tensor] | None = None,
    ) -> list[list[Hypothesis]]:
        """``config.num_samples`` sampled label sequences per source, source ``r`` drawing
        from a generator seeded with ``seeds[r]`` (so a batch samples what its rows sample
        alone); lengths and ``start`` as in ``search``."""
        max_lengths = self.max_label_lengths(source, source_lengths, max_len_a, max_len_b)
        first, advance = self._stepper(start or self.start_decoding(source, source_lengths))
        generators = [torch.Generator().manual_seed(int(seed)) for seed in seeds]
        return sample(first, advance, max_lengths, EOS, generators, config, NOT_PREDICTED)

    def _stepper(self, start: tuple[DecodingState, torch.Tensor]):
        """The first label's log-probs ``[B, S]`` and ``advance(index, history)`` of a search
        (``beam_search``, ``sampling.sample``) from what ``start_decoding`` returned."""
        state, first = start

        def advance(index: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
            state.select(index)
            return torch.log_softmax(self.next_logits(history[:, -1:], state)[:, -1].float(), -1)

        return torch.log_softmax(first[:, -1].float(), dim=-1), advance

    @torch.no_grad()
    def generate(
        self,
        source: torch.Tensor,
        source_lengths: torch.Tensor,
        max_length: int = 200,
        beam_size: int = 1,
        **search_options,
    ) -> tuple[list[list[int]], torch.Tensor]:
        """Best label sequence per source (label-space ids, no ``</s>``) and its log-prob."""
        nbest = self.search(
            source, source_lengths, beam_size=beam_size, max_len_b=max_length, **search_options
        )
        best = [hyps[0] for hyps in nbest]
        return [h.tokens for h in best], torch.tensor([h.logprob for h in best])
