"""CSTR VCTK: speech inpainting (SpeechGen's inpainting demo uses VCTK speakers).

    python -m espnet2_speechprompt.data.vctk --root $VCTK --data_dir data

``--root``: the dir holding ``VCTK-Corpus-0.92/`` (or ``VCTK-Corpus/``), or it itself. Release
0.92: ``wav48_silence_trimmed/<spk>/<spk>_<nnn>_mic1.flac`` (and ``_mic2``; ``--mic`` picks
one), ``txt/<spk>/<spk>_<nnn>.txt``; release 0.80: ``wav48/<spk>/<spk>_<nnn>.wav``. 48 kHz
audio, resampled at stage 2. Utterances without a transcript (all of p315, a few others) are
left out and counted in the log: the transcript is the reference of ASR-based scores.
Held-out speakers: ``eval`` is ``--eval_speakers`` (SpeechGen's demo speakers p244, p259, p280),
``dev`` is ``--dev_speakers``, ``train`` every other speaker. ``text``: the transcript; no
``label`` (the inpainting targets are the units themselves: ``speechprompt.sh
--speechgen_task``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from .cli import base_parser, run, write_sets
from .kaldi import DataPrepError, Utterance, require_dir

logger = logging.getLogger(__name__)
WHERE = "the dir holding VCTK-Corpus-0.92/ (datashare.ed.ac.uk/handle/10283/3443)"
RELEASES = ("VCTK-Corpus-0.92", "VCTK-Corpus")


def corpus_dir(root: Path) -> Path:
    return next((root / name for name in RELEASES if (root / name).is_dir()), root)


def audio_files(base: Path, mic: str) -> dict[str, Path]:
    """Utterance id -> audio file, from release 0.92's flac files (one microphone) or 0.80's
    wav files."""
    trimmed, old = base / "wav48_silence_trimmed", base / "wav48"
    if trimmed.is_dir():
        suffix = f"_{mic}.flac"
        files = sorted(trimmed.glob(f"*/*{suffix}"))
        return {path.name[: -len(suffix)]: path for path in files}
    if old.is_dir():
        return {path.stem: path for path in sorted(old.glob("*/*.wav"))}
    raise DataPrepError(
        f"{base}: neither wav48_silence_trimmed/ (release 0.92) nor wav48/ (0.80); is VCTK in "
        "db.sh right?"
    )


def read_corpus(base: Path, mic: str) -> list[Utterance]:
    """Every utterance with audio and a transcript, sorted by id."""
    audio = audio_files(base, mic)
    if not audio:
        raise DataPrepError(f"{base}: no audio files (microphone {mic})")
    utts, untranscribed = [], 0
    for utt, path in sorted(audio.items()):
        speaker = utt.split("_")[0]
        transcript = base / "txt" / speaker / f"{utt}.txt"
        if not transcript.is_file():
            untranscribed += 1
            continue
        text = " ".join(transcript.read_text(encoding="utf-8").split())
        utts.append(Utterance(utt, speaker, str(path.resolve()), None, text))
    if untranscribed:
        logger.info("left out %d utterances without a transcript", untranscribed)
    return utts


def split(utts: list[Utterance], dev: list[str], evaluation: list[str]) -> dict:
    """train / dev / eval by speaker."""
    speakers = {u.speaker for u in utts}
    for name, chosen in (("--dev_speakers", dev), ("--eval_speakers", evaluation)):
        missing = sorted(set(chosen) - speakers)
        if missing:
            raise DataPrepError(f"{name}: speaker {missing[0]} has no transcribed utterance here")
    if set(dev) & set(evaluation):
        raise DataPrepError("--dev_speakers and --eval_speakers must not share a speaker")
    held = set(dev) | set(evaluation)
    sets = {
        "train": [u for u in utts if u.speaker not in held],
        "dev": [u for u in utts if u.speaker in dev],
        "eval": [u for u in utts if u.speaker in evaluation],
    }
    if not sets["train"]:
        raise DataPrepError("every speaker is held out: no training set")
    return sets


def main(argv: list[str] | None = None) -> None:
    parser = base_parser(__name__, __doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="the dir holding VCTK-Corpus-0.92/")
    parser.add_argument("--mic", default="mic1", choices=("mic1", "mic2"),
                        help="release 0.92's microphone")  # fmt: skip
    parser.add_argument("--dev_speakers", nargs="+", default=["p225", "p226"])
    parser.add_argument("--eval_speakers", nargs="+", default=["p244", "p259", "p280"])
    args = parser.parse_args(argv)
    base = corpus_dir(require_dir(args.root, "VCTK", WHERE))
    sets = split(read_corpus(base, args.mic), args.dev_speakers, args.eval_speakers)
    write_sets(sets, args, "train", class_of=lambda u: "all")


if __name__ == "__main__":
    run(main)
