"""A fairseq-compatible transformer decoder: the GSLM unit LM, and the decoder of enc-dec models.

x = scale * E[tokens] + P[positions]   (positions count real tokens only; pads get no position)
[input prompt] + x  ->  layers (deep prompts as a key/value prefix)  ->  LayerNorm  ->  x @ E^T
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from .layers import (
    LearnedPositions,
    SinusoidalPositions,
    TransformerLayer,
    layer_prefix,
    make_positions,
    prepend_prompt,
)


@dataclass
class EncoderConfig:
    """Architecture of a fairseq token transformer stack: an encoder (``TransformerEncoder``),
    and what a decoder shares with it (defaults: ``transformer_lm_big``, GSLM)."""

    vocab_size: int
    embed_dim: int = 1024
    ffn_dim: int = 4096
    num_layers: int = 12
    num_heads: int = 16
    normalize_before: bool = True
    final_layer_norm: bool = True
    activation: str = "relu"
    learned_positions: bool = False
    no_positions: bool = False
    max_positions: int = 3072
    scale_embedding: bool = True
    layernorm_embedding: bool = False
    padding_idx: int = 1


@dataclass
class DecoderConfig(EncoderConfig):
    """Architecture of a fairseq ``transformer_lm`` or ``TransformerDecoder``: the stack plus
    the output projection and, in encoder-decoder models, cross-attention."""

    share_input_output_embed: bool = True
    cross_attention: bool = False
    encoder_dim: int | None = None  # cross-attention input width (None: embed_dim)


@dataclass
class DecoderCache:
    """Incremental decoding state: per-layer keys/values (deep-prompt prefix included)."""

    layers: list[dict] = field(default_factory=list)
    key_allowed: torch.Tensor | None = None  # [B, S] True for real keys (prefix, prompt, tokens)
    num_tokens: torch.Tensor | None = None  # [B] real tokens seen, for positions

    @property
    def empty(self) -> bool:
        return self.key_allowed is None

    def reorder(self, index: torch.Tensor, cross: bool = True) -> None:
        """Select/repeat batch rows (beam search, scoring several candidates per source).

        ``cross=False`` leaves the cross-attention keys/values alone: right when every new row
        comes from a row of the same source (beams of one source share them).
        """
        for layer in self.layers:
            for kind, attn in layer.items():
                if kind == "cross" and not cross:
                    continue
                for name, value in attn.items():
                    attn[name] = value.index_select(0, index)
        self.key_allowed = self.key_allowed.index_select(0, index)
        self.num_tokens = self.num_tokens.index_select(0, index)


def attention_mask(
    key_allowed: torch.Tensor, num_queries: int, causal: bool = True
) -> torch.Tensor:
    """Boolean ``[B, 1, T, S]`` mask for the last ``num_queries`` of ``S`` keys.

    A query sees earlier keys that are allowed and always itself (so padded rows stay finite).
    """
    num_keys = key_allowed.shape[1]
    past = num_keys - num_queries
    device = key_allowed.device
    query_pos = torch.arange(num_queries, device=device)[:, None] + past
    key_pos = torch.arange(num_keys, device=device)[None, :]
    visible = key_allowed[:, None, :]
    if causal:
        visible = visible & (key_pos <= query_pos)
    return (visible | (key_pos == query_pos))[:, None]


def build_positions(c: EncoderConfig) -> nn.Module | None:
    """The positional embedding a config asks for (fairseq offsets, pad row zero)."""
    if c.no_positions:
        return None
    if c.learned_positions:
        return LearnedPositions(c.max_positions, c.embed_dim, c.padding_idx)
    return SinusoidalPositions(c.embed_dim, c.padding_idx)


class TransformerStack(nn.Module):
    """What fairseq's token ``TransformerEncoder`` and ``TransformerDecoder`` share (same
    parameter names): embeddings, positions, embedding LayerNorm, layers, final LayerNorm."""

    def __init__(
        self, config: EncoderConfig, cross_attention: bool = False, encoder_dim: int | None = None
    ):
        super().__init__()
        self.config = c = config
        self.padding_idx = c.padding_idx
        self.embed_scale = math.sqrt(c.embed_dim) if c.scale_embedding else 1.0
        self.embed_tokens = nn.Embedding(c.vocab_size, c.embed_dim, padding_idx=c.padding_idx)
        self.embed_positions = build_positions(c)
        self.layernorm_embedding = nn.LayerNorm(c.embed_dim) if c.layernorm_embedding else None
        self.layers = nn.ModuleList(
            TransformerLayer(
                c.embed_dim,
                c.ffn_dim,
                c.num_heads,
                normalize_before=c.normalize_before,
                activation=c.activation,
                cross_attention=cross_attention,
                encoder_dim=encoder_dim,
            )
            for _ in range(c.num_layers)
        )
        has_final_norm = c.normalize_before and c.final_layer_norm
        self.layer_norm = nn.LayerNorm(c.embed_dim) if has_final_norm else None

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def embed_dim(self) -> int:
        return self.config.embed_dim

    def position_limit(self) -> tuple[int | None, bool]:
        """The most real tokens one sequence may hold within the trained positions (``None``:
        no positions, no limit) and whether more fail (learned positions: no row for them)
        rather than degrade (sinusoidal positions: past the trained context)."""
        c = self.config
        if c.no_positions:
            return None, False
        return c.max_positions, c.learned_positions

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Scaled token embeddings (the space the separator and label embeddings live in)."""
        return self.embed_scale * self.embed_tokens(tokens)

    def embed_input(
        self,
        tokens: torch.Tensor,
        embeds: torch.Tensor | None = None,
        offset: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Layer input: ``self.embed(tokens)`` (or ``embeds``) + positions, embedding LayerNorm.

        ``offset`` ([B]) counts real tokens already seen (incremental decoding).
        """
        x = self.embed(tokens) if embeds is None else embeds
        if self.embed_positions is not None:
            x = x + self.embed_positions(make_positions(tokens, self.padding_idx, offset))
        if self.layernorm_embedding is not None:
            x = self.layernorm_embedding(x)
        return x


class TransformerDecoder(TransformerStack):
    """fairseq ``TransformerDecoder`` numerics with input-prompt, deep-prompt and cache hooks."""

    def __init__(self, config: DecoderConfig):
        super().__init__(config, config.cross_attention, config.encoder_dim)
        c = config
        self.output_projection = nn.Linear(c.embed_dim, c.vocab_size, bias=False)
        if c.share_input_output_embed:
            self.output_projection.weight = self.embed_tokens.weight
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """fairseq's initialisation: N(0, d^-0.5) embeddings (pad row 0), xavier linears."""
        dim = self.config.embed_dim
        nn.init.normal_(self.embed_tokens.weight, std=dim**-0.5)
        with torch.no_grad():
            self.embed_tokens.weight[self.padding_idx].zero_()
        if not self.config.share_input_output_embed:
            nn.init.normal_(self.output_projection.weight, std=dim**-0.5)
        for module in self.layers.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(
        self,
        tokens: torch.Tensor,
        *,
        embeds: torch.Tensor | None = None,
        input_prompt: torch.Tensor | None = None,
        deep_prompt: torch.Tensor | None = None,
        cache: DecoderCache | None = None,
        encoder_out: torch.Tensor | None = None,
        encoder_padding_mask: torch.Tensor | None = None,
        features_only: bool = False,
        keep_last: int | None = None,
    ) -> torch.Tensor:
        """Logits ``[B, T, V]`` (or features) for ``tokens`` ``[B, T]``.

        embeds: replaces ``self.embed(tokens)`` (tokens still give positions and padding).
        input_prompt: ``[L, E]`` vectors put before the sequence, without positions.
        deep_prompt: ``[layers, 2, P, E]`` key/value prefix vectors, one pair per layer.
        Prompts are taken only when the cache is empty (they are cached after that).
        keep_last: return only the last ``keep_last`` positions; without a cache the top layer
            then computes queries, FFN and logits for those positions only (training on labels
            at the end of the sequence).
        """
        batch = tokens.shape[0]
        first = cache is None or cache.empty
        offset = None if first else cache.num_tokens
        x = self.embed_input(tokens, embeds, offset)
        allowed = tokens.ne(self.padding_idx)
        num_prompt = 0
        if first and input_prompt is not None:
            num_prompt = input_prompt.shape[-2]
            x = prepend_prompt(x, input_prompt)
        new_allowed = torch.cat([allowed.new_ones(batch, num_prompt), allowed], dim=1)
        if first:
            prefix_len = 0 if deep_prompt is None else deep_prompt.shape[-2]
            past = allowed.new_ones(batch, prefix_len)
        else:
            past = cache.key_allowed
        key_allowed = torch.cat([past, new_allowed], dim=1)
        mask = attention_mask(key_allowed, x.shape[1])
        enc_mask = None
        if encoder_padding_mask is not None:
            enc_mask = ~encoder_padding_mask[:, None, None, :]
        if cache is not None and first:
            cache.layers = [{} for _ in self.layers]
        top = len(self.layers) - 1 if keep_last is not None and cache is None else -1
        deep_prompt = deep_prompt if first else None
        for i, layer in enumerate(self.layers):
            x = layer(
                x,
                mask,
                prefix=layer_prefix(deep_prompt, i, x.dtype),
                cache=None if cache is None else cache.layers[i],
                encoder_out=encoder_out,
                encoder_mask=enc_mask,
                last=keep_last if i == top else None,
            )
        x = x[:, -keep_last:] if keep_last is not None else x[:, num_prompt:]
        if self.layer_norm is not None:
            x = self.layer_norm(x)
        if cache is not None:
            cache.key_allowed = key_allowed
            seen = allowed.sum(dim=1)
            cache.num_tokens = seen if first else cache.num_tokens + seen
        return x if features_only else self.output_projection(x)
