"""Fluent Speech Commands, the official csv splits; the intent as a 3-token label.

    python -m espnet2_speechprompt.data.fsc --root $FSC --data_dir data [--n_shot 10 --seed 0]

``--root``: ``fluent_speech_commands_dataset`` (``data/{train,valid,test}_data.csv`` with the
columns ``,path,speakerId,transcription,action,object,location``, and
``wavs/speakers/<speakerId>/<uuid>.wav``). Sets ``train``, ``valid``, ``test`` (speaker-disjoint
in the release). ``label``: ``action object location``, a space inside a value becoming ``_``
(``change language`` -> ``change_language``), so every label has exactly 3 tokens;
``text``: the transcription. Few-shot classes are the whole intents.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .cli import base_parser, run, write_sets
from .kaldi import (
    DataPrepError,
    Utterance,
    require_dir,
    require_file,
    safe_id,
    warn_speaker_overlap,
)

SPLITS = {"train": "train_data.csv", "valid": "valid_data.csv", "test": "test_data.csv"}
SLOTS = ("action", "object", "location")
COLUMNS = ("path", "speakerId", "transcription", *SLOTS)
WHERE = "the Fluent Speech Commands dataset (fluent_speech_commands_dataset, from fluent.ai)"


def intent_label(row: dict[str, str]) -> str:
    """``action object location`` with in-value spaces as ``_`` (3 tokens)."""
    values = []
    for slot in SLOTS:
        value = "_".join(row[slot].split())
        values.append(value or "none")
    return " ".join(values)


def read_split(root: Path, csv_name: str) -> list[Utterance]:
    path = require_file(root / "data" / csv_name, "FSC", "an official split csv")
    utts = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataPrepError(f"{path}: no column(s) {', '.join(missing)}")
        for number, row in enumerate(reader, 2):
            wav = root / row["path"]
            if not wav.is_file():
                raise DataPrepError(f"{path}:{number}: audio file not found: {wav}")
            speaker = safe_id(row["speakerId"])
            utts.append(
                Utterance(
                    utt=f"{speaker}-{safe_id(Path(row['path']).stem)}",
                    speaker=speaker,
                    audio=str(wav.resolve()),
                    label=intent_label(row),
                    text=row["transcription"],
                )
            )
    return utts


def prepare(root: Path) -> dict[str, list[Utterance]]:
    sets = {name: read_split(root, csv_name) for name, csv_name in SPLITS.items()}
    warn_speaker_overlap(sets)
    return sets


def main(argv: list[str] | None = None) -> None:
    parser = base_parser(__name__, __doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="fluent_speech_commands_dataset")
    args = parser.parse_args(argv)
    sets = prepare(require_dir(args.root, "FSC", WHERE))
    write_sets(sets, args, "train", class_of=lambda u: u.label or "")


if __name__ == "__main__":
    run(main)
