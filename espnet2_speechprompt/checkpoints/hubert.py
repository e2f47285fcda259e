"""Load fairseq HuBERT / mHuBERT checkpoints into the native encoder (``speechlm.hubert``)."""

from __future__ import annotations

import ast
import logging
import operator
import os
from typing import Any

import torch

from ..errors import CheckpointError
from ..speechlm.hubert import HubertConfig, HubertModel
from ..speechlm.layers import ACTIVATIONS
from .safe_pickle import read_fairseq_checkpoint

logger = logging.getLogger(__name__)

_TRAINING_ONLY = ("mask_emb", "final_proj.", "label_embs_concat", "target_glu.")
HUBERT_BASE_CONV = "[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2"


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


def _conv_layers(
    state: dict[str, torch.Tensor], config: dict[str, Any], path: str, need
) -> list[tuple[int, int, int]]:
    """(channels, kernel, stride) of each conv layer: shapes from the weights, strides from
    ``conv_feature_layers``, whose layer count must match the weights'."""
    prefix = "feature_extractor.conv_layers."
    need(f"{prefix}0.0.weight")
    n_conv = 1 + max((int(k.split(".")[2]) for k in state if k.startswith(prefix)), default=-1)
    spec = parse_conv_layers(str(config.get("conv_feature_layers") or HUBERT_BASE_CONV))
    if len(spec) != n_conv:
        raise CheckpointError(
            f"{path}: conv_feature_layers has {len(spec)} layers, the weights have {n_conv}"
        )
    layers = []
    for i, (_, _, stride) in enumerate(spec):
        weight = need(f"{prefix}{i}.0.weight")
        layers.append((int(weight.shape[0]), int(weight.shape[2]), stride))
    return layers


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
    need("encoder.layer_norm.weight")
    conv_layers = _conv_layers(state, config, path, need)
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
