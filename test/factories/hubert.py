"""Tiny HuBERT models (HuBERT's real conv arithmetic at 8 channels) and fairseq's ``args``
checkpoint layout for them."""

from __future__ import annotations

import argparse

import torch

from espnet2_speechprompt.checkpoints.hubert import fairseq_hubert_key, parse_conv_layers
from espnet2_speechprompt.speechlm.hubert import HubertConfig, HubertModel

# HuBERT's real conv arithmetic (receptive field 400, hop 320) with 8 channels
TINY_CONV = "[(8,10,5)] + [(8,3,2)] * 4 + [(8,2,2)] * 2"


def tiny_hubert(mode: str = "default", layer_norm_first: bool = False, seed: int = 0):
    """A randomly initialised native HuBERT with non-trivial norm parameters."""
    torch.manual_seed(seed)
    cfg = HubertConfig(
        conv_layers=parse_conv_layers(TINY_CONV),
        extractor_mode=mode,
        conv_bias=mode == "layer_norm",
        embed_dim=16,
        ffn_dim=32,
        num_layers=3,
        num_heads=2,
        conv_pos=4,
        conv_pos_groups=2,
        layer_norm_first=layer_norm_first,
    )
    model = HubertModel(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model.eval()


def save_native_as_fairseq(model: HubertModel, path: str) -> str:
    """Save a native model in fairseq's ``args`` layout (no fairseq needed)."""
    mode = model.cfg.extractor_mode
    state = {fairseq_hubert_key(k, mode): v for k, v in model.state_dict().items()}
    state["mask_emb"] = torch.zeros(model.cfg.embed_dim)  # training-only extras are ignored
    args = argparse.Namespace(
        arch="hubert",
        conv_feature_layers=TINY_CONV,
        extractor_mode=mode,
        encoder_attention_heads=model.cfg.num_heads,
        layer_norm_first=model.cfg.layer_norm_first,
        activation_fn="gelu",
        normalize=False,
    )
    torch.save({"args": args, "model": state}, path)
    return path
