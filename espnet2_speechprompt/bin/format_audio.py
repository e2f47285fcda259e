"""Format a data dir's audio as 16 kHz mono 16-bit wav files (recipe stage 2).

    python -m espnet2_speechprompt.bin.format_audio --data-dir data/train --out-dir dump/raw/train
    # split: JOB=1:N  ... --nj N --job JOB   then   ... --nj N --merge

Reads ``wav.scp`` (``utt path`` or ``utt command |``), mixes down to mono, resamples to 16 kHz
and writes ``<out-dir>/wav/<utt>.wav`` (PCM 16-bit), ``wav.scp`` and ``utt2num_samples``; the
data dir's other files (``label``, ``text``, ``utt2spk``, ``spk2utt``, ...) are copied. Job J of
N handles the J-th contiguous slice of ``wav.scp`` and writes ``wav.scp.J`` and
``utt2num_samples.J``; ``--merge`` joins them and copies the other files. Every output is
written to a temporary name and renamed when complete, so re-running is safe.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from urllib.parse import quote

import numpy as np

from espnet2_speechprompt.bin.cli_errors import exit_on_user_error
from espnet2_speechprompt.fileio import atomic_open, write_wav
from espnet2_speechprompt.units.datadir import check_job_options, job_slice, merge_parts, part_name
from espnet2_speechprompt.units.errors import UnitsError

logger = logging.getLogger(__name__)

# files of a data dir that describe the audio itself: rewritten here, never copied
AUDIO_FILES = {"wav.scp", "utt2num_samples", "utt2dur", "reco2dur", "feats.scp", "feats_type"}
OUTPUTS = ("wav.scp", "utt2num_samples")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m espnet2_speechprompt.bin.format_audio",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data-dir", required=True, help="Kaldi-style data dir with wav.scp")
    parser.add_argument("--out-dir", required=True, help="formatted data dir to write")
    parser.add_argument("--nj", type=int, default=1, help="number of parallel jobs")
    parser.add_argument("--job", type=int, help="this job's number, 1..nj (JOB=1:N)")
    parser.add_argument("--merge", action="store_true", help="join the N jobs' parts")
    return parser


def wav_name(utt: str) -> str:
    """A file name for ``utt``: reversible, no path separators, no collisions."""
    return quote(utt, safe="-_.+=@,") + ".wav"


def to_pcm_range(samples: np.ndarray, utt: str, notes: set[str]) -> np.ndarray:
    """Clip to [-1, 1] (16-bit PCM would wrap around), saying so once."""
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    if peak > 1.0:
        if "clip" not in notes:
            notes.add("clip")
            logger.warning("audio beyond [-1, 1] (e.g. %s, peak %.2f) is clipped", utt, peak)
        samples = np.clip(samples, -1.0, 1.0)
    return samples


def check_data_dir(data_dir: str) -> None:
    if os.path.isfile(os.path.join(data_dir, "segments")):
        raise UnitsError(
            f"{data_dir}/segments: segmented recordings are not supported; "
            "cut the segments into files (or 'sox ... trim' pipes in wav.scp) in local/data.sh"
        )


def copy_other_files(data_dir: str, out_dir: str) -> list[str]:
    """Copy the data dir's files other than the audio ones (label, utt2spk, ...)."""
    copied = []
    for name in sorted(os.listdir(data_dir)):
        src = os.path.join(data_dir, name)
        if name in AUDIO_FILES or name.startswith(".") or not os.path.isfile(src):
            continue
        with atomic_open(os.path.join(out_dir, name), "wb") as f, open(src, "rb") as g:
            shutil.copyfileobj(g, f)
        copied.append(name)
    return copied


def format_part(args: argparse.Namespace) -> int:
    """Format this job's slice of ``wav.scp``; returns the number of utterances."""
    # imports torch: only the jobs load it, not --merge
    from espnet2_speechprompt.units.audio import (
        SAMPLE_RATE,
        prepare_audio,
        read_audio,
        read_wav_scp,
    )

    check_data_dir(args.data_dir)
    pairs = read_wav_scp(os.path.join(args.data_dir, "wav.scp"))
    part = pairs[job_slice(len(pairs), args.nj, args.job or 1)]
    wav_dir = os.path.join(args.out_dir, "wav")
    os.makedirs(wav_dir, exist_ok=True)
    notes: set[str] = set()
    scp_path = os.path.join(args.out_dir, part_name("wav.scp", args.nj, args.job))
    num_path = os.path.join(args.out_dir, part_name("utt2num_samples", args.nj, args.job))
    with atomic_open(scp_path) as scp, atomic_open(num_path) as num:
        for utt, entry in part:
            samples, rate = read_audio(utt, entry)
            wav = prepare_audio(samples, rate, utt, min_samples=1, notes=notes).numpy()
            path = os.path.join(wav_dir, wav_name(utt))
            write_wav(path, to_pcm_range(wav, utt, notes), SAMPLE_RATE)
            scp.write(f"{utt} {path}\n")
            num.write(f"{utt} {len(wav)}\n")
    return len(part)


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with exit_on_user_error():
        check_job_options(args.nj, args.job, args.merge)
        if not os.path.isdir(args.data_dir):
            raise UnitsError(f"{args.data_dir}: no such data dir")
        if args.merge:
            if args.nj > 1:
                for name in OUTPUTS:
                    merge_parts(args.out_dir, name, args.nj)
            copied = copy_other_files(args.data_dir, args.out_dir)
            print(f"merged {args.nj} parts into {args.out_dir} (copied: {copied})", file=sys.stderr)
            return 0
        count = format_part(args)
        if args.nj == 1:
            copy_other_files(args.data_dir, args.out_dir)
        where = f"job {args.job}/{args.nj}" if args.nj > 1 else args.out_dir
        print(f"formatted {count} utterances ({where})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
