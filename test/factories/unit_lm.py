"""Tiny decoder-only unit LMs (GSLM-shaped), in memory or in the GSLM release layout."""

from __future__ import annotations

from pathlib import Path

import torch

from espnet2_speechprompt.checkpoints.unit_lm import save_unit_lm
from espnet2_speechprompt.speechlm.transformer_lm import DecoderConfig, TransformerDecoder
from espnet2_speechprompt.vocab import Dictionary


def tiny_decoder(vocab_size: int = 20, **overrides) -> TransformerDecoder:
    """A 2-layer, 16-dim unit LM (eval mode) at the current torch seed."""
    config = DecoderConfig(
        vocab_size=vocab_size,
        embed_dim=16,
        ffn_dim=32,
        num_layers=2,
        num_heads=2,
        max_positions=64,
        **overrides,
    )
    return TransformerDecoder(config).eval()


def save_random_unit_lm(vocab: Dictionary, directory: Path, seed: int = 0) -> Path:
    """An untrained unit LM of the demo's pre-training size (seeded initialisation) written as
    ``directory/{checkpoint_best.pt,dict.txt}``; returns the checkpoint."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = TransformerDecoder(DecoderConfig(len(vocab), 32, 64, 2, 4, max_positions=256))
    return save_unit_lm(model.eval(), vocab, directory)
