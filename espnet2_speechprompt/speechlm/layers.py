"""Transformer building blocks with fairseq's numerics, prefix keys/values and a key/value cache.

Tensors are batch-first, ``[batch, time, channels]``. Parameter names match fairseq's
(``self_attn.k_proj``, ``fc1``, ``final_layer_norm`` ...) so a fairseq state dict loads as is.

Deep prompts enter attention as a *prefix*: hidden vectors that are passed through the layer's
own (frozen) key/value projections and put in front of the keys/values of the sequence.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

AttentionCache = dict[str, torch.Tensor]


def make_positions(tokens: torch.Tensor, padding_idx: int, offset: torch.Tensor | None = None):
    """fairseq position ids: 1 + padding_idx for the first real token, padding_idx for pads.

    ``offset`` ([batch]) counts real tokens already seen (incremental decoding).
    """
    real = tokens.ne(padding_idx).long()
    positions = torch.cumsum(real, dim=1)
    if offset is not None:
        positions = positions + offset[:, None]
    return positions * real + padding_idx


def prepend_prompt(x: torch.Tensor, input_prompt: torch.Tensor) -> torch.Tensor:
    """``[input prompt; x]``: the ``[L, E]`` prompt put before every row of ``x`` ``[B, T, E]``."""
    return torch.cat([input_prompt.expand(x.shape[0], -1, -1).to(x.dtype), x], dim=1)


def layer_prefix(
    deep_prompt: torch.Tensor | None, layer: int, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Layer ``layer``'s key/value prefix from a ``[layers, 2, P, E]`` deep prompt (or None)."""
    if deep_prompt is None:
        return None
    return deep_prompt[layer, 0].to(dtype), deep_prompt[layer, 1].to(dtype)


class SinusoidalPositions(nn.Module):
    """fairseq's sinusoidal table: ``[sin | cos]`` halves (not interleaved), pad row zero."""

    def __init__(self, dim: int, padding_idx: int):
        super().__init__()
        self.dim, self.padding_idx = dim, padding_idx
        half = dim // 2
        step = math.log(10000) / (half - 1)
        self.register_buffer(
            "frequencies",
            torch.exp(torch.arange(half, dtype=torch.float) * -step),
            persistent=False,
        )

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        angles = positions.float()[..., None] * self.frequencies
        table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)
        if self.dim % 2 == 1:
            table = F.pad(table, (0, 1))
        return table.masked_fill(positions.eq(self.padding_idx)[..., None], 0.0)


class LearnedPositions(nn.Embedding):
    """fairseq's learned positions: ``max_positions + padding_idx + 1`` rows, same offsets."""

    def __init__(self, max_positions: int, dim: int, padding_idx: int):
        super().__init__(max_positions + padding_idx + 1, dim, padding_idx=padding_idx)


class MultiheadAttention(nn.Module):
    """fairseq ``MultiheadAttention``: q is scaled after its bias; k/v are cached unscaled."""

    def __init__(self, embed_dim: int, num_heads: int, kv_dim: int | None = None):
        super().__init__()
        kv_dim = kv_dim or embed_dim
        self.num_heads, self.head_dim = num_heads, embed_dim // num_heads
        self.scaling = self.head_dim**-0.5
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.k_proj = nn.Linear(kv_dim, embed_dim)
        self.v_proj = nn.Linear(kv_dim, embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.num_heads, self.head_dim)).transpose(-3, -2)

    def forward(
        self,
        query: torch.Tensor,
        source: torch.Tensor | None = None,
        *,
        prefix: tuple[torch.Tensor, torch.Tensor] | None = None,
        mask: torch.Tensor | None = None,
        cache: AttentionCache | None = None,
        static_kv: bool = False,
    ) -> torch.Tensor:
        """Attend from ``query`` to ``source`` (itself when None).

        prefix: hidden vectors (``[P, E]`` or ``[B, P, E]``) for keys and values, projected by
            k_proj/v_proj and put first; added only when the cache is empty.
        mask: boolean, True where a query may attend, broadcastable to ``[B, H, T, S]``.
        cache: per-layer dict; new keys/values are appended (or, with ``static_kv``, computed
            once and reused — cross-attention).
        """
        q = self._heads(self.q_proj(query) * self.scaling)
        if static_kv and cache is not None and "k" in cache:
            k, v = cache["k"], cache["v"]
        else:
            source = query if source is None else source
            k, v = self._heads(self.k_proj(source)), self._heads(self.v_proj(source))
            first = cache is None or "k" not in cache
            if prefix is not None and first:
                batch = (q.shape[0], -1, -1, -1)
                pk = self._heads(self.k_proj(prefix[0])).expand(batch)
                pv = self._heads(self.v_proj(prefix[1])).expand(batch)
                k, v = torch.cat([pk, k], dim=2), torch.cat([pv, v], dim=2)
            if cache is not None:
                if not first and not static_kv:
                    k, v = torch.cat([cache["k"], k], dim=2), torch.cat([cache["v"], v], dim=2)
                cache["k"], cache["v"] = k, v
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1.0)
        return self.out_proj(out.transpose(-3, -2).flatten(-2))


def _gelu(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x.float()).type_as(x)


ACTIVATIONS = {"relu": F.relu, "gelu": _gelu}


class TransformerLayer(nn.Module):
    """One fairseq encoder or decoder layer, pre-LN or post-LN, with optional cross-attention.

    pre-LN:  x += SA(LN(x)); x += CA(LN(x), enc); x += FFN(LN(x))
    post-LN: x = LN(x + SA(x)); x = LN(x + CA(x, enc)); x = LN(x + FFN(x))
    """

    def __init__(
        self,
        embed_dim: int,
        ffn_dim: int,
        num_heads: int,
        *,
        normalize_before: bool,
        activation: str = "relu",
        cross_attention: bool = False,
        encoder_dim: int | None = None,
    ):
        super().__init__()
        self.normalize_before = normalize_before
        self.activation = ACTIVATIONS[activation]
        self.self_attn = MultiheadAttention(embed_dim, num_heads)
        self.self_attn_layer_norm = nn.LayerNorm(embed_dim)
        self.encoder_attn = None
        if cross_attention:
            self.encoder_attn = MultiheadAttention(embed_dim, num_heads, encoder_dim)
            self.encoder_attn_layer_norm = nn.LayerNorm(embed_dim)
        self.fc1 = nn.Linear(embed_dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, embed_dim)
        self.final_layer_norm = nn.LayerNorm(embed_dim)

    def _block(self, x: torch.Tensor, norm: nn.LayerNorm, fn) -> torch.Tensor:
        if self.normalize_before:
            return x + fn(norm(x))
        return norm(x + fn(x))

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        *,
        prefix: tuple[torch.Tensor, torch.Tensor] | None = None,
        cache: dict[str, AttentionCache] | None = None,
        encoder_out: torch.Tensor | None = None,
        encoder_mask: torch.Tensor | None = None,
        last: int | None = None,
    ) -> torch.Tensor:
        """``last``: compute only the last ``last`` positions (their keys/values still see
        every position); used for the top layer when only those outputs are needed."""
        self_cache = None if cache is None else cache.setdefault("self", {})
        if last is None:
            x = self._block(
                x,
                self.self_attn_layer_norm,
                lambda h: self.self_attn(h, prefix=prefix, mask=mask, cache=self_cache),
            )
        else:
            source = self.self_attn_layer_norm(x) if self.normalize_before else x
            h = self.self_attn(source[:, -last:], source, prefix=prefix, mask=mask[..., -last:, :])
            x = x[:, -last:] + h
            if not self.normalize_before:
                x = self.self_attn_layer_norm(x)
        if self.encoder_attn is not None:
            cross_cache = None if cache is None else cache.setdefault("cross", {})
            x = self._block(
                x,
                self.encoder_attn_layer_norm,
                lambda h: self.encoder_attn(
                    h, encoder_out, mask=encoder_mask, cache=cross_cache, static_kv=True
                ),
            )
        return self._block(
            x, self.final_layer_norm, lambda h: self.fc2(self.activation(self.fc1(h)))
        )
