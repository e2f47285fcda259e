"""LJSpeech 1.1: speech continuation (SpeechGen's continuation demo uses it).

    python -m espnet2_speechprompt.data.ljspeech --root $LJSPEECH --data_dir data

``--root``: the dir holding ``LJSpeech-1.1/`` (or it itself) with ``metadata.csv``
(``id|transcription|normalized transcription``, no header) and ``wavs/<id>.wav`` (22.05 kHz,
one speaker). The release has no split; as ESPnet's ljspeech recipes: the last ``--num_eval``
(250) utterances are ``eval``, the ``--num_dev`` (250) before them ``dev``, the rest
``train``. ``text``: the normalized transcription (for ASR-based scores); no ``label`` (the
continuation targets are the units themselves: ``speechprompt.sh --speechgen_task``).
"""

from __future__ import annotations

from pathlib import Path

from .cli import base_parser, run, write_sets
from .kaldi import DataPrepError, Utterance, require_dir

WHERE = "the dir holding LJSpeech-1.1/ (keithito.com/LJ-Speech-Dataset)"


def corpus_dir(root: Path) -> Path:
    return root / "LJSpeech-1.1" if (root / "LJSpeech-1.1").is_dir() else root


def read_metadata(base: Path) -> list[Utterance]:
    metadata = base / "metadata.csv"
    if not metadata.is_file():
        raise DataPrepError(f"{metadata}: not found; is LJSPEECH in db.sh right?")
    utts = []
    with open(metadata, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            fields = line.rstrip("\n").split("|")
            if len(fields) != 3:
                raise DataPrepError(f"{metadata}:{number}: expected 'id|text|normalized text'")
            utt, normalized = fields[0], " ".join(fields[2].split())
            audio = base / "wavs" / f"{utt}.wav"
            if not audio.is_file():
                raise DataPrepError(f"{metadata}:{number}: audio file not found: {audio}")
            utts.append(Utterance(utt, "LJ", str(audio.resolve()), None, normalized))
    return utts


def split(utts: list[Utterance], num_dev: int, num_eval: int) -> dict[str, list[Utterance]]:
    """train / dev / eval in file order (the last utterances held out)."""
    if num_dev < 1 or num_eval < 1 or len(utts) <= num_dev + num_eval:
        raise DataPrepError(
            f"{len(utts)} utterances cannot give --num_dev {num_dev} and --num_eval {num_eval} "
            "and a training set"
        )
    held = len(utts) - num_dev - num_eval
    return {
        "train": utts[:held],
        "dev": utts[held : held + num_dev],
        "eval": utts[held + num_dev :],
    }


def main(argv: list[str] | None = None) -> None:
    parser = base_parser(__name__, __doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="the dir holding LJSpeech-1.1/")
    parser.add_argument("--num_dev", type=int, default=250)
    parser.add_argument("--num_eval", type=int, default=250)
    args = parser.parse_args(argv)
    base = corpus_dir(require_dir(args.root, "LJSPEECH", WHERE))
    sets = split(read_metadata(base), args.num_dev, args.num_eval)
    write_sets(sets, args, "train", class_of=lambda u: "all")


if __name__ == "__main__":
    run(main)
