"""Packed tasks on one tiny random unit LM (fixed random prompts and verbalizers) for the task
bank and its server: every kind of row (scored, greedy, beam, sampled; input, deep, separator), each
able to take speech through an MFCC k-means unit extractor."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from espnet2_speechprompt.api import pack
from espnet2_speechprompt.vocab import Dictionary
from test.factories.random_weights import RANDOM_STATE, dry_run_with_random_state
from test.factories.task_data import data_args
from test.factories.unit_lm import save_random_unit_lm

# kind -> (prompt_conf, verbalizer, decoding)
KINDS = {
    "commands": ("{input_length: 2, deep_length: 2}", "learnable", "score"),
    "keywords": ("{input_length: 0, deep_length: 3, separator: false}", "fixed", "score"),
    "spelled": ("{input_length: 4, deep_length: 0}", "learnable", "greedy"),
    "beamed": ("{input_length: 1, deep_length: 1}", "fixed", "beam"),
    "sampled": ("{input_length: 2, deep_length: 1}", "learnable", "sample"),
}


def random_lm(data: Path, root: Path, seed: int = 0) -> Path:
    """A seeded untrained unit LM over ``data``'s dictionary; returns its checkpoint."""
    return save_random_unit_lm(Dictionary.load(data / "lm" / "dict.txt"), root, seed=seed)


def mfcc_kmeans(root: Path) -> Path:
    """20 random MFCC centres (units 0..19, inside the tiny LM's dictionary)."""
    path = root / "km.npy"
    np.save(path, np.random.default_rng(0).normal(size=(20, 39)).astype(np.float32))
    return path


def task_package(
    data: Path, lm: Path, root: Path, kind: str, name: str | None = None, seed: int = 0,
    named: bool = True,
) -> Path:  # fmt: skip
    """A packed task of ``kind`` (``KINDS``) named ``name`` (default: the kind; none in the
    package unless ``named``), with random prompts from ``seed``."""
    name = name or kind
    prompt, verbalizer, decoding = KINDS[kind]
    kmeans = mfcc_kmeans(root)
    cmd = [
        "--output_dir", str(root / name), "--label_list", str(data / "label_list"),
        "--backbone_conf", f"checkpoint={lm}", "--backbone_precision", "float32",
        "--verbalizer", verbalizer, "--verbalizer_conf", "mode=frequency",
        "--prompt_conf", prompt, "--decoding", decoding,
        "--unit_extractor_conf", f"{{kmeans: {kmeans}, feature: mfcc}}", *data_args(data),
    ]  # fmt: skip
    exp = dry_run_with_random_state(cmd, seed=seed)
    return pack(
        exp / "config.yaml", exp / RANDOM_STATE, root / f"{name}_pkg.zip",
        task_name=name if named else None,
    )  # fmt: skip


def task_bank(data: Path, root: Path, count: int = 4) -> dict[str, Path]:
    """``count`` packages on one random LM, the kinds in turn (``<kind>`` then
    ``<kind>2``, ... with other random prompts)."""
    lm = random_lm(data, root / "lm")
    packages = {}
    for i in range(count):
        kind = list(KINDS)[i % len(KINDS)]
        name = kind if i < len(KINDS) else f"{kind}{i // len(KINDS) + 1}"
        packages[name] = task_package(data, lm, root, kind, name, seed=i)
    return packages
