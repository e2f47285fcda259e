"""Tiny in-context learning data on disk: a random unit LM (GSLM layout) and a few toy tasks,
each a Kaldi-style ``train`` and ``valid`` directory (``units``: k-means ids, ``label``)."""

from __future__ import annotations

import random
from pathlib import Path

import torch

from espnet2_speechprompt.checkpoints.unit_lm import save_unit_lm
from espnet2_speechprompt.vocab import Dictionary
from test.factories.unit_lm import tiny_decoder

NUM_UNITS = 16
# task -> labels; each label prefers a few units, so the tasks are learnable in principle
TASKS = {"digits": ["one", "two", "three"], "colours": ["red", "blue"], "pitch": ["lo", "hi"]}
# small episodes for the tiny LM (64 positions): 2 * (6 + 2) + 6 + 1 = 23 tokens
EPISODE_OPTIONS = ["--num_demos", "2", "--unit_length", "6"]
EPISODE_CONF = "{num_demos: 2, unit_length: 6}"


def write_task_dir(folder: Path, rows: list[tuple[str, list[int], str]]) -> Path:
    """``folder/{units,label}`` of (utterance, units, label) rows."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "units").write_text("".join(f"{u} {' '.join(map(str, x))}\n" for u, x, _ in rows))
    (folder / "label").write_text("".join(f"{u} {label}\n" for u, _, label in rows))
    return folder


def task_rows(task: str, count: int, rng: random.Random) -> list[tuple[str, list[int], str]]:
    """``count`` utterances of ``task``, labels in turn, units of 3 to 10 steps."""
    labels = TASKS[task]
    homes = {label: rng.sample(range(NUM_UNITS), 4) for label in labels}
    rows = []
    for i in range(count):
        label = labels[i % len(labels)]
        length = rng.randint(3, 10)
        units = [rng.choice(homes[label]) if rng.random() < 0.8 else rng.randrange(NUM_UNITS)
                 for _ in range(length)]  # fmt: skip
        rows.append((f"{task}_{i:03d}", units, label))
    return rows


def save_tiny_lm(directory: Path, seed: int = 0) -> Path:
    """A seeded random 2-layer unit LM over units 0..15 (``dict.txt`` in a shuffled order, as
    a frequency-ordered release has it); returns the checkpoint."""
    symbols = [str(u) for u in range(NUM_UNITS)]
    random.Random(seed).shuffle(symbols)
    vocab = Dictionary(symbols)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = tiny_decoder(len(vocab))
    return save_unit_lm(model, vocab, directory)


def make_icl_data(root: Path, num_train: int = 24, num_valid: int = 12, seed: int = 0) -> Path:
    """``root/lm/{checkpoint_best.pt,dict.txt}`` and ``root/<task>/{train,valid}`` per task."""
    rng = random.Random(seed)
    save_tiny_lm(root / "lm", seed)
    for task in TASKS:
        rows = task_rows(task, num_train + num_valid, rng)
        write_task_dir(root / task / "train", rows[:num_train])
        write_task_dir(root / task / "valid", rows[num_train:])
    return root


def episode_args(data: Path, out: Path, *extra: str) -> list[str]:
    """``icl_episodes`` options for every task of ``data``, writing ``out``."""
    return [
        "--train_tasks", *(str(data / t / "train") for t in TASKS),
        "--valid_tasks", *(str(data / t / "valid") for t in TASKS),
        "--dictionary", str(data / "lm" / "dict.txt"), "--output_dir", str(out),
        "--num_episodes", "40", "--num_valid_episodes", "12", *EPISODE_OPTIONS, *extra,
    ]  # fmt: skip


def task_args(data: Path, episodes: Path, out: Path) -> list[str]:
    """``SpeechPromptICLTask`` options training on ``episodes`` (written by ``icl_episodes``)."""
    args = [
        "--output_dir", str(out),
        "--backbone_conf", f"checkpoint={data / 'lm' / 'checkpoint_best.pt'}",
        "--episode_conf", EPISODE_CONF, "--optim_conf", "lr=0.02",
        "--batch_type", "unsorted", "--batch_size", "8", "--num_workers", "0",
        "--use_tensorboard", "false", "--num_att_plot", "0", "--seed", "0",
    ]  # fmt: skip
    for split in ("train", "valid"):
        for name in ("episode", "target"):
            path = episodes / split / name
            args += [f"--{split}_data_path_and_name_and_type", f"{path},{name},text_int"]
        args += [f"--{split}_shape_file", str(episodes / split / "episode")]
    return args
