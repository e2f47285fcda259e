"""Encoders of the encoder-decoder backbones, and the model that pairs one with a decoder.

- ``TransformerEncoder``: fairseq's token encoder (Unit mBART):
  ``x = LN_emb(scale * E[tokens] + P[positions])``, pads zeroed, layers, final LN if pre-LN.
- ``HubertSeqEncoder`` (Wav2Seq): a native HuBERT on 16 kHz audio, all layers, then an optional
  projection to the decoder width.

Both take the same prompt hooks: an input prompt put before the layer inputs (no positions) and
a deep prompt (a key/value prefix in every self-attention), and return
``(states [B, S, E], padding_mask [B, S])`` with the input-prompt positions included (unmasked),
so the decoder cross-attends to them as well.
"""

from __future__ import annotations

import torch
from torch import nn

from .hubert import HubertModel
from .layers import PromptVectors, prepend_prompt
from .transformer_lm import (
    DecodingState,
    EncoderOutput,
    TransformerDecoder,
    TransformerStack,
)


def _prompted_layers(
    layers: nn.ModuleList,
    x: torch.Tensor,
    padding_mask: torch.Tensor,
    prompts: PromptVectors | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run bidirectional layers over ``[input prompt; x]`` with a deep-prompt prefix."""
    batch, device = x.shape[0], x.device
    prompts = prompts or PromptVectors()
    if prompts.input is not None:
        x = prepend_prompt(x, prompts.input)
        prompt_pad = ~prompts.input_allowed(batch, device)
        padding_mask = torch.cat([prompt_pad, padding_mask], dim=1)
    allowed = torch.cat([prompts.deep_allowed(batch, device), ~padding_mask], dim=1)
    mask = allowed[:, None, None, :]
    for i, layer in enumerate(layers):
        x = layer(x, mask, prefix=prompts.layer_prefix(i, x.dtype))
    return x, padding_mask


class TransformerEncoder(TransformerStack):
    """fairseq ``TransformerEncoder`` numerics (BART / mBART), built from an
    ``EncoderConfig``; parameter names match."""

    def forward(
        self,
        tokens: torch.Tensor,
        lengths: torch.Tensor | None = None,
        prompts: PromptVectors | None = None,
        embeds: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``tokens`` ``[B, S]`` padded with ``<pad>`` (either side; lengths are implied);
        ``embeds`` replaces ``self.embed(tokens)`` (positions still from ``tokens``)."""
        pad = tokens.eq(self.padding_idx)
        x = self.embed_input(tokens, embeds)
        x = x.masked_fill(pad[..., None], 0.0)
        x, pad = _prompted_layers(self.layers, x, pad, prompts)
        if self.layer_norm is not None:
            x = self.layer_norm(x)
        return x, pad

    def source_lengths(self, tokens: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """Real source positions per row (for ``max_len_a * length + max_len_b``)."""
        return tokens.ne(self.padding_idx).sum(dim=1)


class HubertSeqEncoder(nn.Module):
    """Wav2Seq's ``encoder``: ``w2v_model`` (HuBERT, every layer) + optional ``proj``."""

    def __init__(self, hubert: HubertModel, output_dim: int | None = None):
        super().__init__()
        self.w2v_model = hubert
        dim = hubert.cfg.embed_dim
        self.proj = nn.Linear(dim, output_dim) if output_dim and output_dim != dim else None

    @property
    def layers(self) -> nn.ModuleList:
        """HuBERT's transformer layers (where the deep prompt goes)."""
        return self.w2v_model.encoder.layers

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def embed_dim(self) -> int:
        return self.w2v_model.cfg.embed_dim

    def forward(
        self,
        wav: torch.Tensor,
        lengths: torch.Tensor | None = None,
        prompts: PromptVectors | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``wav`` ``[B, N]`` right-padded 16 kHz samples, ``lengths`` ``[B]`` samples."""
        hubert = self.w2v_model
        x, frames = hubert.embed_frames(wav, lengths)
        pad = torch.arange(x.shape[1], device=x.device)[None, :] >= frames[:, None]
        x, pad = _prompted_layers(hubert.encoder.layers, x, pad, prompts)
        if hubert.encoder.layer_norm_first:
            x = hubert.encoder.layer_norm(x)
        if self.proj is not None:
            x = self.proj(x)
        return x, pad

    @property
    def min_samples(self) -> int:
        """The shortest waveform that gives one frame (the feature extractor's receptive field)."""
        return self.w2v_model.feature_extractor.receptive_field

    def source_lengths(self, wav: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        if lengths is None:
            lengths = torch.full((wav.shape[0],), wav.shape[1], device=wav.device)
        return self.w2v_model.output_lengths(lengths.long())


class EncoderDecoderModel(nn.Module):
    """A frozen-ready encoder-decoder backbone: ``encoder`` + ``decoder`` (fairseq names)."""

    def __init__(self, encoder: TransformerEncoder | HubertSeqEncoder, decoder: TransformerDecoder):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    @property
    def audio_input(self) -> bool:
        return isinstance(self.encoder, HubertSeqEncoder)

    def encode(
        self,
        source: torch.Tensor,
        lengths: torch.Tensor | None = None,
        prompts: PromptVectors | None = None,
        embeds: torch.Tensor | None = None,
    ) -> EncoderOutput:
        """Encoder states of ``source``; ``embeds``: token embeddings to use instead
        (a token encoder's, e.g. with a trainable mask vector)."""
        if embeds is None:
            return EncoderOutput(*self.encoder(source, lengths, prompts))
        return EncoderOutput(*self.encoder(source, lengths, prompts, embeds))

    def forward(
        self, source: torch.Tensor, lengths: torch.Tensor | None, prev_tokens: torch.Tensor
    ) -> torch.Tensor:
        """Teacher-forced logits (no prompts), as fairseq's ``model(src, lengths, prev)``;
        incremental decoding: ``decoder(tokens, state=DecodingState(encode(...)))``."""
        return self.decoder(prev_tokens, state=DecodingState(self.encode(source, lengths)))
