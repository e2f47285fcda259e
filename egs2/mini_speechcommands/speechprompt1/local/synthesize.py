#!/usr/bin/env python3
"""Synthesize the mini keyword corpus with espeak-ng and write Kaldi-style data dirs.

Every utterance is one keyword spoken by one espeak-ng voice (an English accent + a voice
variant, e.g. ``en-gb-x-rp+f3``: the speaker) at one speed and one pitch; each variant is
spoken with ``--accents-per-voice`` accents. The 22.05 kHz espeak-ng output is
resampled to 16 kHz mono, padded with a little random silence, scaled to a random level and
mixed with white or pink noise at a random SNR. All randomness is drawn from a generator
seeded by ``--seed`` and the utterance id, so the corpus is the same whatever ``--nj`` is.

The split into train / valid / test is by variant (all the accents of a variant go to the same
split): no speaker, and no voice timbre, of valid or test is heard in train. Outputs::

    <corpus-dir>/wav/<spk>/<utt>.wav      16 kHz mono PCM-16
    <corpus-dir>/settings.json            what was synthesized (checked by --check)
    <data-dir>/{train,valid,test}/        wav.scp (absolute paths), text, label, utt2spk,
                                          spk2utt, utt2num_samples
    <data-dir>/keywords.txt               one keyword per line

``text`` and ``label`` hold the same ``utt keyword`` lines. Utterance ids are
``<spk>-<keyword>-s<speed>-p<pitch>``: prefixed by the speaker, sorted as ``LC_ALL=C sort``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import soundfile

from espnet2_speechprompt.bin.cli_errors import exit_on_user_error
from espnet2_speechprompt.data.espeak import (
    SAMPLE_RATE,
    VARIANTS,
    check_voices,
    deal_variants,
    degrade,
    render,
    utterance_rng,
)
from espnet2_speechprompt.fileio import write_wav

logger = logging.getLogger("synthesize")

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")

# espeak-ng's own English voices (no mbrola): accents that change the pronunciation.
ACCENTS = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Voice:
    """A speaker: an accent spoken with a voice variant."""

    accent: str
    variant: str
    gender: str

    @property
    def name(self) -> str:  # the speaker id and the espeak-ng -v argument
        return f"{self.accent}+{self.variant}"


def speakers_of(variant_index: int, accents_per_variant: int) -> list[Voice]:
    """Variant ``i`` is spoken with accents ``i, i+3, i+6, ...`` (mod 8), all distinct."""
    variant, gender = VARIANTS[variant_index]
    return [
        Voice(ACCENTS[(variant_index + 3 * j) % len(ACCENTS)], variant, gender)
        for j in range(accents_per_variant)
    ]


def assign_splits(
    num_variants: int, accents_per_variant: int, ratios: list[float], seed: int
) -> dict[str, list[Voice]]:
    """Speakers of each split. The split is by voice variant (every accent of a variant goes
    to the same split), so valid and test timbres are never heard in train. Seeded and
    gender-balanced: variants are shuffled within gender, then dealt (females first) to the
    split furthest below its quota."""
    dealt = deal_variants(num_variants, ratios, seed)
    chosen = dict(zip(SPLITS, dealt, strict=True))
    return {
        split: sorted(
            (v for i in indices for v in speakers_of(i, accents_per_variant)),
            key=lambda v: v.name,
        )
        for split, indices in chosen.items()
    }


@dataclass(frozen=True)
class Job:
    utt: str
    voice: str
    word: str
    speed: int
    pitch: int
    path: str
    seed: int
    snr: tuple[float, float]
    max_pad: float


def synthesize_one(job: Job) -> int:
    """Write one utterance (atomically); returns its number of samples."""
    speech = render(job.voice, job.speed, job.pitch, job.word)
    mixed = degrade(speech, utterance_rng(job.seed, job.utt), job.snr, job.max_pad)
    os.makedirs(os.path.dirname(job.path), exist_ok=True)
    write_wav(job.path, mixed.astype(np.float32), SAMPLE_RATE)
    return int(mixed.size)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--corpus-dir", default="downloads/mini_speechcommands", help="wav files")
    p.add_argument("--data-dir", default="data", help="where train/ valid/ test/ are written")
    p.add_argument("--num-keywords", type=int, default=len(KEYWORDS), help="first N keywords")
    p.add_argument("--num-voices", type=int, default=len(VARIANTS), help="first N voice variants")
    p.add_argument(
        "--accents-per-voice", type=int, default=2, help="accents each variant is spoken with"
    )
    p.add_argument("--speeds", type=int, nargs="+", default=[140, 200], help="espeak-ng -s (wpm)")
    p.add_argument("--pitches", type=int, nargs="+", default=[35, 65], help="espeak-ng -p")
    p.add_argument("--snr", type=float, nargs=2, default=[20.0, 40.0], help="SNR range, dB")
    p.add_argument("--max-pad", type=float, default=0.05, help="max silence added per side, s")
    p.add_argument(
        "--split",
        type=float,
        nargs=3,
        default=[58, 6, 6],
        help="train/valid/test ratio of voice variants",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--nj", type=int, default=os.cpu_count() or 1, help="parallel processes")
    p.add_argument(
        "--check",
        action="store_true",
        help="only check: exit 0 if the corpus and data dirs are complete for these settings",
    )
    p.add_argument("--list-voices", action="store_true", help="print the voices and exit")
    return p


def settings_of(args: argparse.Namespace, splits: dict[str, list[Voice]]) -> dict:
    return {
        "keywords": list(KEYWORDS[: args.num_keywords]),
        "voices": {s: [v.name for v in vs] for s, vs in splits.items()},
        "speeds": args.speeds,
        "pitches": args.pitches,
        "snr": args.snr,
        "max_pad": args.max_pad,
        "seed": args.seed,
        "sample_rate": SAMPLE_RATE,
    }


def plan(args: argparse.Namespace, splits: dict[str, list[Voice]]) -> dict[str, list[Job]]:
    corpus = os.path.abspath(args.corpus_dir)
    jobs: dict[str, list[Job]] = {}
    for split, voices in splits.items():
        rows = []
        for voice in voices:
            for word in KEYWORDS[: args.num_keywords]:
                for speed in args.speeds:
                    for pitch in args.pitches:
                        utt = f"{voice.name}-{word}-s{speed:03d}-p{pitch:02d}"
                        path = os.path.join(corpus, "wav", voice.name, f"{utt}.wav")
                        rows.append(
                            Job(utt, voice.name, word, speed, pitch, path, args.seed,
                                tuple(args.snr), args.max_pad)
                        )  # fmt: skip
        rows.sort(key=lambda j: j.utt)
        by_speaker = sorted(rows, key=lambda j: (j.voice, j.utt))
        if [j.utt for j in rows] != [j.utt for j in by_speaker]:
            raise SystemExit(f"{split}: utterance order differs from speaker order (ids)")
        jobs[split] = rows
    return jobs


def is_complete(args: argparse.Namespace, settings: dict, jobs: dict[str, list[Job]]) -> bool:
    settings_path = os.path.join(args.corpus_dir, "settings.json")
    try:
        with open(settings_path, encoding="utf-8") as f:
            if json.load(f) != settings:
                return False
    except (OSError, ValueError):
        return False
    for split, rows in jobs.items():
        scp = os.path.join(args.data_dir, split, "wav.scp")
        expected = [f"{j.utt} {j.path}\n" for j in rows]
        try:
            with open(scp, encoding="utf-8") as f:
                if f.readlines() != expected:
                    return False
        except OSError:
            return False
        for name in ("text", "label", "utt2spk", "spk2utt"):
            if not os.path.isfile(os.path.join(args.data_dir, split, name)):
                return False
        if not all(os.path.isfile(j.path) for j in rows):
            return False
    return True


def write_lines(path: str, lines: list[str]) -> None:
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.writelines(lines)
    os.replace(path + ".tmp", path)


def write_data_dir(directory: str, rows: list[Job], lengths: dict[str, int]) -> None:
    os.makedirs(directory, exist_ok=True)
    write_lines(os.path.join(directory, "text"), [f"{j.utt} {j.word}\n" for j in rows])
    write_lines(os.path.join(directory, "label"), [f"{j.utt} {j.word}\n" for j in rows])
    write_lines(os.path.join(directory, "utt2spk"), [f"{j.utt} {j.voice}\n" for j in rows])
    speakers: dict[str, list[str]] = {}
    for j in rows:
        speakers.setdefault(j.voice, []).append(j.utt)
    write_lines(
        os.path.join(directory, "spk2utt"),
        [f"{s} {' '.join(us)}\n" for s, us in sorted(speakers.items())],
    )
    write_lines(
        os.path.join(directory, "utt2num_samples"), [f"{j.utt} {lengths[j.utt]}\n" for j in rows]
    )
    # wav.scp last: its presence marks a finished data dir
    write_lines(os.path.join(directory, "wav.scp"), [f"{j.utt} {j.path}\n" for j in rows])


def main(argv: list[str] | None = None) -> int:
    with exit_on_user_error():
        return run(build_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s synthesize: %(message)s")
    if not 1 <= args.num_keywords <= len(KEYWORDS):
        raise SystemExit(f"--num-keywords must be in 1..{len(KEYWORDS)}")
    if not 1 <= args.num_voices <= len(VARIANTS):
        raise SystemExit(f"--num-voices must be in 1..{len(VARIANTS)}")
    if args.snr[0] > args.snr[1]:
        raise SystemExit("--snr LOW HIGH: LOW must not exceed HIGH")
    if not 1 <= args.accents_per_voice <= len(ACCENTS):
        raise SystemExit(f"--accents-per-voice must be in 1..{len(ACCENTS)}")
    splits = assign_splits(args.num_voices, args.accents_per_voice, args.split, args.seed)
    voices = [v for vs in splits.values() for v in vs]
    if args.list_voices:
        for split, vs in splits.items():
            print(split, " ".join(v.name for v in vs))
        return 0
    settings = settings_of(args, splits)
    jobs = plan(args, splits)
    if args.check:
        return 0 if is_complete(args, settings, jobs) else 1

    check_voices({v.accent for v in voices}, {v.variant for v in voices}, "local/synthesize.py")
    settings_path = os.path.join(args.corpus_dir, "settings.json")
    os.makedirs(args.corpus_dir, exist_ok=True)
    previous = None
    if os.path.isfile(settings_path):
        with open(settings_path, encoding="utf-8") as f:
            previous = json.load(f)
    if previous != settings and os.path.isdir(os.path.join(args.corpus_dir, "wav")):
        logger.info("settings changed: removing the old wav files of %s", args.corpus_dir)
        shutil.rmtree(os.path.join(args.corpus_dir, "wav"))
    if previous != settings and os.path.exists(settings_path):
        os.remove(settings_path)

    todo = [j for rows in jobs.values() for j in rows]
    logger.info(
        "%d utterances (%s), %d processes",
        len(todo),
        ", ".join(f"{s}: {len(r)} from {len(splits[s])} voices" for s, r in jobs.items()),
        args.nj,
    )
    lengths: dict[str, int] = {}
    for j in todo:  # finished files of an interrupted run (same settings) are kept
        if os.path.isfile(j.path):
            lengths[j.utt] = soundfile.info(j.path).frames
    missing = [j for j in todo if j.utt not in lengths]
    if args.nj > 1 and len(missing) > 1:
        with ProcessPoolExecutor(args.nj) as pool:
            for job, n in zip(
                missing, pool.map(synthesize_one, missing, chunksize=16), strict=True
            ):
                lengths[job.utt] = n
    else:
        for job in missing:
            lengths[job.utt] = synthesize_one(job)

    for split, rows in jobs.items():
        write_data_dir(os.path.join(args.data_dir, split), rows, lengths)
    write_lines(
        os.path.join(args.data_dir, "keywords.txt"), [f"{w}\n" for w in settings["keywords"]]
    )
    with open(settings_path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(settings, f, indent=1)
    os.replace(settings_path + ".tmp", settings_path)
    seconds = sum(lengths.values()) / SAMPLE_RATE
    logger.info("wrote %d utterances (%.1f min of audio) under %s", len(todo), seconds / 60,
                args.corpus_dir)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
