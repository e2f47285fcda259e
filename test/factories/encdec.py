"""Tiny encoder-decoder backbones and their release layouts: a Unit-mBART-shaped model
(``tiny_encdec``) and a Wav2Seq-shaped one (``tiny_wav2seq``), and writers of fairseq's released
``checkpoint.pt`` + ``dict.txt`` for each, which the package's loaders read back exactly."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

from espnet2_speechprompt.checkpoints.encdec import save_unit_mbart  # noqa: F401 (re-export)
from espnet2_speechprompt.checkpoints.hubert import fairseq_hubert_key
from espnet2_speechprompt.checkpoints.unit_lm import prefixed_state, write_release
from espnet2_speechprompt.speechlm.encoder import (
    EncoderDecoderModel,
    HubertSeqEncoder,
    TransformerEncoder,
)
from espnet2_speechprompt.speechlm.transformer_lm import (
    DecoderConfig,
    EncoderConfig,
    TransformerDecoder,
)
from espnet2_speechprompt.vocab import Dictionary
from test.factories.hubert import tiny_hubert


def tiny_encdec(
    vocab_size: int,
    dim: int = 32,
    layers: int = 2,
    heads: int = 4,
    encoder_layers: int | None = None,
):
    """A Unit-mBART-shaped model (pre-LN, GELU, learned positions, layernorm_embedding);
    ``encoder_layers`` (default ``layers``) gives the encoder a depth of its own."""
    config = dict(
        vocab_size=vocab_size,
        embed_dim=dim,
        ffn_dim=2 * dim,
        num_layers=layers,
        num_heads=heads,
        activation="gelu",
        learned_positions=True,
        layernorm_embedding=True,
        max_positions=64,
    )
    decoder = TransformerDecoder(DecoderConfig(**config, cross_attention=True))
    config["num_layers"] = layers if encoder_layers is None else encoder_layers
    encoder = TransformerEncoder(EncoderConfig(**config))
    encoder.embed_tokens.weight = decoder.embed_tokens.weight  # share_all_embeddings
    return EncoderDecoderModel(encoder, decoder)


def tiny_wav2seq(
    vocab_size: int,
    shared: bool = True,
    proj_dim: int | None = None,
    seed: int = 0,
    decoder_dim: int = 16,
):
    """A Wav2Seq-shaped ``EncoderDecoderModel``: ``tiny_hubert`` (3 layers, 16-dim) + a 2-layer
    post-LN decoder of width ``decoder_dim`` (sinusoidal positions; tied output projection
    unless ``shared=False``), all perturbed."""
    encoder = HubertSeqEncoder(tiny_hubert(seed=seed), proj_dim)
    config = DecoderConfig(
        vocab_size, decoder_dim, 24, 2, 4, normalize_before=False, final_layer_norm=False,
        share_input_output_embed=shared, cross_attention=True, encoder_dim=proj_dim or 16,
    )  # fmt: skip
    decoder = TransformerDecoder(config)
    with torch.no_grad():
        for p in [*decoder.parameters(), *(encoder.proj.parameters() if proj_dim else [])]:
            p.add_(torch.randn_like(p) * 0.1)
    return EncoderDecoderModel(encoder, decoder).eval()


def save_tiny_wav2seq(directory: str | os.PathLike, num_symbols: int = 10) -> Path:
    """``tiny_wav2seq`` saved in the released layout with a ``dict.txt`` of ``p0..p<N-1>``;
    returns the checkpoint path."""
    vocab = Dictionary([f"p{i}" for i in range(num_symbols)])
    return save_wav2seq(tiny_wav2seq(len(vocab)), vocab, directory)


def save_wav2seq(
    model: EncoderDecoderModel, vocab: Dictionary, directory: str | os.PathLike
) -> Path:
    """Write ``checkpoint.pt`` + ``dict.txt`` in the released Wav2Seq layout (``args`` with a
    ``w2v_args`` Namespace; ``encoder.w2v_model.*`` in fairseq's HuBERT key names), which
    ``load_wav2seq`` reads back exactly."""
    if not model.audio_input:
        raise ValueError("save_wav2seq needs a HuBERT encoder (HubertSeqEncoder)")
    hubert, dec = model.encoder.w2v_model, model.decoder.config
    hc = hubert.cfg
    w2v_args = argparse.Namespace(
        _name="hubert",
        arch="hubert",
        conv_feature_layers=repr([tuple(layer) for layer in hc.conv_layers]),
        extractor_mode=hc.extractor_mode,
        conv_bias=hc.conv_bias,
        encoder_layers=hc.num_layers,
        encoder_embed_dim=hc.embed_dim,
        encoder_ffn_embed_dim=hc.ffn_dim,
        encoder_attention_heads=hc.num_heads,
        conv_pos=hc.conv_pos,
        conv_pos_groups=hc.conv_pos_groups,
        layer_norm_first=hc.layer_norm_first,
        activation_fn=hc.activation,
        normalize=hc.normalize,
    )
    args = argparse.Namespace(
        _name="wav2vec_seq2seq_v2",
        arch="wav2vec_seq2seq_v2",
        decoder_embed_dim=dec.embed_dim,
        decoder_ffn_embed_dim=dec.ffn_dim,
        decoder_layers=dec.num_layers,
        decoder_attention_heads=dec.num_heads,
        decoder_normalize_before=False,
        decoder_learned_pos=dec.learned_positions,
        no_token_positional_embeddings=dec.no_positions,
        max_target_positions=dec.max_positions,
        activation_fn=dec.activation,
        share_decoder_input_output_embed=dec.share_input_output_embed,
        autoregressive=True,
        normalize=hc.normalize,
        w2v_args=w2v_args,
    )
    mode = hc.extractor_mode
    state = {
        f"encoder.w2v_model.{fairseq_hubert_key(k, mode)}": v.detach().clone()
        for k, v in hubert.state_dict().items()
    }
    if model.encoder.proj is not None:
        state |= prefixed_state(model.encoder.proj, "encoder.proj.")
    for key, value in model.decoder.state_dict().items():
        if key == "output_projection.weight":
            if dec.share_input_output_embed:
                continue
            key = "embed_out"
        state[f"decoder.{key}"] = value.detach().clone()
    state["decoder.version"] = torch.tensor([3.0])
    return write_release(directory, "checkpoint.pt", {"args": args, "model": state}, vocab)
