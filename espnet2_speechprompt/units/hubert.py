"""A native, pure-torch HuBERT encoder that loads fairseq HuBERT / mHuBERT checkpoints.

Numerics follow fairseq's ``HubertModel.extract_features(mask=False)``: conv feature extractor
('default': GroupNorm after the first conv; 'layer_norm': LayerNorm after every conv), LayerNorm
and ``post_extract_proj``, a weight-normed positional conv, the encoder LayerNorm (before the
layers when post-LN) and post- or pre-LN transformer layers (``speechlm.layers``).

Unlike fairseq, a padded batch gives exactly the features of one-at-a-time extraction: the
first GroupNorm takes statistics over each utterance's own frames, frame lengths follow the
conv arithmetic, padded frames are zeroed before the positional conv and masked in attention.
"""

from __future__ import annotations

import ast
import logging
import operator
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from espnet2_speechprompt.checkpoints.safe_pickle import CheckpointError, read_fairseq_checkpoint
from espnet2_speechprompt.speechlm.layers import ACTIVATIONS, TransformerLayer

logger = logging.getLogger(__name__)

HUBERT_BASE_CONV = "[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2"
_TRAINING_ONLY = ("mask_emb", "final_proj.", "label_embs_concat", "target_glu.")


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


def parse_conv_layers(spec: str) -> list[tuple[int, int, int]]:
    """Evaluate fairseq's ``conv_feature_layers`` string safely (lists, tuples, ints, + and *)."""
    ops = {ast.Add: operator.add, ast.Mult: operator.mul}

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.List | ast.Tuple):
            items = [value(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.BinOp) and type(node.op) in ops:
            return ops[type(node.op)](value(node.left), value(node.right))
        raise ValueError(f"unsupported element {ast.dump(node)}")

    try:
        layers = value(ast.parse(spec.strip(), mode="eval").body)
        layers = [tuple(int(v) for v in layer) for layer in layers]
        if not layers or any(len(layer) != 3 for layer in layers):
            raise ValueError("expected a non-empty list of (dim, kernel, stride)")
    except (ValueError, SyntaxError, TypeError) as exc:
        raise CheckpointError(f"cannot parse conv_feature_layers {spec!r}: {exc}") from None
    return layers


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


def fairseq_hubert_key(key: str, extractor_mode: str) -> str:
    """Our state-dict key -> fairseq's (the inverse of ``_map_key``), for saving."""
    parts = key.split(".")
    if key.startswith("feature_extractor.conv_layers."):
        sub = {"conv": ["0"], "norm": ["2"] if extractor_mode == "default" else ["2", "1"]}
        return ".".join(parts[:3] + sub[parts[3]] + parts[4:])
    if key.startswith("encoder.pos_conv."):
        return "encoder.pos_conv.0." + parts[-1]
    return key


def _map_key(key: str) -> str | None:
    """fairseq state-dict key → ours (None: training-only, dropped)."""
    if key.startswith(_TRAINING_ONLY):
        return None
    parts = key.split(".")
    if key.startswith("feature_extractor.conv_layers.") and len(parts) >= 5:
        head, sub = parts[:3], parts[3:]
        if sub[0] == "0":
            return ".".join(head + ["conv"] + sub[1:])
        if sub[0] == "2":  # GroupNorm (default) or Sequential(T, LayerNorm, T) (layer_norm)
            return ".".join(head + ["norm"] + sub[-1:])
    if key.startswith("encoder.pos_conv.0."):
        rest = key[len("encoder.pos_conv.0.") :]
        rest = {
            "parametrizations.weight.original0": "weight_g",
            "parametrizations.weight.original1": "weight_v",
        }.get(rest, rest)
        return "encoder.pos_conv." + rest
    return key


def _config_from_checkpoint(
    state: dict[str, torch.Tensor], config: dict[str, Any], path: str
) -> HubertConfig:
    def need(key: str) -> torch.Tensor:
        if key not in state:
            raise CheckpointError(f"{path}: not a HuBERT checkpoint (no {key!r} in the weights)")
        return state[key]

    if config.get("layer_type", "transformer") != "transformer":
        raise CheckpointError(f"{path}: layer_type {config['layer_type']!r} is not supported")
    if int(config.get("pos_conv_depth", 1) or 1) != 1 or config.get("conv_pos_batch_norm"):
        raise CheckpointError(f"{path}: only the single weight-normed pos_conv is supported")
    prefix = "feature_extractor.conv_layers."
    need(f"{prefix}0.0.weight")
    need("encoder.layer_norm.weight")
    n_conv = 1 + max((int(k.split(".")[2]) for k in state if k.startswith(prefix)), default=-1)
    spec = parse_conv_layers(str(config.get("conv_feature_layers") or HUBERT_BASE_CONV))
    if len(spec) != n_conv:
        raise CheckpointError(
            f"{path}: conv_feature_layers has {len(spec)} layers, the weights have {n_conv}"
        )
    conv_layers = []
    for i, (_, _, stride) in enumerate(spec):
        weight = need(f"{prefix}{i}.0.weight")
        conv_layers.append((int(weight.shape[0]), int(weight.shape[2]), stride))
    mode = "layer_norm" if f"{prefix}0.2.1.weight" in state else "default"
    if mode == "default":
        need(f"{prefix}0.2.weight")
    pos_v = state.get("encoder.pos_conv.0.weight_v")
    if pos_v is None:
        pos_v = need("encoder.pos_conv.0.parametrizations.weight.original1")
    embed_dim = int(need("encoder.layer_norm.weight").shape[0])
    num_layers = 1 + max(
        (int(k.split(".")[2]) for k in state if k.startswith("encoder.layers.")), default=-1
    )
    if num_layers < 1:
        raise CheckpointError(f"{path}: no encoder layers in the weights")
    heads = int(config.get("encoder_attention_heads") or 12)
    if embed_dim % heads:
        raise CheckpointError(f"{path}: {heads} heads do not divide embed dim {embed_dim}")
    activation = str(config.get("activation_fn") or "gelu")
    if activation not in ACTIVATIONS:
        raise CheckpointError(f"{path}: activation {activation!r} is not supported")
    config_mode = config.get("extractor_mode")
    if config_mode and config_mode != mode:
        logger.warning("%s: config says extractor_mode=%s, weights say %s", path, config_mode, mode)
    normalize = config.get("normalize")
    if normalize is None:  # cfg layout keeps it in the task config: released models pair
        normalize = mode == "layer_norm"  # layer_norm extractors with normalized input
    return HubertConfig(
        conv_layers=conv_layers,
        extractor_mode=mode,
        conv_bias=f"{prefix}0.0.bias" in state,
        embed_dim=embed_dim,
        ffn_dim=int(need("encoder.layers.0.fc1.weight").shape[0]),
        num_layers=num_layers,
        num_heads=heads,
        conv_pos=int(pos_v.shape[2]),
        conv_pos_groups=embed_dim // int(pos_v.shape[1]),
        layer_norm_first=bool(config.get("layer_norm_first", False)),
        activation=activation,
        normalize=bool(normalize),
    )


def hubert_from_state(
    state: dict[str, torch.Tensor],
    config: dict[str, Any],
    path: str,
    normalize: bool | None = None,
) -> HubertModel:
    """A :class:`HubertModel` holding fairseq HuBERT weights (keys without any prefix)."""
    cfg = _config_from_checkpoint(state, config, path)
    if normalize is not None:
        cfg.normalize = normalize
    model = HubertModel(cfg)
    mapped_state = {}
    for key, value in state.items():
        mapped = _map_key(key)
        if mapped is not None:
            mapped_state[mapped] = value
    missing, unexpected = model.load_state_dict(mapped_state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not fit a HuBERT encoder (missing: {missing[:4]}, "
            f"unexpected: {unexpected[:4]})"
        )
    return model


def load_hubert(path: str | os.PathLike, normalize: bool | None = None) -> HubertModel:
    """Build a :class:`HubertModel` from a fairseq HuBERT checkpoint (``args`` or ``cfg``).

    ``normalize`` overrides the waveform normalisation (fairseq ``task.normalize``); by default
    it is read from the config, or taken as True exactly for 'layer_norm' extractors.
    """
    ckpt = read_fairseq_checkpoint(path)
    model = hubert_from_state(ckpt.model_state, ckpt.model_config, ckpt.path, normalize)
    cfg = model.cfg
    logger.info(
        "HuBERT %s: %d layers, dim %d, extractor %s, normalize=%s",
        ckpt.path,
        cfg.num_layers,
        cfg.embed_dim,
        cfg.extractor_mode,
        cfg.normalize,
    )
    return model.eval()
