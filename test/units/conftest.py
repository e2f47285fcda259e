"""Tiny HuBERT models and a generated Kaldi-style data dir for the unit-pipeline tests."""

from __future__ import annotations

import argparse
import os

import numpy as np
import pytest
import soundfile
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


def tiny_wav2seq(vocab_size: int, shared: bool = True, proj_dim: int | None = None, seed: int = 0):
    """A Wav2Seq-shaped ``EncoderDecoderModel``: ``tiny_hubert`` + a post-LN decoder
    (sinusoidal positions; tied output projection unless ``shared=False``), all perturbed."""
    from espnet2_speechprompt.speechlm.encoder import EncoderDecoderModel, HubertSeqEncoder
    from espnet2_speechprompt.speechlm.transformer_lm import DecoderConfig, TransformerDecoder

    encoder = HubertSeqEncoder(tiny_hubert(seed=seed), proj_dim)
    config = DecoderConfig(
        vocab_size, 16, 24, 2, 4, normalize_before=False, final_layer_norm=False,
        share_input_output_embed=shared, cross_attention=True, encoder_dim=proj_dim or 16,
    )  # fmt: skip
    decoder = TransformerDecoder(config)
    with torch.no_grad():
        for p in [*decoder.parameters(), *(encoder.proj.parameters() if proj_dim else [])]:
            p.add_(torch.randn_like(p) * 0.1)
    return EncoderDecoderModel(encoder, decoder).eval()


def save_tiny_wav2seq(directory: str | os.PathLike, num_symbols: int = 10):
    """``tiny_wav2seq`` saved in the released layout with a ``dict.txt`` of ``p0..p<N-1>``;
    returns the checkpoint path."""
    from espnet2_speechprompt.checkpoints.encdec import save_wav2seq
    from espnet2_speechprompt.vocab import Dictionary

    vocab = Dictionary([f"p{i}" for i in range(num_symbols)])
    return save_wav2seq(tiny_wav2seq(len(vocab)), vocab, directory)


def fairseq_tiny_hubert(num_layers: int, normalize: bool = False, **settings):
    """fairseq's own HuBERT at the sizes of ``tiny_hubert`` (needs fairseq; not perturbed):
    ``(cfg, task_cfg, dictionary, model)``; ``settings`` override ``HubertConfig`` fields."""
    from fairseq.data import Dictionary
    from fairseq.models.hubert import hubert as fairseq_hubert
    from fairseq.tasks.hubert_pretraining import HubertPretrainingConfig

    cfg = fairseq_hubert.HubertConfig(
        label_rate=50,
        encoder_layers=num_layers,
        encoder_embed_dim=16,
        encoder_ffn_embed_dim=32,
        encoder_attention_heads=2,
        conv_pos=4,
        conv_pos_groups=2,
        **{"conv_feature_layers": TINY_CONV, **settings},
    )
    dictionary = Dictionary()
    for i in range(5):
        dictionary.add_symbol(str(i))
    task_cfg = HubertPretrainingConfig(label_rate=50, normalize=normalize)
    return cfg, task_cfg, dictionary, fairseq_hubert.HubertModel(cfg, task_cfg, [dictionary])


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


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one intra-op thread avoids OpenMP spin-waits on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def hubert_ckpt(tmp_path) -> str:
    return save_native_as_fairseq(tiny_hubert(), os.fspath(tmp_path / "hubert_tiny.pt"))


def tone(seconds: float, freq: float, seed: int, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(seed).normal(0, 0.05, t.shape)
    return (0.4 * np.sin(2 * np.pi * freq * t) + noise).astype(np.float32)


@pytest.fixture
def data_dir(tmp_path) -> str:
    """6 utterances of tones + noise; ``utt3`` is read through a ``cat ... |`` pipe."""
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    lines = []
    for i in range(6):
        path = wavs / f"utt{i}.wav"
        soundfile.write(path, tone(0.3 + 0.1 * i, 200 + 150 * i, i), 16000)
        entry = f"cat {path} |" if i == 3 else os.fspath(path)
        lines.append(f"utt{i} {entry}\n")
    data = tmp_path / "data"
    data.mkdir()
    (data / "wav.scp").write_text("".join(lines))
    return os.fspath(data)
