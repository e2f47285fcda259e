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

from ..speechlm.beam_search import Hypothesis
from ..speechlm.encoder import EncoderDecoderModel, EncoderOutput
from ..speechlm.transformer_lm import DecoderCache, TransformerDecoder
from ..verbalizer.base import Verbalizer
from ..vocab import EOS, PAD
from .base import PromptedModel, label_loss, label_targets, sequence_logprobs
from .prompts import PromptConfig, Prompts

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
                    decoder_deep_length=None),
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
        if not self.backbone.audio_input:
            source = append_eos(source, lengths)
            lengths = lengths + 1
        out = self.backbone.encode(
            source,
            lengths,
            input_prompt=self.encoder_prompts.input(),
            deep_prompt=self.encoder_prompts.deep(),
        )
        if not self.backbone.audio_input:
            out.source_lengths = out.source_lengths - 1  # units, not counting </s>
        return out

    def _start_inputs(self, batch: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = torch.full((batch, 1), self.decoder_start, dtype=torch.long, device=device)
        return tokens, self.backbone.decoder.embed(tokens)

    def _decoder_inputs(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        start_tokens, start_embeds = self._start_inputs(labels.shape[0], labels.device)
        tokens, embeds = self._label_inputs(labels)
        return torch.cat([start_tokens, tokens], 1), torch.cat([start_embeds, embeds], 1)

    def _run(
        self, tokens, embeds, encoder_out: EncoderOutput, cache: DecoderCache | None = None
    ) -> torch.Tensor:
        """Label-space logits for every decoder position."""
        lm_logits = self.backbone.decode(
            tokens, encoder_out, embeds=embeds, deep_prompt=self.decoder_prompts.deep(), cache=cache
        )
        return self.verbalizer(lm_logits)

    # ----------------------------------------------------------------- training
    def forward(
        self,
        source: torch.Tensor,
        source_lengths: torch.Tensor,
        labels: torch.Tensor,
        label_lengths: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Loss on ``y_1..y_M </s>``, token accuracy and whole-sequence accuracy."""
        encoder_out = self.encode(source, source_lengths)
        logits = self._run(*self._decoder_inputs(labels), encoder_out)
        return label_loss(logits, label_targets(labels, label_lengths), self.label_weights)

    # ----------------------------------------------------------------- inference
    @torch.no_grad()
    def score_candidates(
        self,
        source: torch.Tensor,
        source_lengths: torch.Tensor,
        candidates: torch.Tensor,
        use_cache: bool = True,
    ) -> torch.Tensor:
        """Log-likelihood ``[B, K]`` of each candidate label sequence (``[K, M]``, + ``</s>``).

        The encoder runs once per source; with the cache, the first decoder step and the
        cross-attention keys/values are computed once per source and shared by the K rows.
        """
        batch, num = source.shape[0], candidates.shape[0]
        encoder_out = self.encode(source, source_lengths)
        cand = candidates.repeat(batch, 1)
        expand = torch.arange(batch, device=source.device).repeat_interleave(num)
        if use_cache:
            cache = DecoderCache()
            first = self._run(*self._start_inputs(batch, source.device), encoder_out, cache)
            cache.reorder(expand)
            rest = self._run(*self._label_inputs(cand), encoder_out.index_select(expand), cache)
            logits = torch.cat([first.index_select(0, expand), rest], dim=1)
        else:
            logits = self._run(*self._decoder_inputs(cand), encoder_out.index_select(expand))
        targets = label_targets(cand, cand.ne(PAD).sum(dim=1))
        return sequence_logprobs(logits, targets).view(batch, num)

    @torch.no_grad()
    def search(
        self,
        source: torch.Tensor,
        source_lengths: torch.Tensor,
        beam_size: int = 5,
        max_len_a: float = 0.0,
        max_len_b: int = 200,
        length_penalty: float = 1.0,
        use_cache: bool = True,
    ) -> list[list[Hypothesis]]:
        """n-best label sequences per source (beam search; ``beam_size=1``: greedy).

        At most ``max_len_a * source_length + max_len_b`` labels (source length in units, or
        in encoder frames for audio), then ``</s>`` is forced.
        """
        batch, device = source.shape[0], source.device
        encoder_out = self.encode(source, source_lengths)
        max_lengths = (max_len_a * encoder_out.source_lengths.float() + max_len_b).long()
        limit, hard = self.backbone.decoder.position_limit()
        if hard and limit is not None:  # <start> y_1..y_L in the decoder's learned positions
            max_lengths = max_lengths.clamp(max=limit - 1)
        start = self._start_inputs(batch, device)
        cache = DecoderCache() if use_cache else None
        first = self._run(*start, encoder_out, cache)[:, -1]
        identity = torch.arange(batch, device=device)
        rows = {"source": identity, "identity": identity, "enc": encoder_out}

        def advance(index: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
            source_of = rows["source"].index_select(0, index)
            same_layout = source_of.shape == rows["source"].shape and bool(
                torch.equal(source_of, rows["source"])
            )
            if not same_layout:
                rows["enc"] = encoder_out.index_select(source_of)
            rows["source"] = source_of
            if len(rows["identity"]) != len(index):
                rows["identity"] = torch.arange(len(index), device=device)
            if cache is not None:
                identity = same_layout and bool(torch.equal(index, rows["identity"]))
                if not identity:
                    cache.reorder(index, cross=not same_layout)
                inputs = self._label_inputs(history[:, -1:])
            else:
                start_n = self._start_inputs(len(index), device)
                labels = self._label_inputs(history)
                inputs = tuple(torch.cat([a, b], 1) for a, b in zip(start_n, labels, strict=True))
            logits = self._run(*inputs, rows["enc"], cache)[:, -1]
            return torch.log_softmax(logits.float(), dim=-1)

        return self._run_search(first, advance, max_lengths, beam_size, length_penalty)
