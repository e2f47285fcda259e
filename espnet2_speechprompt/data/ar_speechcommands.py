"""Arabic Speech Commands (Benamer and Alkishriwo, CEST 2020), 16 classes.

    python -m espnet2_speechprompt.data.ar_speechcommands --root $AR_SPEECHCOMMANDS \\
        [--split_lists $SCR_SPLIT_LISTS] --data_dir data [--task ar_sc] [--split_seed 0]

``--root``: a clone of https://github.com/ltkbenamer/AR_Speech_Database (or its
``AR_ SpeechCommands_Database/`` dir, the name has a space): ``Words/<L>_<Name><n>.wav`` for the
6 commands (``A_Add``, ``B_Back``, ``C_Cancel``, ``D_Delete``, ``E_Confirm``, ``F_Continue``) and
``Numbers/<d>_<n>.wav`` for the digits 0-9, n = 1..100 (1,600 files). Classes (``label``):
``add back cancel delete confirm continue zero one ... nine``.

The corpus names no speakers (40 people made the recordings; the file number n is taken as one
recording session and used as the speaker id ``rec<n>``). Split: the sessions shuffled with
``--split_seed``, 10 % to valid, 20 % to test, the rest to train (session-disjoint). ``--split_lists
DIR``: the lists of the adversarial-reprogramming work that SpeechPrompt v2 follows instead,
``DIR/AR-SCR/`` (or ``DIR/Datasets/AR-SCR/``) with ``train_full.csv``, ``dev_full.csv`` and
``test_full.csv``; their ``commands/`` and ``numbers/`` paths are matched to ``Words/`` and
``Numbers/`` by file name.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from .cli import base_parser, run
from .kaldi import DataPrepError, Utterance, audio_entry, require_dir
from .splits import find_listed, group_split, list_dir, read_split_list
from .tasklist import add_task_argument, write_task

CLASSES = {
    "A": "add", "B": "back", "C": "cancel", "D": "delete", "E": "confirm", "F": "continue",
    "0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six",
    "7": "seven", "8": "eight", "9": "nine",
}  # fmt: skip
DATABASE = "AR_ SpeechCommands_Database"
SUBDIRS = {"commands": "Words", "numbers": "Numbers"}  # the split lists' names -> the corpus's
VALID_FRACTION, TEST_FRACTION = 0.1, 0.2
VARIABLE = "AR_SPEECHCOMMANDS"
SOURCE = "https://github.com/ltkbenamer/AR_Speech_Database"
LISTS = {"train": "train_full.csv", "valid": "dev_full.csv", "test": "test_full.csv"}
_NAME = re.compile(r"^(?P<code>[A-F0-9])_[A-Za-z]*(?P<n>[0-9]+)$")


def database_dir(root: Path) -> Path:
    for candidate in (root / DATABASE, root):
        if all((candidate / d).is_dir() for d in SUBDIRS.values()):
            return candidate
    raise DataPrepError(
        f"{root}: no '{DATABASE}/Words' and '.../Numbers' dirs; {VARIABLE} must be a clone of "
        f"{SOURCE}"
    )


def utterance(wav: Path) -> Utterance:
    match = _NAME.match(wav.stem)
    if not match:
        raise DataPrepError(f"{wav}: not a '<class>_<name><n>.wav' file of the corpus")
    speaker = f"rec{int(match['n']):03d}"
    label = CLASSES[match["code"]]
    return Utterance(f"{speaker}-{wav.stem}", speaker, audio_entry(wav.resolve()), label=label)


def prepare(database: Path, seed: int) -> dict[str, list[Utterance]]:
    """Every file; the sessions split 70/10/20 with ``seed``."""
    utts = [
        utterance(wav) for sub in SUBDIRS.values() for wav in sorted((database / sub).glob("*.wav"))
    ]
    found = {u.label for u in utts}
    missing = [c for c in CLASSES.values() if c not in found]
    if missing:
        raise DataPrepError(f"{database}: no file of the class(es) {', '.join(missing)}")
    split_of = group_split([u.speaker for u in utts], (VALID_FRACTION, TEST_FRACTION), seed)
    sets: dict[str, list[Utterance]] = {"train": [], "valid": [], "test": []}
    for u in utts:
        sets[split_of[u.speaker]].append(u)
    return sets


def listed(database: Path, list_file: Path) -> list[Utterance]:
    utts = []
    for number, (path, code) in enumerate(read_split_list(list_file, "SCR_SPLIT_LISTS"), 2):
        where = f"{list_file}:{number}"
        if path.parent.name not in SUBDIRS:
            raise DataPrepError(f"{where}: path {path} is in neither commands/ nor numbers/")
        relative = PurePosixPath(SUBDIRS[path.parent.name], path.name)
        wav = find_listed(database, relative, where, VARIABLE)
        utt = utterance(wav)
        if CLASSES.get(code) != utt.label:
            raise DataPrepError(f"{where}: label {code}, but {path.name} is class {utt.label}")
        utts.append(utt)
    return utts


def main(argv: list[str] | None = None) -> None:
    parser = base_parser(__name__, __doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="AR_Speech_Database clone")
    parser.add_argument("--split_lists", default="", help="dir of the AR-SCR lists (optional)")
    parser.add_argument("--split_seed", type=int, default=0, help="seed of the session split")
    add_task_argument(parser, "ar_sc")
    args = parser.parse_args(argv)
    database = database_dir(require_dir(args.root, VARIABLE, f"a clone of {SOURCE}"))
    if args.split_lists:
        lists = list_dir(args.split_lists, "AR-SCR")
        sets = {split: listed(database, lists / name) for split, name in LISTS.items()}
    else:
        sets = prepare(database, args.split_seed)
    write_task(sets, args, family="scr", language="ar")


if __name__ == "__main__":
    run(main)
