"""A frozen decoder-only unit LM + trainable prompts + a verbalizer (SpeechPrompt).

Sequence: ``[input prompt] </s> u_1..u_T <sep> y_1..y_M </s>``; the loss covers ``y_1..y_M </s>``.
Sources are left-padded and labels right-padded, so every row's label block starts at the same
column; positions count real tokens only, so padding never changes a row's result.
"""

from __future__ import annotations

import torch
from torch import nn

from ..speechlm.beam_search import Hypothesis
from ..speechlm.transformer_lm import DecoderCache, TransformerDecoder
from ..verbalizer.base import Verbalizer
from ..vocab import BOS, EOS, PAD
from .base import PromptedModel, label_loss, label_targets, sequence_logprobs
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

    def source_context(self, label_lengths: torch.Tensor) -> tuple[torch.Tensor | None, bool]:
        """Source and labels share the LM's positions: ``</s> u_1..u_T <sep> y_1..y_M`` fits
        when ``T <= max_positions - 2 - M``."""
        limit, hard = self.backbone.position_limit()
        return (None if limit is None else limit - 2 - label_lengths), hard

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
    def search(
        self,
        units: torch.Tensor,
        unit_lengths: torch.Tensor,
        beam_size: int = 5,
        max_len_a: float = 0.0,
        max_len_b: int = 200,
        length_penalty: float = 1.0,
        use_cache: bool = True,
    ) -> list[list[Hypothesis]]:
        """n-best label sequences per source (beam search; ``beam_size=1``: greedy).

        At most ``max_len_a * unit_length + max_len_b`` labels, then ``</s>`` is forced.
        """
        block = source_block(units, unit_lengths, self.sep_index)
        max_lengths = (max_len_a * unit_lengths.float() + max_len_b).long()
        room, hard = self.source_context(unit_lengths)  # labels left by the source
        if hard and room is not None:
            max_lengths = torch.minimum(max_lengths, room.clamp(min=0))
        cache = DecoderCache() if use_cache else None
        first = self._run(block, self._embed_source(block), cache)[:, -1]
        rows = {"index": torch.arange(units.shape[0], device=units.device)}

        def advance(index: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
            if cache is None:
                rows["index"] = rows["index"].index_select(0, index)
                logits = self._full_sequence_logits(block.index_select(0, rows["index"]), history)
            else:
                same = len(index) == len(rows["index"]) and bool(
                    torch.equal(index, torch.arange(len(index), device=index.device))
                )
                if not same:
                    cache.reorder(index)
                    rows["index"] = rows["index"].index_select(0, index)
                logits = self._run(*self._label_inputs(history[:, -1:]), cache)
            return torch.log_softmax(logits[:, -1].float(), dim=-1)

        return self._run_search(first, advance, max_lengths, beam_size, length_penalty)
