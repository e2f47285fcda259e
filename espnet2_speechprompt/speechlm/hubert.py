"""A native, pure-torch HuBERT encoder (fairseq HuBERT / mHuBERT numerics; loaded by
``checkpoints.hubert``).

Numerics follow fairseq's ``HubertModel.extract_features(mask=False)``: conv feature extractor
('default': GroupNorm after the first conv; 'layer_norm': LayerNorm after every conv), LayerNorm
and ``post_extract_proj``, a weight-normed positional conv, the encoder LayerNorm (before the
layers when post-LN) and post- or pre-LN transformer layers (``speechlm.layers``).

Unlike fairseq, a padded batch gives exactly the features of one-at-a-time extraction: the
first GroupNorm takes statistics over each utterance's own frames, frame lengths follow the
conv arithmetic, padded frames are zeroed before the positional conv and masked in attention.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError
from .layers import TransformerLayer

logger = logging.getLogger(__name__)


@dataclass
class HubertConfig:
    """Shape and switches of a HuBERT encoder (dims come from tensor shapes when loading)."""

    conv_layers: list[tuple[int, int, int]]  # (channels, kernel, stride)
    extractor_mode: str = "default"  # or "layer_norm"
    conv_bias: bool = False
    embed_dim: int = 768
    ffn_dim: int = 3072
    num_layers: int = 12
    num_heads: int = 12
    conv_pos: int = 128
    conv_pos_groups: int = 16
    layer_norm_first: bool = False
    activation: str = "gelu"
    normalize: bool = False  # layer-norm the waveform first (fairseq task.normalize)


class ConvBlock(nn.Module):
    """Conv1d → optional norm (per-channel GroupNorm or per-frame LayerNorm) → GELU."""

    def __init__(self, n_in: int, n_out: int, kernel: int, stride: int, norm: str, bias: bool):
        super().__init__()
        self.kernel, self.stride, self.norm_kind = kernel, stride, norm
        self.conv = nn.Conv1d(n_in, n_out, kernel, stride=stride, bias=bias)
        norms = {"group": lambda: nn.GroupNorm(n_out, n_out), "layer": lambda: nn.LayerNorm(n_out)}
        self.norm = norms[norm]() if norm in norms else None

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return torch.div(lengths - self.kernel, self.stride, rounding_mode="floor") + 1

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.norm_kind == "group":  # statistics over each utterance's own frames only
            out = torch.zeros_like(x)
            for i, n in enumerate(self.output_lengths(lengths).tolist()):
                out[i, :, :n] = F.group_norm(
                    x[i : i + 1, :, :n].float(), x.shape[1], self.norm.weight, self.norm.bias
                ).type_as(x)
            x = out
        elif self.norm_kind == "layer":
            x = self.norm(x.transpose(1, 2).float()).transpose(1, 2).type_as(x)
        return F.gelu(x)


class ConvFeatureExtractor(nn.Module):
    """The wav2vec 2.0 / HuBERT waveform encoder: a stack of strided convolutions."""

    def __init__(self, layers: list[tuple[int, int, int]], mode: str, bias: bool):
        super().__init__()
        if mode not in {"default", "layer_norm"}:
            raise CheckpointError(f"unknown extractor_mode {mode!r} (default | layer_norm)")
        blocks, n_in = [], 1
        for i, (dim, kernel, stride) in enumerate(layers):
            norm = "layer" if mode == "layer_norm" else ("group" if i == 0 else "none")
            blocks.append(ConvBlock(n_in, dim, kernel, stride, norm, bias))
            n_in = dim
        self.conv_layers = nn.ModuleList(blocks)

    @property
    def receptive_field(self) -> int:
        """Samples needed for one output frame (400 for HuBERT base)."""
        field, hop = 1, 1
        for block in self.conv_layers:
            field += (block.kernel - 1) * hop
            hop *= block.stride
        return field

    @property
    def hop(self) -> int:
        hop = 1
        for block in self.conv_layers:
            hop *= block.stride
        return hop

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        for block in self.conv_layers:
            lengths = block.output_lengths(lengths)
        return lengths

    def forward(
        self, wav: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = wav[:, None, :]
        for block in self.conv_layers:
            x = block(x, lengths)
            lengths = block.output_lengths(lengths)
        return x, lengths


class PositionalConv(nn.Module):
    """Grouped conv with weight norm over dim 2 (``w = g · v / ‖v‖``), trimmed to length, GELU."""

    def __init__(self, dim: int, kernel: int, groups: int):
        super().__init__()
        self.kernel, self.groups = kernel, groups
        self.weight_g = nn.Parameter(torch.ones(1, 1, kernel))
        self.weight_v = nn.Parameter(torch.randn(dim, dim // groups, kernel) * 0.02)
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: [B, T, C] → [B, T, C]."""
        norm = self.weight_v.pow(2).sum(dim=(0, 1), keepdim=True).sqrt()
        weight = self.weight_v * (self.weight_g / norm)
        y = F.conv1d(
            x.transpose(1, 2), weight, self.bias, padding=self.kernel // 2, groups=self.groups
        )
        return F.gelu(y[:, :, : x.shape[1]]).transpose(1, 2)


class HubertEncoder(nn.Module):
    """Pos conv + (encoder LayerNorm) + transformer layers; names match fairseq's ``encoder.``."""

    def __init__(self, cfg: HubertConfig):
        super().__init__()
        self.layer_norm_first = cfg.layer_norm_first
        self.pos_conv = PositionalConv(cfg.embed_dim, cfg.conv_pos, cfg.conv_pos_groups)
        self.layer_norm = nn.LayerNorm(cfg.embed_dim)
        self.layers = nn.ModuleList(
            TransformerLayer(
                cfg.embed_dim,
                cfg.ffn_dim,
                cfg.num_heads,
                normalize_before=cfg.layer_norm_first,
                activation=cfg.activation,
            )
            for _ in range(cfg.num_layers)
        )


class HubertModel(nn.Module):
    """HuBERT feature extractor: waveform → hidden states of a chosen layer (1-based)."""

    def __init__(self, cfg: HubertConfig):
        super().__init__()
        self.cfg = cfg
        self.feature_extractor = ConvFeatureExtractor(
            cfg.conv_layers, cfg.extractor_mode, cfg.conv_bias
        )
        conv_dim = cfg.conv_layers[-1][0]
        self.layer_norm = nn.LayerNorm(conv_dim)
        self.post_extract_proj = (
            nn.Linear(conv_dim, cfg.embed_dim) if conv_dim != cfg.embed_dim else None
        )
        self.encoder = HubertEncoder(cfg)
        self.num_layers = cfg.num_layers  # depth of the checkpoint, kept after truncate()

    def truncate(self, output_layer: int) -> None:
        """Drop the layers above ``output_layer`` (they are never needed for it)."""
        self.check_layer(output_layer)
        del self.encoder.layers[output_layer:]

    def check_layer(self, output_layer: int | None) -> None:
        kept = len(self.encoder.layers)
        if output_layer is None:
            if kept < self.num_layers:
                raise ValueError("output_layer=None needs all layers; the model was truncated")
            return
        if not 1 <= output_layer <= self.num_layers:
            raise ValueError(
                f"layer {output_layer} is out of range: this HuBERT has {self.num_layers} "
                f"layers (1..{self.num_layers})"
            )
        if output_layer > kept:
            raise ValueError(f"layer {output_layer} was dropped (model truncated to {kept})")

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return self.feature_extractor.output_lengths(lengths)

    def embed_frames(
        self, wav: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The input of the first transformer layer ``[B, T, D]`` and the frame lengths."""
        if lengths is None:
            lengths = torch.full((wav.shape[0],), wav.shape[1], dtype=torch.long)
        lengths = lengths.to(device=wav.device, dtype=torch.long)
        if self.cfg.normalize:
            wav = wav.clone()
            for i, n in enumerate(lengths.tolist()):
                wav[i, :n] = F.layer_norm(wav[i, :n], (n,))
        feats, frames = self.feature_extractor(wav, lengths)
        x = self.layer_norm(feats.transpose(1, 2))
        if self.post_extract_proj is not None:
            x = self.post_extract_proj(x)
        pad = torch.arange(x.shape[1], device=x.device)[None, :] >= frames[:, None]
        x = x.masked_fill(pad[..., None], 0.0)
        x = x + self.encoder.pos_conv(x)
        if not self.encoder.layer_norm_first:
            x = self.encoder.layer_norm(x)
        return x, frames

    def forward(
        self,
        wav: torch.Tensor,
        lengths: torch.Tensor | None = None,
        output_layer: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``wav`` [B, N] (right-padded), ``lengths`` [B] samples → ([B, T, D], frame lengths).

        ``output_layer`` is 1-based as in fairseq; None runs all layers (plus the final
        LayerNorm of pre-LN models).
        """
        self.check_layer(output_layer)
        x, frames = self.embed_frames(wav, lengths)
        encoder = self.encoder
        pad = torch.arange(x.shape[1], device=x.device)[None, :] >= frames[:, None]
        mask = (~pad)[:, None, None, :] if bool(pad.any()) else None
        for layer in encoder.layers[: output_layer or len(encoder.layers)]:
            x = layer(x, mask)
        if output_layer is None and encoder.layer_norm_first:
            x = encoder.layer_norm(x)
        return x, frames
