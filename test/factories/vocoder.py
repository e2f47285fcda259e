"""Tiny unit HiFi-GAN vocoders: configs, randomised weights that make every layer matter, and
the released checkpoint layout (``{"generator": state}`` + ``config.json``)."""

from __future__ import annotations

import copy
import json
import os

import torch

from espnet2_speechprompt.vocoder import UnitHifiGan, VocoderConfig

TINY = {
    "resblock": "1",
    "upsample_rates": [2, 3],
    "upsample_kernel_sizes": [4, 5],
    "upsample_initial_channel": 16,
    "resblock_kernel_sizes": [3, 5],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 2, 3]],
    "num_embeddings": 7,
    "embedding_dim": 6,
    "model_in_dim": 6,
    "sampling_rate": 16000,
    "code_hop_size": 6,
    "f0": False,
    "segment_size": 8960,  # training-only fields, ignored
    "num_mels": 80,
}
DUR = {
    "encoder_embed_dim": 6,
    "var_pred_hidden_dim": 5,
    "var_pred_kernel_size": 3,
    "var_pred_dropout": 0.5,
}


def tiny_config(dur: bool = True, **overrides) -> dict:
    cfg = copy.deepcopy(TINY)
    if dur:
        cfg["dur_predictor_params"] = dict(DUR)
    cfg.update(overrides)
    return cfg


def is_weight_normed(key: str) -> bool:
    return key.endswith(".weight") and key.split(".")[0] in {
        "conv_pre",
        "ups",
        "resblocks",
        "conv_post",
    }


def randomize_(module: torch.nn.Module, seed: int = 0) -> None:
    """Weights large enough that every layer matters (fairseq's init is std 0.01).

    Matrices ~ N(0, 1/fan_in), weight-norm gains in [0.5, 1.5], a wide ``proj``
    bias so that predicted durations vary (about 1..10 frames).
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if name.endswith("weight_g"):
                p.copy_(torch.rand(p.shape, generator=gen) + 0.5)
            elif name == "dict.weight":
                p.copy_(noise)
            elif p.dim() >= 2:
                p.copy_(noise / (p.numel() / p.shape[0]) ** 0.5)
            elif name.startswith("dur_predictor.ln"):
                p.copy_(noise * 0.1 + (1.0 if name.endswith("weight") else 0.0))
            else:
                p.copy_(noise * 0.1)
            if name == "dur_predictor.proj.weight":
                p.mul_(3.0)  # spread the durations
            if name == "dur_predictor.proj.bias":
                p.fill_(2.5)


def native_state(cfg: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    """A released-layout state dict (weight_g / weight_v) built without fairseq."""
    model = UnitHifiGan(VocoderConfig.from_dict(cfg))
    randomize_(model, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    state = {}
    for key, value in model.state_dict().items():
        if is_weight_normed(key):
            shape = (value.shape[0],) + (1,) * (value.dim() - 1)
            state[key + "_g"] = torch.rand(shape, generator=gen) + 0.5
            state[key + "_v"] = value.clone() * 3.0  # ||v|| != g: folding must divide
        else:
            state[key] = value.clone()
    return state


def save_released(directory, state: dict, cfg: dict, name: str = "g_00000100") -> tuple[str, str]:
    """``{"generator": state}`` + ``config.json``, as released."""
    os.makedirs(directory, exist_ok=True)
    ckpt = os.path.join(directory, name)
    torch.save({"generator": state}, ckpt)
    config = os.path.join(directory, "config.json")
    with open(config, "w") as f:
        json.dump(cfg, f)
    return ckpt, config
