"""Tiny transformer_lm models built and saved by fairseq itself load and match its forward."""

from __future__ import annotations

import os
import random

import pytest
import torch

from espnet2_speechprompt.checkpoints.unit_lm import load_unit_lm
from espnet2_speechprompt.precision import autocast_to, set_frozen_dtype
from espnet2_speechprompt.vocab import Dictionary
from test.factories.oracles import needs_fairseq

pytestmark = needs_fairseq
BF16_PARITY_ATOL = 0.05  # logits of a bf16 backbone (8-bit mantissa) vs fairseq's fp32

ARCHS = {
    # GSLM: transformer_lm_big shape (shrunk), relu, sinusoidal, tied output projection
    "gslm": ["--arch", "transformer_lm_big", "--share-decoder-input-output-embed"],
    # the other switches a transformer_lm checkpoint may carry
    "variant": [
        "--arch",
        "transformer_lm",
        "--activation-fn",
        "gelu",
        "--decoder-learned-pos",
        "--no-scale-embedding",
        "--layernorm-embedding",
        "--decoder-input-dim",
        "16",
        "--decoder-output-dim",
        "16",
    ],
}


def _fairseq_setup(tmp_path, arch: str):
    from fairseq import options, tasks
    from fairseq.data import Dictionary as FairseqDictionary
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq.trainer import Trainer

    # a cpc-style dict.txt: frequency order, not numeric order
    symbols = [str(i) for i in range(12)]
    random.Random(0).shuffle(symbols)
    fs_dict = FairseqDictionary()
    for rank, symbol in enumerate(symbols):
        fs_dict.add_symbol(symbol, n=1000 - rank)
    fs_dict.save(os.fspath(tmp_path / "dict.txt"))
    argv = [
        os.fspath(tmp_path),
        "--task",
        "language_modeling",
        *ARCHS[arch],
        "--decoder-layers",
        "2",
        "--decoder-embed-dim",
        "16",
        "--decoder-ffn-embed-dim",
        "32",
        "--decoder-attention-heads",
        "2",
        "--tokens-per-sample",
        "64",
        "--cpu",
        "--optimizer",
        "adam",
        "--lr",
        "1e-3",
        "--max-tokens",
        "1000",
        "--seed",
        "1",
        "--save-dir",
        os.fspath(tmp_path),
        "--criterion",
        "cross_entropy",
    ]
    args = options.parse_args_and_arch(options.get_training_parser(), argv)
    cfg = convert_namespace_to_omegaconf(args)
    task = tasks.setup_task(cfg.task)
    model = task.build_model(cfg.model)
    with torch.no_grad():  # random, non-trivial LayerNorm affine parameters
        for name, p in model.named_parameters():
            if "layer_norm" in name or "layernorm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    trainer = Trainer(cfg, task, model, task.build_criterion(cfg.criterion))
    return args, cfg, model.eval(), trainer, fs_dict, symbols


def _tokens() -> torch.Tensor:
    tokens = torch.randint(4, 16, (3, 9))
    tokens[:, 0] = 2  # the LM always starts from </s>
    tokens[1, 6:] = 1  # right padding, as fairseq's LM datasets pad
    tokens[2, 4:] = 1
    return tokens


def _assert_same_logits(
    fairseq_model, path, fs_dict, symbols, atol=1e-5, dtype: torch.dtype = torch.float32
):
    """Our load of ``path`` gives fairseq's logits (``dtype``: our frozen-backbone precision)."""
    ours, vocab = load_unit_lm(path)
    set_frozen_dtype(ours, dtype)
    assert [vocab.index(s) for s in symbols] == [fs_dict.index(s) for s in symbols]
    tokens = _tokens()
    with torch.no_grad():
        expected = fairseq_model(tokens)[0]
        with autocast_to(ours):
            got = ours(tokens).float()
    real = tokens.ne(1)
    assert got.shape == expected.shape
    torch.testing.assert_close(got[real], expected[real], atol=atol, rtol=0)


@pytest.mark.parametrize(
    ("dtype", "atol"), [(torch.float32, 1e-5), (torch.bfloat16, BF16_PARITY_ATOL)], ids=str
)
@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_cfg_layout_saved_by_fairseq_trainer(tmp_path, arch, dtype, atol):
    """fp32: fairseq's logits within 1e-5; our bf16 backbone within ``BF16_PARITY_ATOL``."""
    _, _, model, trainer, fs_dict, symbols = _fairseq_setup(tmp_path, arch)
    trainer.consolidate_optimizer()
    path = tmp_path / "checkpoint_best.pt"
    trainer.save_checkpoint(os.fspath(path), {"train_iterator": {"epoch": 1}})
    _assert_same_logits(model, path, fs_dict, symbols, atol, dtype)


def test_args_namespace_layout(tmp_path):
    from fairseq.checkpoint_utils import torch_persistent_save

    args, _, model, _, fs_dict, symbols = _fairseq_setup(tmp_path, "gslm")
    path = tmp_path / "checkpoint_best.pt"
    state = {"args": args, "model": model.state_dict(), "optimizer_history": [], "extra_state": {}}
    torch_persistent_save(state, os.fspath(path))
    _assert_same_logits(model, path, fs_dict, symbols)


def test_live_dictconfig_layout(tmp_path):
    from fairseq.checkpoint_utils import torch_persistent_save

    _, cfg, model, _, fs_dict, symbols = _fairseq_setup(tmp_path, "variant")
    path = tmp_path / "checkpoint_best.pt"
    torch_persistent_save({"args": None, "cfg": cfg, "model": model.state_dict()}, os.fspath(path))
    _assert_same_logits(model, path, fs_dict, symbols)


def test_fp16_weights_become_fp32(tmp_path):
    from fairseq.checkpoint_utils import torch_persistent_save

    args, _, model, _, fs_dict, symbols = _fairseq_setup(tmp_path, "gslm")
    half = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    path = tmp_path / "checkpoint_best.pt"
    torch_persistent_save({"args": args, "model": half}, os.fspath(path))
    model.load_state_dict({k: v.float() for k, v in half.items()})
    ours, _ = load_unit_lm(path)
    assert all(p.dtype == torch.float32 for p in ours.parameters())
    _assert_same_logits(model, path, fs_dict, symbols)


def test_dictionary_matches_fairseq_load(tmp_path):
    from fairseq.data import Dictionary as FairseqDictionary

    path = tmp_path / "dict.txt"
    path.write_text("61 19403763\n97 18692018\n8 100\nmadeupword0000 0\n")
    ours, theirs = Dictionary.load(path), FairseqDictionary.load(os.fspath(path))
    assert ours.symbols == theirs.symbols
    assert ours.unit_indices() == [4, 5, 6]
