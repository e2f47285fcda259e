"""Tiny in-context learning set-ups: a seeded PromptedICL on a tiny unit LM, toy tasks whose
label is determined by which units occur, and their Kaldi-style data dirs."""

from __future__ import annotations

import random
from pathlib import Path

import torch

from espnet2_speechprompt.api.preprocess import UnitEncoder
from espnet2_speechprompt.data.episodes import Example
from espnet2_speechprompt.prompt.icl import EpisodeConfig, PromptedICL
from espnet2_speechprompt.prompt.prompts import PromptConfig
from espnet2_speechprompt.vocab import Dictionary
from test.factories.unit_lm import tiny_decoder

ICL_VOCAB = Dictionary(str(unit) for unit in range(16))  # "0".."15" at indices 4..19
ICL_EPISODE = EpisodeConfig(num_demos=3, unit_length=5)
WARM_PROMPTS = PromptConfig(input_length=2, deep_length=1, separator=True, dropout=0.0)


def tiny_icl(seed: int = 0, label_tokens=None) -> PromptedICL:
    """A PromptedICL with random prompts on a 2-layer unit LM (all seeded)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone = tiny_decoder(len(ICL_VOCAB))
        tokens = ICL_VOCAB.unit_indices() if label_tokens is None else label_tokens
        return PromptedICL(backbone, tokens, WARM_PROMPTS).eval()


def unit_encoder() -> UnitEncoder:
    return UnitEncoder(ICL_VOCAB)


def toy_examples(
    name: str, labels: str = "abc", per_label: int = 4, seed: int = 0
) -> list[Example]:
    """Label ``i`` speaks only units ``4i .. 4i+3`` (3 to 8 of them): which units occur
    determines the label."""
    rng = random.Random(f"{name}/{seed}")
    return [
        Example(
            f"{name}-{label}{i}",
            tuple(4 * k + rng.randrange(4) for _ in range(rng.randint(3, 8))),
            label,
        )
        for k, label in enumerate(labels)
        for i in range(per_label)
    ]


def write_task_dir(directory: Path, examples: list[Example]) -> Path:
    """A data dir with ``units`` and ``label`` (sorted by utterance id)."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = sorted(examples, key=lambda e: e.utt)
    (directory / "units").write_text(
        "".join(f"{e.utt} {' '.join(map(str, e.units))}\n" for e in rows)
    )
    (directory / "label").write_text("".join(f"{e.utt} {e.label}\n" for e in rows))
    return directory
