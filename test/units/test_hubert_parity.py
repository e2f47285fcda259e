"""Tiny HuBERTs built and saved by fairseq itself load natively and match its features."""

from __future__ import annotations

import argparse
import os

import pytest
import torch

from espnet2_speechprompt.checkpoints.hubert import load_hubert
from espnet2_speechprompt.errors import CheckpointError
from test.factories.hubert import TINY_CONV
from test.factories.oracles import fairseq_tiny_hubert, needs_fairseq

MODES = {
    "base": dict(extractor_mode="default"),  # GroupNorm extractor, post-LN, conv dim != embed
    "large": dict(  # LayerNorm extractor, pre-LN, conv bias, conv dim == embed (no proj)
        extractor_mode="layer_norm",
        layer_norm_first=True,
        conv_bias=True,
        conv_feature_layers=TINY_CONV.replace("(8,", "(16,"),
    ),
}


def _fairseq_hubert(mode: str):
    cfg, task_cfg, dictionary, model = fairseq_tiny_hubert(
        3, normalize=mode == "large", **MODES[mode]
    )
    with torch.no_grad():  # non-trivial norm / weight-norm parameters
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return cfg, task_cfg, dictionary, model.eval()


def _save(tmp_path, layout: str, cfg, task_cfg, dictionary, model) -> str:
    from fairseq.checkpoint_utils import torch_persistent_save
    from omegaconf import OmegaConf

    model_cfg = OmegaConf.to_container(OmegaConf.structured(cfg), enum_to_str=True)
    task = OmegaConf.to_container(OmegaConf.structured(task_cfg), enum_to_str=True)
    state = {"model": model.state_dict(), "task_state": {"dictionaries": [dictionary]}}
    if layout == "args":  # hubert_base_ls960.pt style: a Namespace holding task options too
        state["args"] = argparse.Namespace(**{**task, **model_cfg, "arch": "hubert"})
    elif layout == "cfg":  # trainer style: OmegaConf.to_container(cfg)
        state.update(args=None, cfg={"model": model_cfg, "task": task})
    else:  # a live DictConfig pickled
        state.update(args=None, cfg=OmegaConf.create({"model": model_cfg, "task": task}))
    path = os.fspath(tmp_path / f"hubert_{layout}.pt")
    torch_persistent_save(state, path)
    return path


@needs_fairseq
@pytest.mark.parametrize("layout", ["args", "cfg", "dictconfig"])
@pytest.mark.parametrize("mode", ["base", "large"])
def test_matches_fairseq_extract_features(tmp_path, mode, layout):
    cfg, task_cfg, dictionary, fs_model = _fairseq_hubert(mode)
    path = _save(tmp_path, layout, cfg, task_cfg, dictionary, fs_model)
    ours = load_hubert(path)
    assert ours.cfg.extractor_mode == MODES[mode]["extractor_mode"]
    assert ours.cfg.normalize == (mode == "large")
    assert (ours.post_extract_proj is None) == (mode == "large")
    wav = torch.randn(2, 5000)
    source = torch.nn.functional.layer_norm(wav, wav.shape[-1:]) if mode == "large" else wav
    worst = 0.0
    for layer in [1, 2, 3, None]:
        with torch.no_grad():
            expected, _ = fs_model.extract_features(
                source, padding_mask=None, mask=False, output_layer=layer
            )
            got, frames = ours(wav, output_layer=layer)
        assert got.shape == expected.shape == (2, 15, 16)
        assert frames.tolist() == [15, 15]
        worst = max(worst, (got - expected).abs().max().item())
    assert worst < 1e-5, worst


@needs_fairseq
def test_output_layer_out_of_range_is_an_error(tmp_path):
    path = _save(tmp_path, "cfg", *_fairseq_hubert("base"))
    model = load_hubert(path)
    with pytest.raises(ValueError, match="layer 4 is out of range: this HuBERT has 3 layers"):
        model(torch.randn(1, 1000), output_layer=4)


def test_not_a_hubert_checkpoint(tmp_path):
    path = os.fspath(tmp_path / "lm.pt")
    torch.save({"args": None, "cfg": {"model": {}}, "model": {"decoder.x": torch.zeros(2)}}, path)
    with pytest.raises(CheckpointError, match="not a HuBERT checkpoint"):
        load_hubert(path)
