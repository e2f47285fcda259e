"""Transformer building blocks with fairseq's numerics, prefix keys/values and a key/value cache.

Tensors are batch-first, ``[batch, time, channels]``. Parameter names match fairseq's
(``self_attn.k_proj``, ``fc1``, ``final_layer_norm`` ...) so a fairseq state dict loads as is.

Deep prompts enter attention as a *prefix*: hidden vectors that are passed through the layer's
own (frozen) key/value projections and put in front of the keys/values of the sequence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

KeyValues = tuple[torch.Tensor, torch.Tensor]  # [B, H, S, D] keys and values, split in heads


class ProjectedPrefix(NamedTuple):
    """A layer's deep-prompt prefix already through its frozen k/v projections: keys and
    values ``[B or 1, H, P, D]`` (computed once per task, ``project_deep_prompt``)."""

    keys: torch.Tensor
    values: torch.Tensor


Prefix = tuple[torch.Tensor, torch.Tensor] | ProjectedPrefix


@dataclass
class PromptVectors:
    """Prompt inputs: ``input`` ``[L, E]`` (or per row ``[B, L, E]``) vectors put before the
    layer inputs (no positions); the deep prompt as ``deep`` ``[layers, 2, P, E]`` key/value
    hidden vectors per layer, or as ``deep_kv``, one ``ProjectedPrefix`` per layer. Rows with
    prompts of different lengths are padded; ``input_mask`` ``[B, L]`` and ``deep_mask``
    ``[B, P]`` are True at their real vectors (None: all real)."""

    input: torch.Tensor | None = None
    deep: torch.Tensor | None = None
    deep_kv: list[ProjectedPrefix] | None = None
    input_mask: torch.Tensor | None = None
    deep_mask: torch.Tensor | None = None

    @property
    def input_length(self) -> int:
        return 0 if self.input is None else self.input.shape[-2]

    @property
    def deep_length(self) -> int:
        if self.deep_kv is not None:
            return self.deep_kv[0].keys.shape[-2]
        return 0 if self.deep is None else self.deep.shape[-2]

    def layer_prefix(self, layer: int, dtype: torch.dtype) -> Prefix | None:
        """Layer ``layer``'s key/value prefix (hidden vectors in ``dtype``, or projected)."""
        if self.deep_kv is not None:
            return self.deep_kv[layer]
        if self.deep is None:
            return None
        return self.deep[layer, 0].to(dtype), self.deep[layer, 1].to(dtype)

    def input_allowed(self, batch: int, device: torch.device) -> torch.Tensor:
        """``[B, L]``: True at the real input-prompt vectors."""
        if self.input_mask is not None:
            return self.input_mask
        return torch.ones(batch, self.input_length, dtype=torch.bool, device=device)

    def deep_allowed(self, batch: int, device: torch.device) -> torch.Tensor:
        """``[B, P]``: True at the real deep-prompt keys."""
        if self.deep_mask is not None:
            return self.deep_mask
        return torch.ones(batch, self.deep_length, dtype=torch.bool, device=device)


@dataclass
class LayerCache:
    """One layer's keys/values so far: self-attention (grown at every call) and cross-attention
    (computed once from the encoder output)."""

    self_kv: KeyValues | None = None
    cross_kv: KeyValues | None = None

    def add_self(self, keys_values: KeyValues) -> KeyValues:
        """This call's self-attention keys/values after the earlier ones; returns all of them."""
        if self.self_kv is not None:
            keys_values = tuple(
                torch.cat([past, new], dim=2)
                for past, new in zip(self.self_kv, keys_values, strict=True)
            )
        self.self_kv = keys_values
        return keys_values

    def select(self, index: torch.Tensor, cross: bool) -> None:
        """Keep/repeat batch rows ``index``; the cross-attention part only when ``cross``."""
        self.self_kv = _select(self.self_kv, index)
        if cross:
            self.cross_kv = _select(self.cross_kv, index)


def _select(kv: KeyValues | None, index: torch.Tensor) -> KeyValues | None:
    return None if kv is None else (kv[0].index_select(0, index), kv[1].index_select(0, index))


def attention(
    queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None
) -> torch.Tensor:
    """Softmax attention of already scaled ``queries`` ``[B, H, T, D]``. On CPU, a decoding
    step's single query goes through a matrix product and a float32 softmax: the CPU kernels
    of ``scaled_dot_product_attention`` take several times longer for one query (bf16)."""
    if queries.shape[-2] != 1 or queries.device.type != "cpu":
        return F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask, scale=1.0)
    scores = (queries @ keys.transpose(-1, -2)).float()
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1).to(values.dtype) @ values


def make_positions(
    tokens: torch.Tensor,
    padding_idx: int,
    offset: torch.Tensor | None = None,
    steps: torch.Tensor | None = None,
):
    """fairseq position ids: 1 + padding_idx for the first real token, padding_idx for pads.

    ``offset`` ([batch]) counts real tokens already seen (incremental decoding); ``steps``
    ([batch, time]) gives each real token's step after them instead of counting along the row
    (candidates packed side by side, each starting at step 0).
    """
    real = tokens.ne(padding_idx).long()
    positions = torch.cumsum(real, dim=1) if steps is None else steps + 1
    if offset is not None:
        positions = positions + offset[:, None]
    return positions * real + padding_idx


def prepend_prompt(x: torch.Tensor, input_prompt: torch.Tensor) -> torch.Tensor:
    """``[input prompt; x]``: the ``[L, E]`` prompt put before every row of ``x`` ``[B, T, E]``."""
    return torch.cat([input_prompt.expand(x.shape[0], -1, -1).to(x.dtype), x], dim=1)


def project_deep_prompt(layers: nn.ModuleList, deep_prompt: torch.Tensor) -> list[ProjectedPrefix]:
    """A ``[layers, 2, P, E]`` deep prompt through each layer's frozen k/v projections, once:
    per layer keys and values ``[1, H, P, D]``, as ``MultiheadAttention.keys_values`` makes
    them from the hidden vectors."""
    projected = []
    for i, layer in enumerate(layers):
        attention = layer.self_attn
        keys = attention._heads(attention.k_proj(deep_prompt[i, 0]))[None]
        values = attention._heads(attention.v_proj(deep_prompt[i, 1]))[None]
        projected.append(ProjectedPrefix(keys, values))
    return projected


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

    def keys_values(self, source: torch.Tensor, prefix: Prefix | None = None) -> KeyValues:
        """Keys and values of ``source`` ``[B, S, E]``, a ``prefix`` first: hidden vectors
        (``[P, E]`` or ``[B, P, E]`` for keys and values) through the same k_proj/v_proj, or a
        ``ProjectedPrefix`` as it is."""
        k, v = self._heads(self.k_proj(source)), self._heads(self.v_proj(source))
        if prefix is not None:
            batch = (source.shape[0], -1, -1, -1)
            if isinstance(prefix, ProjectedPrefix):
                pk, pv = prefix.keys.to(k.dtype), prefix.values.to(v.dtype)
            else:
                pk, pv = self._heads(self.k_proj(prefix[0])), self._heads(self.v_proj(prefix[1]))
            k, v = torch.cat([pk.expand(batch), k], dim=2), torch.cat([pv.expand(batch), v], dim=2)
        return k, v

    def queries(self, query: torch.Tensor) -> torch.Tensor:
        """Scaled queries of ``query`` ``[B, T, E]``, split in heads."""
        return self._heads(self.q_proj(query) * self.scaling)

    def attend(
        self, queries: torch.Tensor, keys_values: KeyValues, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``mask``: boolean, True where a query may attend, broadcastable to ``[B, H, T, S]``."""
        out = attention(queries, *keys_values, mask)
        return self.out_proj(out.transpose(-3, -2).flatten(-2))

    def forward(
        self,
        query: torch.Tensor,
        source: torch.Tensor | None = None,
        *,
        prefix: Prefix | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Attend from ``query`` to ``source`` (itself when None), ``prefix`` keys/values first."""
        q = self.queries(query)
        source = query if source is None else source
        return self.attend(q, self.keys_values(source, prefix), mask)


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
        context: torch.Tensor | None = None,
        prefix: Prefix | None = None,
        cache: LayerCache | None = None,
        memory: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The layer's output for ``x`` ``[B, T, E]``.

        context: the whole layer input when ``x`` is only its last positions: keys and values
            come from all of it, queries, cross-attention and FFN only from ``x`` (default: x).
        prefix: this layer's deep-prompt key/value vectors, put before the keys/values.
        cache: keys/values of earlier calls (incremental decoding); this call's are added.
        memory, memory_mask: encoder states ``[B, S, E']`` and their key mask (cross-attention;
            with a cache, their keys/values are computed once).
        """
        norm = self.self_attn_layer_norm
        source = None if context is None else self._input_of(context, norm)
        x = self._block(
            x,
            norm,
            lambda h: self._self_attention(h, h if source is None else source, mask, prefix, cache),
        )
        if self.encoder_attn is not None:
            x = self._block(
                x,
                self.encoder_attn_layer_norm,
                lambda h: self._cross_attention(h, memory, memory_mask, cache),
            )
        return self._block(
            x, self.final_layer_norm, lambda h: self.fc2(self.activation(self.fc1(h)))
        )

    def _input_of(self, x: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
        """What a sublayer reads: ``norm(x)`` for pre-LN, ``x`` for post-LN."""
        return norm(x) if self.normalize_before else x

    def _self_attention(self, h, source, mask, prefix, cache: LayerCache | None) -> torch.Tensor:
        q = self.self_attn.queries(h)
        keys_values = self.self_attn.keys_values(source, prefix)
        if cache is not None:
            keys_values = cache.add_self(keys_values)
        return self.self_attn.attend(q, keys_values, mask)

    def _cross_attention(self, h, memory, memory_mask, cache: LayerCache | None) -> torch.Tensor:
        q = self.encoder_attn.queries(h)
        keys_values = None if cache is None else cache.cross_kv
        if keys_values is None:
            keys_values = self.encoder_attn.keys_values(memory)
            if cache is not None:
                cache.cross_kv = keys_values
        return self.encoder_attn.attend(q, keys_values, memory_mask)
