"""Load (and write) GSLM unit LMs: fairseq ``transformer_lm`` checkpoints + ``dict.txt``.

Dimensions come from tensor shapes; only what shapes cannot tell comes from the config
(heads, activation, embedding scale, pre/post-LN). The saved config is the one the model was
built with (``base_lm_architecture`` forces pre-LN in the ``args`` era, not always with ``cfg``).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError
from ..fileio import atomic_path
from ..speechlm.transformer_lm import DecoderConfig, EncoderConfig, TransformerDecoder
from ..vocab import Dictionary
from .safe_pickle import read_fairseq_checkpoint

# decoder_attention_heads of the registered transformer_lm architectures
_ARCH_HEADS = {"transformer_lm": 8, "transformer_lm_big": 16, "transformer_lm_wiki103": 8}
_ARCH_HEADS |= {"bart_large": 16, "mbart_large": 16, "bart_base": 12, "mbart_base": 12}
_IGNORED = ("version", "embed_positions._float_tensor", "embed_positions.weights")


def check_state_dict(
    path: str, expected: dict[str, torch.Tensor], given: dict[str, torch.Tensor], prefix: str
) -> None:
    """One error naming the first missing, unexpected or mis-shaped key and both shapes."""
    for key, value in expected.items():
        if key not in given:
            raise CheckpointError(
                f"{path}: missing key '{prefix}{key}' (expected shape {list(value.shape)})"
            )
        if given[key].shape != value.shape:
            raise CheckpointError(
                f"{path}: key '{prefix}{key}' has shape {list(given[key].shape)}, "
                f"expected {list(value.shape)}"
            )
    unexpected = sorted(set(given) - set(expected))
    if unexpected:
        raise CheckpointError(
            f"{path}: unexpected key '{prefix}{unexpected[0]}' "
            f"({len(unexpected)} unexpected keys): not the architecture this loader reads"
        )


def encoder_config_from_state(
    path: str,
    state: dict[str, torch.Tensor],
    config: dict[str, Any],
    arch: str,
    side: str = "encoder",
    normalize_before: bool = True,
    activation: str = "relu",
) -> EncoderConfig:
    """Architecture of a fairseq token encoder (or what a decoder shares with one:
    ``side="decoder"``) from its prefix-stripped state and its config; ``normalize_before`` and
    ``activation`` are the architecture's defaults, used when neither the keys nor the config
    tell."""
    if "embed_tokens.weight" not in state:
        raise CheckpointError(f"{path}: missing key '{side}.embed_tokens.weight'")
    vocab, dim = state["embed_tokens.weight"].shape
    num_layers = len({k.split(".")[1] for k in state if k.startswith("layers.")})
    if num_layers == 0:
        raise CheckpointError(f"{path}: no '{side}.layers.*' keys")
    if "layers.0.fc1.weight" not in state:
        raise CheckpointError(f"{path}: missing key '{side}.layers.0.fc1.weight'")
    heads = config.get(f"{side}_attention_heads") or _ARCH_HEADS.get(arch)
    if not heads or dim % int(heads):
        raise CheckpointError(f"{path}: cannot tell the number of attention heads (dim {dim})")
    learned = "embed_positions.weight" in state
    padding_idx = 1
    max_positions = config.get(f"max_{'source' if side == 'encoder' else 'target'}_positions")
    return EncoderConfig(
        vocab_size=vocab,
        embed_dim=dim,
        ffn_dim=state["layers.0.fc1.weight"].shape[0],
        num_layers=num_layers,
        num_heads=int(heads),
        # fairseq makes the final layer_norm only for pre-LN; else trust the saved config
        normalize_before="layer_norm.weight" in state
        or bool(config.get(f"{side}_normalize_before", normalize_before)),
        final_layer_norm="layer_norm.weight" in state,
        activation=str(config.get("activation_fn") or activation),
        learned_positions=learned,
        no_positions=bool(config.get("no_token_positional_embeddings", False)),
        max_positions=(
            state["embed_positions.weight"].shape[0] - padding_idx - 1
            if learned
            else int(config.get("tokens_per_sample") or max_positions or 3072)
        ),
        scale_embedding=not config.get("no_scale_embedding", False),
        layernorm_embedding="layernorm_embedding.weight" in state,
        padding_idx=padding_idx,
    )


def decoder_config_from_state(
    path: str,
    state: dict[str, torch.Tensor],
    config: dict[str, Any],
    arch: str,
    normalize_before: bool = True,
    activation: str = "relu",
) -> DecoderConfig:
    """Architecture of a fairseq decoder (``encoder_config_from_state``'s fields, the output
    projection and cross-attention)."""
    stack = encoder_config_from_state(
        path, state, config, arch, "decoder", normalize_before, activation
    )
    cross = "layers.0.encoder_attn.k_proj.weight" in state
    return DecoderConfig(
        **asdict(stack),
        share_input_output_embed="output_projection.weight" not in state
        or bool(config.get("share_decoder_input_output_embed", False)),
        cross_attention=cross,
        encoder_dim=int(state["layers.0.encoder_attn.k_proj.weight"].shape[1]) if cross else None,
    )


def decoder_from_state(path: str, state: dict, config: DecoderConfig) -> TransformerDecoder:
    """A ``TransformerDecoder`` holding ``state`` (prefix-stripped ``decoder.*`` keys; the
    output projection only when it is not the embedding table), after ``check_state_dict``."""
    decoder = TransformerDecoder(config)
    if config.share_input_output_embed:
        state.pop("output_projection.weight", None)
    expected = {
        k: v for k, v in decoder.state_dict().items() if not k.startswith("output_projection")
    }
    if not config.share_input_output_embed:
        expected["output_projection.weight"] = decoder.output_projection.weight
    check_state_dict(path, expected, state, "decoder.")
    decoder.load_state_dict(state, strict=False)
    return decoder


def load_unit_lm(
    checkpoint: str | os.PathLike, dictionary: str | os.PathLike | None = None
) -> tuple[TransformerDecoder, Dictionary]:
    """A frozen-ready ``TransformerDecoder`` (fp32, eval) and its ``Dictionary``.

    ``dictionary`` defaults to ``dict.txt`` beside the checkpoint, as in the GSLM releases.
    """
    ckpt = read_fairseq_checkpoint(checkpoint)
    path = ckpt.path
    keys = ckpt.model_state
    if any(k.startswith("encoder.") for k in keys) or not ckpt.arch.startswith(
        ("transformer_lm", "unknown")
    ):
        raise CheckpointError(
            f"{path}: a '{ckpt.arch}' checkpoint, not a decoder-only fairseq transformer_lm "
            "(GSLM unit LM); use the loader for that architecture"
        )
    for option in ("adaptive_softmax_cutoff", "adaptive_input", "character_embeddings"):
        if ckpt.model_config.get(option):
            raise CheckpointError(f"{path}: '{option}' models are not supported")
    if any(k.startswith(("decoder.project_in_dim", "decoder.project_out_dim")) for k in keys):
        raise CheckpointError(
            f"{path}: decoder input/output dims differ from the embedding dim "
            "(project_in_dim/project_out_dim): not supported"
        )
    state = {
        k[len("decoder.") :]: v
        for k, v in keys.items()
        if k.startswith("decoder.") and not k.endswith(_IGNORED)
    }
    config = decoder_config_from_state(path, state, ckpt.model_config, ckpt.arch)
    model = decoder_from_state(path, state, config).eval()

    dict_path = Path(dictionary) if dictionary else Path(path).with_name("dict.txt")
    vocab = Dictionary.load(dict_path)
    if len(vocab) != config.vocab_size:
        raise CheckpointError(
            f"{dict_path}: {len(vocab) - 4} symbols + 4 specials = {len(vocab)} entries, but "
            f"{path} has an embedding table of {config.vocab_size} rows: use the dict.txt "
            "released with this checkpoint"
        )
    return model, vocab


def save_unit_lm(
    model: TransformerDecoder, vocab: Dictionary, directory: str | os.PathLike, **extra: Any
) -> Path:
    """Write ``checkpoint_best.pt`` + ``dict.txt`` in the GSLM release layout (``args`` form)."""
    c = model.config
    args = argparse.Namespace(
        arch="transformer_lm_big" if c.num_heads == 16 else "transformer_lm",
        task="language_modeling",
        decoder_layers=c.num_layers,
        decoder_embed_dim=c.embed_dim,
        decoder_ffn_embed_dim=c.ffn_dim,
        decoder_attention_heads=c.num_heads,
        decoder_normalize_before=True,
        decoder_learned_pos=c.learned_positions,
        no_token_positional_embeddings=c.no_positions,
        no_scale_embedding=not c.scale_embedding,
        layernorm_embedding=c.layernorm_embedding,
        share_decoder_input_output_embed=c.share_input_output_embed,
        activation_fn=c.activation,
        tokens_per_sample=c.max_positions,
        **extra,
    )
    state = prefixed_state(model, "decoder.")
    state["decoder.version"] = torch.tensor([3.0])
    payload = {"args": args, "model": state, "optimizer_history": [], "extra_state": {}}
    return write_release(directory, "checkpoint_best.pt", payload, vocab)


def prefixed_state(module: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """``module``'s state dict, detached copies, keys prefixed (``decoder.``, ...)."""
    return {f"{prefix}{k}": v.detach().clone() for k, v in module.state_dict().items()}


def write_release(
    directory: str | os.PathLike, filename: str, payload: dict, vocab: Dictionary
) -> Path:
    """``directory/filename`` (``torch.save`` of ``payload``) + ``dict.txt``, each written to a
    temporary file and renamed, so an interrupted save leaves no half-written release."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / filename
    with atomic_path(target) as tmp:
        torch.save(payload, tmp)
    with atomic_path(directory / "dict.txt") as tmp:
        vocab.save(tmp)
    return target
