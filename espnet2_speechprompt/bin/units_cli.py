"""Shared pieces of the unit tools (learn_kmeans, dump_units): options, batches, errors."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence

import torch

from espnet2_speechprompt.errors import SpeechPromptError
from espnet2_speechprompt.precision import BACKBONE_PRECISIONS
from espnet2_speechprompt.units.audio import read_audio, read_wav_scp
from espnet2_speechprompt.units.errors import UnitsError
from espnet2_speechprompt.units.features import FeatureReader, build_reader


def add_input_args(parser: argparse.ArgumentParser, jobs: bool = True) -> None:
    group = parser.add_argument_group("input and features")
    src = group.add_mutually_exclusive_group()
    src.add_argument("--data-dir", help="Kaldi-style data dir (its wav.scp is read)")
    src.add_argument("--wav-scp", help="wav.scp: 'utt path' or 'utt command |' lines")
    group.add_argument("--feature", choices=["mfcc", "hubert"], default="mfcc")
    group.add_argument("--checkpoint", help="fairseq HuBERT checkpoint (--feature hubert)")
    group.add_argument("--layer", type=int, help="HuBERT layer, 1-based (e.g. 6 for GSLM)")
    group.add_argument("--no-cmvn", action="store_true", help="MFCC without per-utterance CMVN")
    group.add_argument(
        "--smooth-frames", type=int, default=1, help="MFCC: average each frame with its "
        "neighbours over this many frames (odd; 1: no smoothing)",
    )  # fmt: skip
    group.add_argument(
        "--trim-db", type=float, help="MFCC: drop leading/trailing frames more than this many "
        "dB below the utterance's loudest frame (default: keep every frame)",
    )  # fmt: skip
    group.add_argument("--batch-size", type=int, default=8, help="utterances per forward pass")
    group.add_argument("--device", default="cpu")
    group.add_argument(
        "--precision",
        choices=BACKBONE_PRECISIONS,
        default="auto",
        help="HuBERT's weights and matrix products: float32, bfloat16, or auto (bfloat16 where "
        "the hardware has fast bf16 matrix products)",
    )
    if jobs:
        group.add_argument("--nj", type=int, default=1, help="number of parallel jobs")
        group.add_argument("--job", type=int, help="this job's number, 1..nj (JOB=1:N)")


def wav_scp_path(args: argparse.Namespace) -> str:
    if args.wav_scp:
        return args.wav_scp
    if args.data_dir:
        return os.path.join(args.data_dir, "wav.scp")
    raise UnitsError("give --data-dir or --wav-scp")


def make_reader(args: argparse.Namespace) -> FeatureReader:
    return build_reader(
        args.feature,
        checkpoint=args.checkpoint,
        layer=args.layer,
        cmvn=not args.no_cmvn,
        smooth=args.smooth_frames,
        trim_db=args.trim_db,
        device=args.device,
        precision=args.precision,
    )


def feature_batches(
    pairs: Sequence[tuple[str, str]],
    reader: FeatureReader,
    batch_size: int,
    desc: str,
) -> Iterator[tuple[list[str], torch.Tensor, torch.Tensor]]:
    """``(utts, features [B, T, D], lengths [B])`` for consecutive batches, with progress."""
    from tqdm import tqdm

    with tqdm(total=len(pairs), desc=desc, unit="utt", file=sys.stderr, leave=False) as bar:
        for start in range(0, len(pairs), max(1, batch_size)):
            batch = pairs[start : start + batch_size]
            audio = [read_audio(utt, entry) for utt, entry in batch]
            utts = [utt for utt, _ in batch]
            feats, lengths = reader([a for a, _ in audio], [r for _, r in audio], utts)
            yield utts, feats, lengths
            bar.update(len(batch))


def load_pairs(args: argparse.Namespace) -> list[tuple[str, str]]:
    return read_wav_scp(wav_scp_path(args))


def run(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run ``main``; a known error becomes one ``error: ...`` line on stderr and exit code 1."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return main(argv)
    except SpeechPromptError as exc:  # UnitsError, CheckpointError, ...
        print(f"error: {exc}", file=sys.stderr)
    except OSError as exc:
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
    except KeyboardInterrupt:
        print("error: interrupted (no partial output was kept)", file=sys.stderr)
    return 1
