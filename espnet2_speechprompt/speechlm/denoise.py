"""Pre-train a small encoder-decoder on units as mBART is pre-trained: denoising by text
infilling (spans of Poisson(3.5) lengths, about 35 % of the units, each replaced by one
``<mask>``; the decoder restores the whole sequence).

The mini speech generation recipe makes its own Unit-mBART-shaped backbone with this (pre-LN,
GELU, learned positions, embedding LayerNorm, all embeddings shared), saves it in the Unit
mBART release layout and loads it through the real loader, so prompts for inpainting meet a
backbone that knows ``<mask>``. Source ``u_1..u_T </s>``; the decoder starts with ``</s>``.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..batching import pad_batch
from ..vocab import EOS, PAD
from .encoder import EncoderDecoderModel, TransformerEncoder
from .pretrain import PretrainConfig, train_from_scratch
from .transformer_lm import DecoderConfig, EncoderConfig, TransformerDecoder


@dataclass
class DenoiseConfig(PretrainConfig):
    """The unit LM's settings (``num_layers`` in the encoder and in the decoder), and the
    noise: the share of units masked and the mean span length."""

    num_layers: int = 2
    mask_ratio: float = 0.35
    poisson_lambda: float = 3.5


def poisson(lam: float, rng: random.Random) -> int:
    """A Poisson(``lam``) draw (Knuth's product of uniforms; small ``lam``)."""
    limit, count, product = math.exp(-lam), 0, rng.random()
    while product > limit:
        count, product = count + 1, product * rng.random()
    return count


def infill(
    units: list[int], mask_index: int, ratio: float, lam: float, rng: random.Random
) -> list[int]:
    """mBART's text infilling: spans of Poisson(``lam``) lengths (at least one unit) covering
    about ``ratio`` of ``units``, each run of masked units replaced by one ``mask_index``."""
    masked = [False] * len(units)
    left = round(ratio * len(units))
    while left > 0:
        length = min(max(poisson(lam, rng), 1), left)
        start = rng.randrange(len(units) - length + 1)
        masked[start : start + length] = [True] * length
        left -= length
    out = []
    for i, unit in enumerate(units):
        if not masked[i]:
            out.append(unit)
        elif i == 0 or not masked[i - 1]:
            out.append(mask_index)
    return out


def unit_mbart_shaped(vocab_size: int, config: DenoiseConfig) -> EncoderDecoderModel:
    """A randomly initialised encoder-decoder of Unit mBART's kind, ``config``'s size."""
    shape = dict(
        vocab_size=vocab_size, embed_dim=config.embed_dim, ffn_dim=config.ffn_dim,
        num_layers=config.num_layers, num_heads=config.num_heads, activation="gelu",
        learned_positions=True, layernorm_embedding=True, max_positions=config.max_positions,
    )  # fmt: skip
    decoder = TransformerDecoder(DecoderConfig(**shape, cross_attention=True))
    encoder = TransformerEncoder(EncoderConfig(**shape))
    encoder.embed_tokens.weight = decoder.embed_tokens.weight  # share_all_embeddings
    return EncoderDecoderModel(encoder, decoder)


def noisy_batches(
    rows: list[list[int]], mask_index: int, config: DenoiseConfig, rng, shuffle: bool
):
    """(source, lengths, decoder input, target) batches; fresh noise from ``rng``."""
    order = list(range(len(rows)))
    if shuffle:
        rng.shuffle(order)
    for i in range(0, len(order), config.batch_size):
        chosen = [rows[j] for j in order[i : i + config.batch_size]]
        noisy = [
            infill(r, mask_index, config.mask_ratio, config.poisson_lambda, rng) for r in chosen
        ]
        source, lengths = pad_batch([n + [EOS] for n in noisy])
        previous, _ = pad_batch([[EOS] + r for r in chosen])
        target, _ = pad_batch([r + [EOS] for r in chosen])
        yield source, lengths, previous, target


def denoise_loss(model: EncoderDecoderModel, batch) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy of restoring the target, and its token count."""
    source, lengths, previous, target = batch
    logits = model(source, lengths, previous)
    loss = F.cross_entropy(logits.transpose(1, 2), target, ignore_index=PAD, reduction="sum")
    return loss, int(target.ne(PAD).sum())


@torch.no_grad()
def evaluate_denoising(
    model: EncoderDecoderModel, rows: list[list[int]], mask_index: int, config: DenoiseConfig
) -> float:
    """Per-token negative log-likelihood (nats) of restoring ``rows`` from seeded noise."""
    model.eval()
    total, count = 0.0, 0
    for batch in noisy_batches(rows, mask_index, config, random.Random(config.seed), False):
        loss, n = denoise_loss(model, batch)
        total, count = total + float(loss), count + n
    return total / max(count, 1)


def pretrain_denoiser(
    train: list[list[int]],
    valid: list[list[int]] | None,
    vocab_size: int,
    mask_index: int,
    config: DenoiseConfig,
    state_path: str | os.PathLike | None = None,
    run_id: str = "",
) -> EncoderDecoderModel:
    """Train from scratch; the model of the best validation epoch (eval mode). With
    ``state_path`` an interrupted run continues (as ``pretrain_unit_lm``)."""
    torch.manual_seed(config.seed)
    model = unit_mbart_shaped(vocab_size, config)
    train_from_scratch(
        model,
        lambda rng: noisy_batches(train, mask_index, config, rng, True),
        lambda batch: denoise_loss(model, batch),
        (lambda: evaluate_denoising(model, valid, mask_index, config)) if valid else None,
        config,
        state_path,
        "denoising encoder-decoder",
        run_id,
    )
    return model.eval()
