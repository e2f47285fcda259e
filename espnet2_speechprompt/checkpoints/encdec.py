"""Load encoder-decoder backbones from their released fairseq checkpoints, without fairseq.

- Unit mBART (``unit_mBART/checkpoint.pt`` + ``dict.txt``): fairseq ``bart``/``mbart_large``,
  ``encoder.*`` + ``decoder.*``. Pre- or post-LN is read from the keys (``encoder.layer_norm``
  exists only for pre-LN), not from the architecture name.
- Wav2Seq (``wav2seq-hubert-base-*.pt`` + its pseudo-language dict): ``encoder.w2v_model.*``
  (HuBERT) + ``decoder.*`` (post-LN, sinusoidal, ``embed_scale = sqrt(d)`` always,
  ``decoder.embed_out`` when the output projection is not shared).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError
from ..speechlm.encoder import EncoderDecoderModel, HubertSeqEncoder, TransformerEncoder
from ..vocab import Dictionary
from .hubert import hubert_from_state
from .safe_pickle import FairseqCheckpoint, read_fairseq_checkpoint, safe_torch_load, to_plain
from .unit_lm import (
    check_state_dict,
    decoder_config_from_state,
    decoder_from_state,
    encoder_config_from_state,
    prefixed_state,
    write_release,
)

logger = logging.getLogger(__name__)

_IGNORED = ("version", "embed_positions._float_tensor", "embed_positions.weights")
_MBART_ARCHS = ("bart", "mbart", "transformer", "unknown")


def _strip(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {
        k[len(prefix) :]: v
        for k, v in state.items()
        if k.startswith(prefix) and not k.endswith(_IGNORED)
    }


def _kind(ckpt: FairseqCheckpoint) -> str:
    keys = ckpt.model_state
    if any(k.startswith("encoder.w2v_model.") for k in keys):
        return "wav2seq"
    if "encoder.embed_tokens.weight" in keys and any(k.startswith("decoder.") for k in keys):
        return "unit_mbart"
    if any(k.startswith("decoder.") for k in keys) and not any(
        k.startswith("encoder.") for k in keys
    ):
        return "decoder-only LM (GSLM unit LM: --backbone gslm)"
    return "unknown"


def _check_kind(ckpt: FairseqCheckpoint, wanted: str, label: str) -> None:
    kind = _kind(ckpt)
    if kind != wanted:
        raise CheckpointError(
            f"{ckpt.path}: a '{ckpt.arch}' checkpoint with the keys of a {kind} model, not a "
            f"{label}; use the loader for that architecture"
        )


def _load_module(path: str, module: torch.nn.Module, state: dict, prefix: str) -> None:
    expected = {k: v for k, v in module.state_dict().items()}
    check_state_dict(path, expected, state, prefix)
    module.load_state_dict(state)


def _dictionary(
    path: str, dictionary: str | os.PathLike | None, rows: int, default: str
) -> Dictionary:
    dict_path = Path(dictionary) if dictionary else Path(path).with_name(default)
    vocab = Dictionary.load(dict_path)
    if len(vocab) + 1 == rows and "<mask>" not in vocab:
        vocab.add("<mask>")  # fairseq's denoising task appends <mask> after loading dict.txt
        logger.info("%s: <mask> appended as token %d (denoising pre-training)", dict_path, rows - 1)
    if len(vocab) != rows:
        raise CheckpointError(
            f"{dict_path}: {len(vocab) - 4} symbols + 4 specials = {len(vocab)} entries, but "
            f"{path} has an embedding table of {rows} rows: use the dictionary released with "
            "this checkpoint"
        )
    return vocab


def unit_mbart_dictionary(
    checkpoint: str | os.PathLike, dictionary: str | os.PathLike | None = None
) -> Dictionary:
    """The dictionary ``load_unit_mbart`` gives (``<mask>`` appended when the checkpoint's
    embedding table has its row), reading only the table's shape (tensors memory-mapped)."""
    try:
        state = safe_torch_load(checkpoint, mmap=True)
    except CheckpointError:  # not a zip-format file: read it whole
        state = safe_torch_load(checkpoint)
    weights = state.get("model", {}) if isinstance(state, dict) else {}
    table = weights.get("encoder.embed_tokens.weight") if isinstance(weights, dict) else None
    if table is None:
        raise CheckpointError(f"{checkpoint}: missing key 'encoder.embed_tokens.weight'")
    return _dictionary(os.fspath(checkpoint), dictionary, table.shape[0], "dict.txt")


def load_unit_mbart(
    checkpoint: str | os.PathLike, dictionary: str | os.PathLike | None = None
) -> tuple[EncoderDecoderModel, Dictionary]:
    """Unit mBART (fp32, eval) and its ``Dictionary`` (``dict.txt`` beside it by default)."""
    ckpt = read_fairseq_checkpoint(checkpoint)
    path, config = ckpt.path, ckpt.model_config
    _check_kind(ckpt, "unit_mbart", "Unit mBART (fairseq bart/mbart encoder-decoder)")
    if not ckpt.arch.startswith(_MBART_ARCHS):
        raise CheckpointError(f"{path}: a '{ckpt.arch}' checkpoint, not a fairseq (m)BART")
    if any(k.startswith("classification_heads.") for k in ckpt.model_state):
        logger.info("%s: classification heads ignored", path)
    enc_state = _strip(ckpt.model_state, "encoder.")
    dec_state = _strip(ckpt.model_state, "decoder.")
    for name in ("encoder", "decoder"):
        if config.get(f"{name}_layers_to_keep"):
            raise CheckpointError(f"{path}: '{name}_layers_to_keep' models are not supported")
    if "layers.0.encoder_attn.k_proj.weight" not in dec_state:
        raise CheckpointError(f"{path}: missing key 'decoder.layers.0.encoder_attn.k_proj.weight'")
    bart = dict(arch=ckpt.arch, normalize_before=False, activation="gelu")
    enc_config = encoder_config_from_state(path, enc_state, config, **bart)
    dec_config = decoder_config_from_state(path, dec_state, config, **bart)
    encoder = TransformerEncoder(enc_config)
    _load_module(path, encoder, enc_state, "encoder.")
    decoder = decoder_from_state(path, dec_state, dec_config)
    if torch.equal(encoder.embed_tokens.weight, decoder.embed_tokens.weight):
        decoder.embed_tokens.weight = encoder.embed_tokens.weight  # share_all_embeddings
        if dec_config.share_input_output_embed:
            decoder.output_projection.weight = encoder.embed_tokens.weight
    vocab = _dictionary(path, dictionary, enc_config.vocab_size, "dict.txt")
    return EncoderDecoderModel(encoder, decoder).eval(), vocab


def save_unit_mbart(
    model: EncoderDecoderModel, vocab: Dictionary, directory: str | os.PathLike
) -> Path:
    """Write ``checkpoint.pt`` + ``dict.txt`` in the Unit mBART layout (``cfg["model"]`` a
    Namespace), as released; ``load_unit_mbart`` reads it back exactly. A model with one row
    more than ``vocab`` has ``<mask>`` last, left out of ``dict.txt`` as fairseq's denoising
    task leaves it."""
    enc, dec = model.encoder.config, model.decoder.config
    args = argparse.Namespace(
        _name="bart",
        arch="mbart_large",
        encoder_layers=enc.num_layers,
        decoder_layers=dec.num_layers,
        encoder_embed_dim=enc.embed_dim,
        decoder_embed_dim=dec.embed_dim,
        encoder_ffn_embed_dim=enc.ffn_dim,
        decoder_ffn_embed_dim=dec.ffn_dim,
        encoder_attention_heads=enc.num_heads,
        decoder_attention_heads=dec.num_heads,
        encoder_normalize_before=enc.normalize_before,
        decoder_normalize_before=dec.normalize_before,
        activation_fn=dec.activation,
        no_scale_embedding=not dec.scale_embedding,
        layernorm_embedding=dec.layernorm_embedding,
        share_all_embeddings=True,
        share_decoder_input_output_embed=dec.share_input_output_embed,
        max_source_positions=enc.max_positions,
        max_target_positions=dec.max_positions,
    )
    state = prefixed_state(model.encoder, "encoder.") | prefixed_state(model.decoder, "decoder.")
    state["encoder.version"] = state["decoder.version"] = torch.tensor([3.0])
    payload = {"args": None, "cfg": {"model": args, "task": {}}, "model": state}
    return write_release(directory, "checkpoint.pt", payload, vocab)


def _wav2seq_configs(config: dict[str, Any], path: str) -> tuple[dict, bool | None]:
    """HuBERT model config and ``normalize`` from ``w2v_args`` (dict, Namespace or DictConfig)."""
    w2v_args = to_plain(config.get("w2v_args")) or {}
    if "model" in w2v_args and isinstance(w2v_args["model"], dict):
        hubert_config, task = w2v_args["model"], w2v_args.get("task") or {}
    else:  # a flat Namespace (args era)
        hubert_config, task = w2v_args, w2v_args
    normalize = task.get("normalize", config.get("normalize"))
    return hubert_config, None if normalize is None else bool(normalize)


def load_wav2seq(
    checkpoint: str | os.PathLike, dictionary: str | os.PathLike | None = None
) -> tuple[EncoderDecoderModel, Dictionary]:
    """Wav2Seq (HuBERT encoder on 16 kHz audio + transformer decoder), fp32, eval."""
    ckpt = read_fairseq_checkpoint(checkpoint)
    path, config = ckpt.path, ckpt.model_config
    _check_kind(ckpt, "wav2seq", "Wav2Seq (encoder.w2v_model.* + decoder.*)")
    hubert_config, normalize = _wav2seq_configs(config, path)
    hubert_state = _strip(ckpt.model_state, "encoder.w2v_model.")
    hubert = hubert_from_state(hubert_state, hubert_config, path, normalize)
    dec_state = _strip(ckpt.model_state, "decoder.")
    if "embed_out" in dec_state:
        dec_state["output_projection.weight"] = dec_state.pop("embed_out")
    for key in ("project_in_dim.weight", "layernorm_embedding.weight"):
        if key in dec_state:
            raise CheckpointError(f"{path}: 'decoder.{key}' is not supported")
    dec_config = decoder_config_from_state(
        path, dec_state, config, "wav2vec_seq2seq", normalize_before=False
    )
    dec_config.scale_embedding = True  # Wav2Seq's decoder always scales by sqrt(d)
    dec_config.share_input_output_embed = "output_projection.weight" not in dec_state
    decoder = decoder_from_state(path, dec_state, dec_config)
    proj = _strip(ckpt.model_state, "encoder.proj.")
    encoder = HubertSeqEncoder(hubert, proj["weight"].shape[0] if proj else None)
    if encoder.proj is not None:
        _load_module(path, encoder.proj, proj, "encoder.proj.")
    if dec_config.encoder_dim != (encoder.proj.out_features if proj else encoder.embed_dim):
        raise CheckpointError(
            f"{path}: decoder cross-attention expects dim {dec_config.encoder_dim}, the encoder "
            f"gives {encoder.proj.out_features if proj else encoder.embed_dim}"
        )
    vocab = _dictionary(path, dictionary, dec_config.vocab_size, "dict.txt")
    return EncoderDecoderModel(encoder.eval(), decoder).eval(), vocab
