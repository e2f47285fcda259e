"""A fairseq-compatible transformer decoder: the GSLM unit LM, and the decoder of enc-dec models.

x = scale * E[tokens] + P[positions]   (positions count real tokens only; pads get no position)
[input prompt] + x  ->  layers (deep prompts as a key/value prefix)  ->  LayerNorm  ->  x @ E^T

Decoding step by step keeps a ``DecodingState`` between calls (keys/values of every layer, the
encoder output of encoder-decoder models); ``DecodingState.select`` moves it to new rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from .layers import (
    LayerCache,
    LearnedPositions,
    PromptVectors,
    SinusoidalPositions,
    TransformerLayer,
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
class EncoderOutput:
    """What a decoder cross-attends to."""

    states: torch.Tensor  # [B, S, E], input-prompt positions first
    padding_mask: torch.Tensor  # [B, S], True at pads

    def index_select(self, index: torch.Tensor) -> EncoderOutput:
        return EncoderOutput(
            self.states.index_select(0, index), self.padding_mask.index_select(0, index)
        )


@dataclass
class DecodingState:
    """Everything a decoder keeps between calls on the same rows: the encoder output it
    cross-attends to (encoder-decoder models), per layer the keys/values so far (deep-prompt
    prefix and input prompt included), which keys are real, and the real tokens seen per row
    (for positions). ``select`` moves all of it to new rows at once."""

    encoder_out: EncoderOutput | None = None
    layers: list[LayerCache] = field(default_factory=list)
    key_allowed: torch.Tensor | None = None  # [B, S] True for real keys (prefix, prompt, tokens)
    num_tokens: torch.Tensor | None = None  # [B] real tokens seen
    sources: torch.Tensor | None = None  # [B] the source (first call's row) of every row

    @property
    def empty(self) -> bool:
        return self.key_allowed is None

    def start(self, num_layers: int, prefix_allowed: torch.Tensor):
        """Before the first call: no keys but the deep-prompt ones (``prefix_allowed``
        ``[B, P]``, True at real ones), no tokens."""
        batch, device = prefix_allowed.shape[0], prefix_allowed.device
        self.layers = [LayerCache() for _ in range(num_layers)]
        self.key_allowed = prefix_allowed
        self.num_tokens = torch.zeros(batch, dtype=torch.long, device=device)
        self.sources = torch.arange(batch, device=device)

    def add_keys(self, allowed: torch.Tensor, num_tokens: torch.Tensor) -> torch.Tensor:
        """Record a call's new keys (``allowed`` ``[B, T]``) and real tokens; returns all keys'."""
        self.key_allowed = torch.cat([self.key_allowed, allowed], dim=1)
        self.num_tokens = self.num_tokens + num_tokens
        return self.key_allowed

    def rows(self, index: torch.Tensor) -> DecodingState:
        """A new state of rows ``index`` of this one (which stays as it is)."""
        layers = [LayerCache(layer.self_kv, layer.cross_kv) for layer in self.layers]
        state = DecodingState(
            self.encoder_out, layers, self.key_allowed, self.num_tokens, self.sources
        )
        state.select(index)
        return state

    def select(self, index: torch.Tensor) -> None:
        """Keep/repeat rows ``index`` (beam search, several candidates per source). Keys/values
        of cross-attention and the encoder output depend on the source only, so they stay as
        they are while every row keeps its source (beams of one source reordered)."""
        if self.empty:
            raise ValueError("DecodingState.select needs a state that has seen a first call")
        rows = len(self.sources)
        if len(index) == rows and torch.equal(index, torch.arange(rows, device=index.device)):
            return
        sources = self.sources.index_select(0, index)
        moved = not torch.equal(sources, self.sources)
        for layer in self.layers:
            layer.select(index, cross=moved)
        self.key_allowed = self.key_allowed.index_select(0, index)
        self.num_tokens = self.num_tokens.index_select(0, index)
        if moved:
            self.sources = sources
            if self.encoder_out is not None:
                self.encoder_out = self.encoder_out.index_select(index)

    def compact(self) -> None:
        """Drop the key positions no row may attend to (left by rows that were dropped, or
        padding): a batch that rows keep joining and leaving stays as long as its rows need.
        Key order is kept, so causal masks still hold."""
        alive = self.key_allowed.any(dim=0)
        if bool(alive.all()):
            return
        keep = alive.nonzero()[:, 0]
        for layer in self.layers:
            layer.self_kv = tuple(t.index_select(2, keep) for t in layer.self_kv)
        self.key_allowed = self.key_allowed.index_select(1, keep)


def _pad_to(tensor: torch.Tensor, length: int, dim: int, value: float | bool = 0) -> torch.Tensor:
    """``tensor`` right-padded with ``value`` to ``length`` along ``dim``."""
    missing = length - tensor.shape[dim]
    if missing == 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor, tensor.new_full(shape, value)], dim=dim)


def _pad_cat(tensors: list[torch.Tensor], dim: int, value: float | bool = 0) -> torch.Tensor:
    """Rows of ``tensors`` in one batch, right-padded with ``value`` along ``dim``."""
    length = max(t.shape[dim] for t in tensors)
    return torch.cat([_pad_to(t, length, dim, value) for t in tensors])


def concat_states(states: list[DecodingState]) -> DecodingState:
    """One state whose rows are those of ``states`` in turn (each row its own source), for a
    batch that decoding rows join while it runs. Keys (and encoder outputs) of shorter states
    are right-padded and masked: a row's positions come from its own token count and its
    queries see only its allowed keys, so padding between its keys and the next ones changes
    nothing."""
    if any(state.empty for state in states):
        raise ValueError("concat_states needs states that have seen a first call")
    keys = max(state.key_allowed.shape[1] for state in states)
    layers = []
    for caches in zip(*(state.layers for state in states), strict=True):
        self_kv = tuple(_pad_cat([c.self_kv[i] for c in caches], 2) for i in (0, 1))
        cross_kv = None
        if caches[0].cross_kv is not None:
            cross_kv = tuple(_pad_cat([c.cross_kv[i] for c in caches], 2) for i in (0, 1))
        layers.append(LayerCache(self_kv, cross_kv))
    encoder_out = None
    if states[0].encoder_out is not None:
        outs = [state.encoder_out for state in states]
        encoder_out = EncoderOutput(
            _pad_cat([o.states for o in outs], 1), _pad_cat([o.padding_mask for o in outs], 1, True)
        )
    allowed = torch.cat([_pad_to(state.key_allowed, keys, 1, False) for state in states])
    num_tokens = torch.cat([state.num_tokens for state in states])
    sources = torch.arange(len(num_tokens), device=num_tokens.device)
    return DecodingState(encoder_out, layers, allowed, num_tokens, sources)


@dataclass
class Packing:
    """Label sequences packed side by side in one row (each row's candidates, scored at once
    without repeating the row's cached keys/values): per new token its ``steps`` ``[B, T]``
    within its sequence and ``among`` ``[B, T, T]``, which new tokens it may see (its own
    sequence's up to itself)."""

    steps: torch.Tensor
    among: torch.Tensor


def attention_mask(
    key_allowed: torch.Tensor,
    num_queries: int,
    causal: bool = True,
    among_new: torch.Tensor | None = None,
) -> torch.Tensor:
    """Boolean ``[B, 1, T, S]`` mask for the last ``num_queries`` of ``S`` keys.

    A query sees earlier keys that are allowed and always itself (so padded rows stay finite);
    ``among_new`` ``[B, T, T]`` replaces "earlier" among the last ``T`` keys (``Packing``).
    """
    num_keys = key_allowed.shape[1]
    past = num_keys - num_queries
    device = key_allowed.device
    query_pos = torch.arange(num_queries, device=device)[:, None] + past
    key_pos = torch.arange(num_keys, device=device)[None, :]
    visible = key_allowed[:, None, :]
    if among_new is not None:
        earlier = visible[..., :past].expand(-1, num_queries, -1)
        visible = torch.cat([earlier, among_new & visible[..., past:]], dim=2)
    elif causal:
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
        steps: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Layer input: ``self.embed(tokens)`` (or ``embeds``) + positions, embedding LayerNorm.

        ``offset`` ([B]) counts real tokens already seen (incremental decoding); ``steps``:
        see ``make_positions``.
        """
        x = self.embed(tokens) if embeds is None else embeds
        if self.embed_positions is not None:
            positions = make_positions(tokens, self.padding_idx, offset, steps)
            x = x + self.embed_positions(positions)
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
        embeds: torch.Tensor | None = None,
        prompts: PromptVectors | None = None,
        state: DecodingState | None = None,
        keep_last: int | None = None,
        packing: Packing | None = None,
    ) -> torch.Tensor:
        """Logits ``[B, T, V]`` for ``tokens`` ``[B, T]``.

        embeds: replaces ``self.embed(tokens)`` (tokens still give positions and padding).
        prompts: an input prompt put before the sequence (without positions) and a deep prompt
            (a key/value prefix in every layer); used on a state's first call only.
        state: continues from (and records) earlier calls on the same rows; holds the encoder
            output that cross-attention needs. Without one, a call starts afresh.
        keep_last: logits of the last ``keep_last`` positions only: the top layer takes just
            those positions as queries (keys/values still see every position), so its
            attention output, FFN and the logits are computed for them only.
        packing: ``tokens`` are sequences packed side by side after a state's earlier calls
            (``Packing``); the state is then only good for this call.
        """
        state = DecodingState() if state is None else state
        if not state.empty:
            prompts = None  # the first call's are in the cached keys/values
        prompts = prompts or PromptVectors()
        batch, device = tokens.shape[0], tokens.device
        if state.empty:
            state.start(self.num_layers, prompts.deep_allowed(batch, device))
        if packing is not None and state.empty:
            raise ValueError("packed sequences continue a state that has seen a first call")
        steps = None if packing is None else packing.steps
        x = self.embed_input(tokens, embeds, state.num_tokens, steps)
        allowed = tokens.ne(self.padding_idx)
        num_prompt = prompts.input_length
        if prompts.input is not None:
            x = prepend_prompt(x, prompts.input)
        new_keys = torch.cat([prompts.input_allowed(batch, device), allowed], dim=1)
        among = None if packing is None else packing.among
        keys = state.add_keys(new_keys, allowed.sum(dim=1))
        mask = attention_mask(keys, x.shape[1], among_new=among)
        memory, memory_mask = self._memory(state)
        for i, layer in enumerate(self.layers):
            context = None
            if keep_last is not None and i == self.num_layers - 1:
                context, x, mask = x, x[:, -keep_last:], mask[..., -keep_last:, :]
            x = layer(
                x,
                mask,
                context=context,
                prefix=prompts.layer_prefix(i, x.dtype),
                cache=state.layers[i],
                memory=memory,
                memory_mask=memory_mask,
            )
        if keep_last is None:
            x = x[:, num_prompt:]
        if self.layer_norm is not None:
            x = self.layer_norm(x)
        return self.output_projection(x)

    def _memory(self, state: DecodingState) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Encoder states and their key mask for cross-attention (None, None: no encoder)."""
        if self.config.cross_attention and state.encoder_out is None:
            raise ValueError("a decoder with cross-attention needs DecodingState(encoder_out)")
        if state.encoder_out is None:
            return None, None
        return state.encoder_out.states, ~state.encoder_out.padding_mask[:, None, None, :]
