"""A frozen decoder-only unit LM + trainable prompts + a verbalizer (SpeechPrompt).

Sequence: ``[input prompt] </s> u_1..u_T <sep> y_1..y_M </s>``; the loss covers ``y_1..y_M </s>``.
Sources are left-padded and labels right-padded, so every row's label block starts at the same
column; positions count real tokens only, so padding never changes a row's result.
"""

from __future__ import annotations

import torch
from torch import nn

from ..checkpoints.dictionary import BOS, EOS, PAD
from ..speechlm.transformer_lm import DecoderCache, TransformerDecoder
from ..verbalizer.base import Verbalizer
from .base import NOT_PREDICTED, PromptedModel, label_loss, label_targets, sequence_logprobs
from .prompts import PromptConfig, Prompts


def source_block(units: torch.Tensor, lengths: torch.Tensor, sep: int = BOS) -> torch.Tensor:
    """Right-padded units ``[B, T]`` -> left-padded ``[B, T + 2]`` rows ``</s> u_1..u_T <sep>``."""
    batch, width = units.shape
    block = units.new_full((batch, width + 2), PAD)
    shift = width - lengths
    steps = torch.arange(width, device=units.device)
    valid = steps[None, :] < lengths[:, None]
    rows = torch.arange(batch, device=units.device)[:, None].expand(-1, width)
    block[rows[valid], (steps[None, :] + shift[:, None] + 1)[valid]] = units[valid]
    block[torch.arange(batch, device=units.device), shift] = EOS
    block[:, -1] = sep
    return block


class PromptedUnitLM(PromptedModel, nn.Module):
    def __init__(
        self,
        backbone: TransformerDecoder,
        verbalizer: Verbalizer,
        prompt_config: PromptConfig | None = None,
        sep_index: int = BOS,
    ):
        super().__init__()
        self._set_backbone(backbone)
        c = backbone.config
        self.prompts = Prompts(prompt_config or PromptConfig(), c.num_layers, c.embed_dim)
        self.verbalizer = verbalizer
        self.sep_index = sep_index

    @property
    def _label_decoder(self) -> TransformerDecoder:
        return self.backbone

    # ----------------------------------------------------------------- embeddings
    def _embed_source(self, block: torch.Tensor) -> torch.Tensor:
        embeds = self.backbone.embed(block)
        separator = self.prompts.separator
        if separator is not None:
            is_sep = block.eq(self.sep_index)[..., None]
            embeds = torch.where(is_sep, separator.to(embeds.dtype), embeds)
        return embeds

    def _run(
        self, tokens, embeds, cache: DecoderCache | None = None, keep_last: int | None = None
    ) -> torch.Tensor:
        """Label-space logits for every position of ``tokens`` (or the last ``keep_last``)."""
        lm_logits = self.backbone(
            tokens,
            embeds=embeds,
            input_prompt=self.prompts.input(),
            deep_prompt=self.prompts.deep(),
            cache=cache,
            keep_last=keep_last,
        )
        return self.verbalizer(lm_logits)

    def _full_sequence_logits(self, block: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, M + 1, 4 + C]`` predicting ``y_1..y_M </s>`` (teacher forcing)."""
        label_tokens, label_embeds = self._label_inputs(labels)
        tokens = torch.cat([block, label_tokens], dim=1)
        embeds = torch.cat([self._embed_source(block), label_embeds], dim=1)
        return self._run(tokens, embeds, keep_last=labels.shape[1] + 1)

    # ----------------------------------------------------------------- training
    def forward(
        self,
        units: torch.Tensor,
        unit_lengths: torch.Tensor,
        labels: torch.Tensor,
        label_lengths: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Loss on label tokens only, token accuracy and whole-sequence accuracy.

        units: backbone token ids ``[B, T]`` right-padded with ``<pad>``;
        labels: label-space ids (``4 + c``) ``[B, M]`` right-padded with ``<pad>``.
        """
        block = source_block(units, unit_lengths, self.sep_index)
        logits = self._full_sequence_logits(block, labels)
        return label_loss(logits, label_targets(labels, label_lengths), self.label_weights)

    # ----------------------------------------------------------------- inference
    @torch.no_grad()
    def score_candidates(
        self,
        units: torch.Tensor,
        unit_lengths: torch.Tensor,
        candidates: torch.Tensor,
        use_cache: bool = True,
    ) -> torch.Tensor:
        """Log-likelihood ``[B, K]`` of each candidate label sequence (``[K, M]``, + ``</s>``).

        The sources run once; their cache is shared by all K candidates in one batched pass.
        """
        batch, num = units.shape[0], candidates.shape[0]
        block = source_block(units, unit_lengths, self.sep_index)
        cand = candidates.repeat(batch, 1)
        cand_lengths = cand.ne(PAD).sum(dim=1)
        if use_cache:
            cache = DecoderCache()
            first = self._run(block, self._embed_source(block), cache)[:, -1:]
            cache.reorder(torch.arange(batch, device=units.device).repeat_interleave(num))
            label_tokens, label_embeds = self._label_inputs(cand)
            rest = self._run(label_tokens, label_embeds, cache)
            logits = torch.cat([first.repeat_interleave(num, dim=0), rest], dim=1)
        else:
            logits = self._full_sequence_logits(block.repeat_interleave(num, dim=0), cand)
        return sequence_logprobs(logits, label_targets(cand, cand_lengths)).view(batch, num)

    @torch.no_grad()
    def generate(
        self,
        units: torch.Tensor,
        unit_lengths: torch.Tensor,
        max_length: int = 200,
        use_cache: bool = True,
    ) -> tuple[list[list[int]], torch.Tensor]:
        """Greedy label sequences (label-space ids, without ``</s>``) and their log-probs."""
        batch = units.shape[0]
        block = source_block(units, unit_lengths, self.sep_index)
        cache = DecoderCache() if use_cache else None
        logits = self._run(block, self._embed_source(block), cache)[:, -1]
        outputs = units.new_empty(batch, 0)
        scores = torch.zeros(batch, device=units.device)
        done = torch.zeros(batch, dtype=torch.bool, device=units.device)
        for step in range(max_length + 1):
            logprobs = torch.log_softmax(logits.float(), dim=-1)
            logprobs[:, list(NOT_PREDICTED)] = float("-inf")
            if step == max_length:
                logprobs[:, EOS + 1 :] = float("-inf")  # force the end
            best, choice = logprobs.max(dim=-1)
            scores = scores + torch.where(done, 0.0, best)
            choice = torch.where(done, PAD, choice)
            done = done | choice.eq(EOS)
            if done.all():
                break
            outputs = torch.cat([outputs, torch.where(done, PAD, choice)[:, None]], dim=1)
            if use_cache:
                tokens, embeds = self._label_inputs(outputs[:, -1:])
                logits = self._run(tokens, embeds, cache)[:, -1]
            else:
                logits = self._full_sequence_logits(block, outputs)[:, -1]
        hypotheses = [[int(t) for t in row if t != PAD] for row in outputs]
        return hypotheses, scores
