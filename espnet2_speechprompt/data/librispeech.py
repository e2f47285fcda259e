"""LibriSpeech (100 h): character ASR.

    python -m espnet2_speechprompt.data.librispeech --root $LIBRISPEECH --data_dir data

``--root``: the dir holding ``LibriSpeech/`` (or ``LibriSpeech/`` itself), with
``<part>/<speaker>/<chapter>/<speaker>-<chapter>-<n>.flac`` and
``<speaker>-<chapter>.trans.txt``. Parts ``train-clean-100``, ``dev-clean``, ``test-clean``,
``test-other`` become the sets ``train_clean_100``, ``dev_clean``, ``test_clean``,
``test_other`` (speaker-disjoint in the release).

``text``: the transcript; ``label``: its characters with ``|`` between words
(``HELLO WORLD`` -> ``H E L L O | W O R L D``; 28 tokens: A-Z, ``'`` and ``|``). With
``--n_shot N``, N training utterances are drawn (ASR has no classes: one group).
"""

from __future__ import annotations

from pathlib import Path

from .cli import base_parser, run, write_sets
from .kaldi import DataPrepError, Utterance, require_dir, to_char_label, warn_speaker_overlap

PARTS = ("train-clean-100", "dev-clean", "test-clean", "test-other")
WHERE = "the dir holding LibriSpeech/ (openslr.org/12: train-clean-100, dev-clean, ...)"


def corpus_dir(root: Path) -> Path:
    return root / "LibriSpeech" if (root / "LibriSpeech").is_dir() else root


def read_part(part_dir: Path) -> list[Utterance]:
    utts = []
    for trans in sorted(part_dir.glob("*/*/*.trans.txt")):
        with open(trans, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                fields = line.split(maxsplit=1)
                if not fields:
                    continue
                if len(fields) != 2:
                    raise DataPrepError(f"{trans}:{number}: expected 'utt TRANSCRIPT'")
                utt, text = fields[0], " ".join(fields[1].split())
                flac = trans.parent / f"{utt}.flac"
                if not flac.is_file():
                    raise DataPrepError(f"{trans}:{number}: audio file not found: {flac}")
                speaker = utt.split("-")[0]
                label = to_char_label(text)
                utts.append(Utterance(utt, speaker, str(flac.resolve()), label, text))
    if not utts:
        raise DataPrepError(f"{part_dir}: no *.trans.txt under <speaker>/<chapter>/")
    return utts


def prepare(root: Path, parts: list[str]) -> dict[str, list[Utterance]]:
    base = corpus_dir(root)
    sets = {}
    for part in parts:
        if not (base / part).is_dir():
            raise DataPrepError(f"{base / part}: no such dir; is LIBRISPEECH in db.sh right?")
        sets[part.replace("-", "_")] = read_part(base / part)
    warn_speaker_overlap(sets)
    return sets


def main(argv: list[str] | None = None) -> None:
    parser = base_parser(__name__, __doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="the dir holding LibriSpeech/")
    parser.add_argument("--parts", nargs="+", default=list(PARTS), help="corpus parts")
    args = parser.parse_args(argv)
    sets = prepare(require_dir(args.root, "LIBRISPEECH", WHERE), args.parts)
    train = args.parts[0].replace("-", "_")
    write_sets(sets, args, train, class_of=lambda u: "all")


if __name__ == "__main__":
    run(main)
