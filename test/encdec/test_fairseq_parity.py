"""Tiny Unit-mBART and Wav2Seq models built by fairseq itself load and match its forward."""

from __future__ import annotations

import argparse
import os
import random
import types

import pytest
import torch

from espnet2_speechprompt.checkpoints.encdec import load_unit_mbart, load_wav2seq
from espnet2_speechprompt.speechlm.transformer_lm import DecodingState
from test.factories.oracles import fairseq_tiny_hubert, needs_fairseq

pytestmark = needs_fairseq
ATOL = 1e-5


def _fairseq_dictionary(tmp_path, size: int = 12, name: str = "dict.txt"):
    from fairseq.data import Dictionary as FairseqDictionary

    symbols = [str(i) for i in range(size)]
    random.Random(0).shuffle(symbols)  # frequency order, not numeric order
    fs_dict = FairseqDictionary()
    for rank, symbol in enumerate(symbols):
        fs_dict.add_symbol(symbol, n=1000 - rank)
    fs_dict.save(os.fspath(tmp_path / name))
    return fs_dict


def _perturb_norms(model: torch.nn.Module) -> None:
    with torch.no_grad():  # random, non-trivial LayerNorm affine parameters
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(torch.randn_like(p) * 0.1)


def _fairseq_mbart(tmp_path, pre_ln: bool):
    from fairseq.models.bart.model import BARTModel, mbart_large_architecture

    fs_dict = _fairseq_dictionary(tmp_path)
    args = argparse.Namespace(
        arch="mbart_large",
        encoder_layers=2,
        decoder_layers=3,
        encoder_embed_dim=16,
        decoder_embed_dim=16,
        encoder_ffn_embed_dim=32,
        decoder_ffn_embed_dim=24,
        encoder_attention_heads=2,
        decoder_attention_heads=4,
        encoder_normalize_before=pre_ln,
        decoder_normalize_before=pre_ln,
        max_source_positions=64,
        max_target_positions=48,
    )
    mbart_large_architecture(args)  # gelu, learned positions, layernorm_embedding, shared
    task = types.SimpleNamespace(source_dictionary=fs_dict, target_dictionary=fs_dict)
    model = BARTModel.build_model(args, task)
    _perturb_norms(model)
    return args, model.eval()


def _mbart_batch():
    src = torch.randint(4, 16, (3, 8))
    src[:, -1] = 2
    src[1, :3] = 1  # left padding, as fairseq's translation/denoising batches
    src[2, :5] = 1
    prev = torch.randint(4, 16, (3, 6))
    prev[:, 0] = 2
    prev[2, 4:] = 1
    return src, prev


def _save(path, layout: str, args, state) -> str:
    from fairseq.checkpoint_utils import torch_persistent_save

    if layout == "cfg-namespace":  # the released unit_mBART/checkpoint.pt layout
        ckpt = {"args": None, "cfg": {"model": args, "task": {"_name": "denoising"}}}
    elif layout == "args":
        ckpt = {"args": args}
    else:  # fp16 weights
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        ckpt = {"args": args}
    ckpt.update(model=state, optimizer_history=[], extra_state={})
    torch_persistent_save(ckpt, os.fspath(path))
    return os.fspath(path)


@pytest.mark.parametrize("layout", ["cfg-namespace", "args", "fp16"])
@pytest.mark.parametrize("pre_ln", [True, False], ids=["pre-LN", "post-LN"])
def test_unit_mbart_matches_fairseq(tmp_path, pre_ln, layout):
    args, fs_model = _fairseq_mbart(tmp_path, pre_ln)
    path = _save(tmp_path / "checkpoint.pt", layout, args, fs_model.state_dict())
    if layout == "fp16":
        with torch.no_grad():  # the reference gets the same rounded weights
            for value in fs_model.state_dict().values():
                value.copy_(value.half().float())
    ours, vocab = load_unit_mbart(path)
    assert len(vocab) == 16 and ours.decoder.config.num_heads == 4
    assert ours.encoder.config.normalize_before is pre_ln  # from the keys
    assert (ours.encoder.layer_norm is not None) is pre_ln
    assert ours.decoder.embed_tokens.weight is ours.encoder.embed_tokens.weight
    assert all(p.dtype == torch.float32 for p in ours.parameters())
    src, prev = _mbart_batch()
    with torch.no_grad():
        fs_enc = fs_model.encoder(src, src_lengths=src.ne(1).sum(1))
        expected = fs_model(src, src.ne(1).sum(1), prev)[0]
        enc = ours.encode(src)
        got = ours(src, None, prev)
    real_src = src.ne(1)
    torch.testing.assert_close(
        enc.states[real_src], fs_enc["encoder_out"][0].transpose(0, 1)[real_src], atol=ATOL, rtol=0
    )
    assert torch.equal(enc.padding_mask, fs_enc["encoder_padding_mask"][0])
    real = prev.ne(1)
    torch.testing.assert_close(got[real], expected[real], atol=ATOL, rtol=0)


def test_unit_mbart_incremental_matches_fairseq_full(tmp_path):
    """Our cached step-by-step decoding (cross K/V computed once) == fairseq's full forward."""
    args, fs_model = _fairseq_mbart(tmp_path, pre_ln=True)
    ours, _ = load_unit_mbart(
        _save(tmp_path / "checkpoint.pt", "args", args, fs_model.state_dict())
    )
    src, prev = _mbart_batch()
    prev[2, 4:] = 7  # no padding: every row decodes every step
    with torch.no_grad():
        expected = fs_model(src, src.ne(1).sum(1), prev)[0]
        state, steps = DecodingState(ours.encode(src)), []
        for t in range(prev.shape[1]):
            steps.append(ours.decoder(prev[:, t : t + 1], state=state))
            if t == 0:
                cross_k = state.layers[0].cross_kv[0]
        assert state.layers[0].cross_kv[0] is cross_k  # computed once per source
    torch.testing.assert_close(torch.cat(steps, 1), expected, atol=ATOL, rtol=0)


def _fairseq_wav2seq(tmp_path, shared: bool):
    from fairseq.models.wav2vec.wav2vec2_asr import TransformerDecoder, Wav2Vec2Seq2SeqConfig
    from omegaconf import OmegaConf, open_dict

    hubert_cfg, task_cfg, _, hubert = fairseq_tiny_hubert(2)
    hubert.remove_pretraining_modules()  # as Wav2Seq's encoder does (drops final_proj)
    tgt = _fairseq_dictionary(tmp_path, 14, "dict.km.txt")  # pseudo-language BPE ids
    dec_cfg = OmegaConf.structured(
        Wav2Vec2Seq2SeqConfig(
            decoder_embed_dim=16,
            decoder_ffn_embed_dim=24,
            decoder_layers=2,
            decoder_attention_heads=4,
            share_decoder_input_output_embed=shared,
            autoregressive=True,
            normalize=False,
        )
    )
    with open_dict(dec_cfg):
        dec_cfg.encoder_embed_dim = 16  # cross-attention key/value width
    embed = torch.nn.Embedding(len(tgt), 16, tgt.pad())
    decoder = TransformerDecoder(dec_cfg, tgt, embed)
    for module in (hubert, decoder):
        _perturb_norms(module)
    state = {f"encoder.w2v_model.{k}": v for k, v in hubert.state_dict().items()}
    state["encoder.w2v_model.label_embs_concat"] = torch.randn(5, 8)  # training-only leftover
    state |= {f"decoder.{k}": v for k, v in decoder.state_dict().items()}
    model_cfg = OmegaConf.to_container(dec_cfg, resolve=False, enum_to_str=True)
    model_cfg["_name"] = "wav2vec_seq2seq_v2"
    model_cfg["w2v_args"] = {
        "model": OmegaConf.to_container(OmegaConf.structured(hubert_cfg), enum_to_str=True),
        "task": OmegaConf.to_container(OmegaConf.structured(task_cfg), enum_to_str=True),
    }
    return hubert.eval(), decoder.eval(), state, model_cfg


@pytest.mark.parametrize("shared", [True, False], ids=["tied", "embed_out"])
@pytest.mark.parametrize("layout", ["cfg", "args"])
def test_wav2seq_matches_fairseq(tmp_path, shared, layout):
    from fairseq.checkpoint_utils import torch_persistent_save

    hubert, decoder, state, model_cfg = _fairseq_wav2seq(tmp_path, shared)
    if layout == "cfg":
        ckpt = {"args": None, "cfg": {"model": model_cfg, "task": {}}, "model": state}
    else:
        model_cfg["w2v_args"] = argparse.Namespace(**model_cfg["w2v_args"]["model"])
        ckpt = {"args": argparse.Namespace(arch="wav2vec_seq2seq_v2", **model_cfg), "model": state}
    path = os.fspath(tmp_path / "wav2seq.pt")
    torch_persistent_save(ckpt, path)
    ours, vocab = load_wav2seq(path, tmp_path / "dict.km.txt")
    assert len(vocab) == 18 and ours.audio_input
    wav = torch.randn(2, 4000)
    prev = torch.randint(4, 18, (2, 6))
    prev[:, 0] = 2
    prev[1, 4:] = 1
    with torch.no_grad():
        feats, _ = hubert.extract_features(wav, padding_mask=None, mask=False)
        expected = decoder(prev, {"encoder_out": feats.transpose(0, 1), "padding_mask": None})[0]
        enc = ours.encode(wav, torch.tensor([4000, 4000]))
        got = ours(wav, torch.tensor([4000, 4000]), prev)
        state, steps = DecodingState(enc), []
        for t in range(4):
            steps.append(ours.decoder(prev[:, t : t + 1], state=state))
    torch.testing.assert_close(enc.states, feats, atol=ATOL, rtol=0)
    real = prev.ne(1)
    torch.testing.assert_close(got[real], expected[real], atol=ATOL, rtol=0)
    torch.testing.assert_close(torch.cat(steps, 1), expected[:, :4], atol=ATOL, rtol=0)
