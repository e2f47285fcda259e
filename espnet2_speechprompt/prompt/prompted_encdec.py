"""A frozen encoder-decoder (Unit mBART, Wav2Seq) + trainable prompts + a verbalizer.

Encoder: ``[input prompt] u_1..u_T </s>`` (units; or raw audio for Wav2Seq), a deep prompt
(key/value prefix) in every self-attention layer. Decoder: ``<start> y_1..y_M`` predicting
``y_1..y_M </s>``, a deep prompt in every self-attention layer; it cross-attends to the encoder
states including the input-prompt positions. ``<start>`` is a backbone token (``</s>`` as in
fairseq's generation; a language tag for multilingual models); labels are fed back through the
verbalizer's embedding table, as in ``PromptedUnitLM``. No separator: source and labels are on
different sides, so ``PromptConfig.separator`` is not used.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from ..speechlm.encoder import EncoderDecoderModel
from ..speechlm.layers import PromptVectors
from ..speechlm.transformer_lm import DecodingState, EncoderOutput, Packing, TransformerDecoder
from ..verbalizer.base import Verbalizer
from ..vocab import EOS, PAD
from .base import PromptedModel
from .prompts import PromptConfig, Prompts, masked_embeds

logger = logging.getLogger(__name__)


def append_eos(units: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Right-padded units ``[B, T]`` -> ``[B, T + 1]`` rows ``u_1..u_T </s>``."""
    block = F.pad(units, (0, 1), value=PAD)
    block[torch.arange(units.shape[0], device=units.device), lengths] = EOS
    return block


class PromptedEncoderDecoder(PromptedModel, nn.Module):
    def __init__(
        self,
        backbone: EncoderDecoderModel,
        verbalizer: Verbalizer,
        prompt_config: PromptConfig | None = None,
        decoder_start: int = EOS,
    ):
        super().__init__()
        self._set_backbone(backbone)
        c = prompt_config or PromptConfig()
        if c.separator:
            logger.info("encoder-decoder backbone: no separator prompt (prompt_conf.separator)")
        encoder, decoder = backbone.encoder, backbone.decoder.config
        self.encoder_prompts = Prompts(
            replace(c, separator=False, decoder_deep_length=None),
            encoder.num_layers,
            encoder.embed_dim,
        )
        dec_deep = c.deep_length if c.decoder_deep_length is None else c.decoder_deep_length
        self.decoder_prompts = Prompts(
            replace(c, input_length=0, deep_length=dec_deep, separator=False,
                    decoder_deep_length=None, mask_vector=False),
            decoder.num_layers,
            decoder.embed_dim,
        )  # fmt: skip
        self.verbalizer = verbalizer
        self.decoder_start = decoder_start

    @property
    def _label_decoder(self) -> TransformerDecoder:
        return self.backbone.decoder

    def source_context(self, label_lengths: torch.Tensor) -> tuple[torch.Tensor | None, bool]:
        """Units: ``u_1..u_T </s>`` in the encoder's positions (labels are on the decoder side).
        Audio: HuBERT's convolutional positions have no maximum, so no limit."""
        if self.backbone.audio_input:
            return None, False
        limit, hard = self.backbone.encoder.position_limit()
        if limit is None:
            return None, False
        return torch.full_like(label_lengths, limit - 1), hard

    # ----------------------------------------------------------------- pieces
    def encode(self, source: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        """Units ``[B, T]`` (right-padded backbone ids) or audio ``[B, N]`` -> encoder states."""
        embeds = None
        if not self.backbone.audio_input:
            source = append_eos(source, lengths)
            lengths = lengths + 1
            embeds = self._masked_source_embeds(source)
        with self.backbone_precision():
            prompts = self._prompt_vectors("encoder")
            return self.backbone.encode(source, lengths, prompts, embeds=embeds)

    def _masked_source_embeds(self, source: torch.Tensor) -> torch.Tensor | None:
        """Source embeddings with the trainable mask vector at masked units (``masked_embeds``);
        None without a mask vector (the encoder embeds the tokens itself)."""
        mask = self.encoder_prompts.mask
        return None if mask is None else masked_embeds(self.backbone.encoder, source, mask)

    def _prompt_vectors(self, side: str) -> PromptVectors:
        """The ``encoder``'s or the ``decoder``'s prompts."""
        return (self.encoder_prompts if side == "encoder" else self.decoder_prompts).vectors()

    def _start_inputs(self, batch: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = torch.full((batch, 1), self.decoder_start, dtype=torch.long, device=device)
        return tokens, self.backbone.decoder.embed(tokens)

    def _logits(
        self, tokens, embeds, state: DecodingState, packing: Packing | None = None
    ) -> torch.Tensor:
        """Label-space logits for every decoder position."""
        with self.backbone_precision():
            prompts = self._prompt_vectors("decoder")
            lm_logits = self.backbone.decoder(tokens, embeds, prompts, state, packing=packing)
        return self._verbalize(lm_logits, state)

    # ----------------------------------------------------------------- training
    def sequence_logits(
        self, source: torch.Tensor, source_lengths: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        """Logits ``[B, M + 1, 4 + C]`` of the decoder on ``<start> y_1..y_M`` (teacher
        forcing), predicting ``y_1..y_M </s>``."""
        state = DecodingState(self.encode(source, source_lengths))
        start_tokens, start_embeds = self._start_inputs(labels.shape[0], labels.device)
        tokens, embeds = self._label_inputs(labels)
        tokens, embeds = torch.cat([start_tokens, tokens], 1), torch.cat([start_embeds, embeds], 1)
        return self._logits(tokens, embeds, state)

    # ----------------------------------------------------------------- inference
    def start_decoding(
        self, source: torch.Tensor, source_lengths: torch.Tensor
    ) -> tuple[DecodingState, torch.Tensor]:
        state = DecodingState(self.encode(source, source_lengths))
        return state, self._logits(*self._start_inputs(source.shape[0], source.device), state)

    def label_length_limits(
        self, source: torch.Tensor, source_lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``max_len_a`` counts units, or encoder frames for audio; ``<start> y_1..y_L`` must
        fit the decoder's learned positions."""
        basis = self.backbone.encoder.source_lengths(source, source_lengths)
        limit, hard = self.backbone.decoder.position_limit()
        return basis, torch.full_like(basis, limit - 1) if hard and limit is not None else None
