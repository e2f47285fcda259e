"""A frozen decoder-only unit LM + trainable prompts + a verbalizer (SpeechPrompt).

Sequence: ``[input prompt] </s> u_1..u_T <sep> y_1..y_M </s>``; the loss covers ``y_1..y_M </s>``.
Sources are left-padded and labels right-padded, so every row's label block starts at the same
column; positions count real tokens only, so padding never changes a row's result.
"""

from __future__ import annotations

import torch
from torch import nn

from ..batching import left_padded
from ..speechlm.layers import PromptVectors
from ..speechlm.transformer_lm import DecodingState, Packing, TransformerDecoder
from ..verbalizer.base import Verbalizer
from ..vocab import BOS
from .base import PromptedModel
from .prompts import PromptConfig, Prompts, masked_embeds


def source_block(units: torch.Tensor, lengths: torch.Tensor, sep: int = BOS) -> torch.Tensor:
    """Right-padded units ``[B, T]`` -> left-padded ``[B, T + 2]`` rows ``</s> u_1..u_T <sep>``."""
    return left_padded(units, lengths, last=sep)


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
        embeds = masked_embeds(self.backbone, block, self.prompts.mask)
        separator = self.prompts.separator
        if separator is not None:
            is_sep = block.eq(self.sep_index)[..., None]
            embeds = torch.where(is_sep, separator.to(embeds.dtype), embeds)
        return embeds

    def _logits(
        self,
        tokens: torch.Tensor,
        embeds: torch.Tensor,
        state: DecodingState | None = None,
        keep_last: int | None = None,
        packing: Packing | None = None,
    ) -> torch.Tensor:
        """Label-space logits for every position of ``tokens`` (or the last ``keep_last``)."""
        with self.backbone_precision():
            prompts = self._prompt_vectors()
            lm_logits = self.backbone(tokens, embeds, prompts, state, keep_last, packing)
        return self._verbalize(lm_logits, state)

    def _prompt_vectors(self) -> PromptVectors:
        return self.prompts.vectors()

    # ----------------------------------------------------------------- training
    def sequence_logits(
        self, units: torch.Tensor, unit_lengths: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        """Logits ``[B, M + 1, 4 + C]`` predicting ``y_1..y_M </s>`` (teacher forcing); the top
        layer computes the label positions only.

        units: backbone token ids ``[B, T]`` right-padded with ``<pad>``;
        labels: label-space ids (``4 + c``) ``[B, M]`` right-padded with ``<pad>``.
        """
        block = source_block(units, unit_lengths, self.sep_index)
        label_tokens, label_embeds = self._label_inputs(labels)
        tokens = torch.cat([block, label_tokens], dim=1)
        embeds = torch.cat([self._embed_source(block), label_embeds], dim=1)
        return self._logits(tokens, embeds, keep_last=labels.shape[1] + 1)

    # ----------------------------------------------------------------- inference
    def start_decoding(
        self, units: torch.Tensor, unit_lengths: torch.Tensor
    ) -> tuple[DecodingState, torch.Tensor]:
        block = source_block(units, unit_lengths, self.sep_index)
        state = DecodingState()
        return state, self._logits(block, self._embed_source(block), state)[:, -1:]

    def label_length_limits(
        self, units: torch.Tensor, unit_lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``max_len_a`` counts units; labels share the LM's positions with the source."""
        room, hard = self.source_context(unit_lengths)  # labels left by the source
        return unit_lengths, room.clamp(min=0) if hard and room is not None else None
