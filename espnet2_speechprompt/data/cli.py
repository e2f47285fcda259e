"""The command line shared by the corpus modules (``python -m espnet2_speechprompt.data.<x>``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..errors import SpeechPromptError
from .fewshot import fewshot_name, sample_n_shot
from .kaldi import Utterance, write_data_dir

logger = logging.getLogger(__name__)


def base_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m {prog}",
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data_dir", default="data", help="where the <set>/ dirs go")
    parser.add_argument(
        "--n_shot",
        type=int,
        default=0,
        help="also write <train>_<N>shot_seed<S>: N training utterances per class (0: no)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the --n_shot draw")
    return parser


def write_sets(
    sets: Mapping[str, Sequence[Utterance]],
    args: argparse.Namespace,
    train_set: str,
    class_of: Callable[[Utterance], str],
) -> dict[str, int]:
    """Write every set (and the few-shot subset of ``train_set``); returns the counts."""
    counts = {}
    all_sets = dict(sets)
    if args.n_shot:
        name = fewshot_name(train_set, args.n_shot, args.seed)
        all_sets[name] = sample_n_shot(list(sets[train_set]), args.n_shot, args.seed, class_of)
    for name, utts in all_sets.items():
        write_data_dir(Path(args.data_dir) / name, utts)
        counts[name] = len(utts)
        speakers = len({u.speaker for u in utts})
        logger.info("%s/%s: %d utterances, %d speakers", args.data_dir, name, len(utts), speakers)
    return counts


def run(main: Callable[[list[str] | None], None], argv: list[str] | None = None) -> None:
    """Run a corpus module's main with logging and one-line errors for bad input."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        main(argv)
    except SpeechPromptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
