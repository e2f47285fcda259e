r"""Write warm-up episodes for in-context learning from the data directories of training tasks.

    python -m espnet2_speechprompt.bin.icl_episodes \
        --train_tasks data/sc_en/train data/lid/train \
        --valid_tasks data/sc_en/valid data/lid/valid \
        --dictionary exp/unit_lm/dict.txt --num_episodes 10000 --num_valid_episodes 500 \
        --num_demos 4 --unit_length 50 --seed 0 --output_dir dump/icl_episodes

Each task directory holds ``units`` (k-means ids) and ``label`` (Kaldi-style). Writes
``<output_dir>/{train,valid}/{episode,target}`` (ESPnet ``text_int``: an episode's backbone
tokens and the query label's token, for ``icl_train``) and ``<output_dir>/episodes.yaml``
(what made them; its ``episode_conf`` is the one to train with). Episodes are balanced over
tasks and labels (``data/episodes.py``); each one's label mapping is drawn anew. The same
inputs and seed give the same files; the directory appears complete or not at all.
"""

from __future__ import annotations

import argparse
import os
import random
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import yaml

from ..api.icl_builder import encode_task_episode, unit_tokens
from ..api.preprocess import UnitEncoder
from ..data.episodes import TaskPool, read_task_pool, warmup_episodes
from ..errors import SpeechPromptError
from ..fileio import atomic_directory, directory_lock, sha256_of
from ..prompt.icl import EpisodeConfig
from ..vocab import Dictionary
from .cli_errors import exit_on_user_error

RECORD = "episodes.yaml"


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train_tasks", nargs="+", required=True, help="training task dirs")
    parser.add_argument("--valid_tasks", nargs="*", default=[], help="validation task dirs")
    parser.add_argument("--dictionary", required=True, help="the backbone's dict.txt")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--num_episodes", type=int, default=10000, help="training episodes")
    parser.add_argument("--num_valid_episodes", type=int, default=500)
    parser.add_argument("--num_demos", type=int, default=4, help="demonstrations per episode")
    parser.add_argument("--unit_length", type=int, default=50, help="units per utterance")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def read_pools(directories: Sequence[str], option: str, encoder: UnitEncoder) -> list[TaskPool]:
    """One pool per task directory (named by the directory as given), every utterance's units
    checked against the backbone's dictionary."""
    seen = set()
    for directory in directories:
        if os.path.normpath(directory) in seen:
            raise SpeechPromptError(f"--{option}: task {directory} is given twice")
        seen.add(os.path.normpath(directory))
    pools = [read_task_pool(directory) for directory in directories]
    for pool in pools:
        for example in pool.examples:
            try:
                encoder.encode(example.units, example.utt)
            except SpeechPromptError as exc:
                raise SpeechPromptError(f"task {pool.name}: {exc}") from None
    return pools


def write_set(
    folder: Path,
    split: str,
    pools: list[TaskPool],
    count: int,
    encoder: UnitEncoder,
    config: EpisodeConfig,
    seed: int,
) -> dict:
    """``folder/{episode,target}`` of ``count`` episodes; returns what made them."""
    episodes = warmup_episodes(pools, count, config.num_demos, seed)
    labels, mapping_rng = unit_tokens(encoder), random.Random(f"label mapping {split} {seed}")
    folder.mkdir()
    with (
        open(folder / "episode", "w", encoding="utf-8") as rows,
        open(folder / "target", "w", encoding="utf-8") as targets,
    ):
        for index, episode in enumerate(episodes):
            encoded = encode_task_episode(episode, encoder, config, labels, mapping_rng)
            uid = f"{split}{index:06d}"
            rows.write(f"{uid} {' '.join(map(str, encoded.tokens))}\n")
            targets.write(f"{uid} {encoded.target}\n")
    tasks = [
        {"task": pool.name, "examples": len(pool.examples), "labels": sorted(pool.by_label)}
        for pool in pools
    ]
    return {"num_episodes": count, "episode_seed": seed, "tasks": tasks}


def check_output_dir(output_dir: Path) -> None:
    """An output directory is replaced whole: refuse one that holds something else."""
    if output_dir.exists() and any(output_dir.iterdir()) and not (output_dir / RECORD).is_file():
        raise SpeechPromptError(
            f"--output_dir {output_dir} holds files but no {RECORD}: give a new directory "
            "(its content is replaced)"
        )


def write_episodes(args: argparse.Namespace) -> Path:
    """Check everything, then write the output directory at once."""
    for option in ("num_episodes", "num_valid_episodes"):
        if getattr(args, option) < 1:
            raise SpeechPromptError(f"--{option} must be at least 1, not {getattr(args, option)}")
    config = EpisodeConfig(args.num_demos, args.unit_length)
    encoder = UnitEncoder(Dictionary.load(args.dictionary), args.dictionary)
    sets = [
        (
            "train",
            read_pools(args.train_tasks, "train_tasks", encoder),
            args.num_episodes,
            args.seed,
        )
    ]
    if args.valid_tasks:
        valid = read_pools(args.valid_tasks, "valid_tasks", encoder)
        sets.append(("valid", valid, args.num_valid_episodes, args.seed + 1))
    output_dir = Path(args.output_dir)
    check_output_dir(output_dir)
    record = {
        "episode_conf": asdict(config),
        "episode_length": config.length,
        "seed": args.seed,
        "dictionary": os.fspath(args.dictionary),
        "dictionary_sha256": sha256_of(args.dictionary),
    }
    with directory_lock(output_dir), atomic_directory(output_dir) as tmp:
        for split, pools, count, seed in sets:
            record[split] = write_set(tmp / split, split, pools, count, encoder, config, seed)
        (tmp / RECORD).write_text(yaml.safe_dump(record, sort_keys=False), encoding="utf-8")
    return output_dir


def main(cmd: list[str] | None = None) -> None:
    args = get_parser().parse_args(cmd)
    with exit_on_user_error():
        output_dir = write_episodes(args)
    print(f"episodes: {output_dir}")


if __name__ == "__main__":
    main()
