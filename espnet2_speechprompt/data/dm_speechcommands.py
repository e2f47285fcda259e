"""Dysarthric Mandarin Speech Commands (Lin et al., Applied Sciences 2021), 13 of 19 classes.

    python -m espnet2_speechprompt.data.dm_speechcommands --root $DM_SPEECHCOMMANDS \\
        [--split_lists $SCR_SPLIT_LISTS] --data_dir data [--task dm_sc] [--all_classes]

``--root``: the corpus dir (``dysarthria_zh_command``; distributed by its authors, not on a public
page): ``D_SPK<k>/<NN>/D_SPK<k>_c<m> (<j>).wav`` for 3 speakers, 19 command classes ``NN`` =
01..19 and 10 recordings each (570 files). This layout is known only from the file lists of the
adversarial-reprogramming work that SpeechPrompt v2 follows; the corpus itself documents none.
That work and SpeechPrompt v2 leave out the classes 10, 13, 14, 15, 16 and 19 (13 classes
remain); ``--all_classes`` keeps all 19. ``label``: the class dir name (``01``, ...).

Split: per speaker and class, the files shuffled with ``--split_seed``: 30 % to test, 20 % of the
rest to valid, the rest to train (all sets hold every speaker, as in that work). ``--split_lists
DIR``: its lists instead, ``DIR/DM-SCR/`` (or ``DIR/Datasets/DM-SCR/``) with ``train_full.csv``
(20 % of it drawn to valid with ``--split_seed``, as SpeechPrompt v2 does with its own draw) and
``test_full.csv``; their paths are matched by their last three parts.
"""

from __future__ import annotations

import random
import re
from pathlib import Path, PurePosixPath

from .cli import base_parser, run
from .kaldi import DataPrepError, Utterance, ascii_id, audio_entry, require_dir
from .splits import find_listed, list_dir, read_split_list
from .tasklist import add_task_argument, write_task

OMITTED = ("10", "13", "14", "15", "16", "19")
CLASSES = tuple(f"{n:02d}" for n in range(1, 20))
TEST_FRACTION, VALID_FRACTION = 0.3, 0.2
VARIABLE = "DM_SPEECHCOMMANDS"
_SPEAKER = re.compile(r"^D_SPK[0-9]+$")


def utterance(wav: Path) -> Utterance:
    speaker, label = wav.parent.parent.name, wav.parent.name
    return Utterance(f"{speaker}-{label}-{ascii_id(wav.stem)}", speaker,
                     audio_entry(wav.resolve()), label=label)  # fmt: skip


def speaker_dirs(root: Path) -> list[Path]:
    found = sorted(p for p in root.iterdir() if p.is_dir() and _SPEAKER.match(p.name))
    if not found:
        raise DataPrepError(
            f"{root}: no D_SPK<k>/ speaker dirs; {VARIABLE} must be the dysarthria_zh_command dir"
        )
    return found


def take_fraction(utts: list[Utterance], fraction: float, key: str, seed: int) -> tuple:
    """``(drawn, rest)``: ``round(fraction * len)`` utterances drawn with ``(seed, key)``."""
    order = list(range(len(utts)))
    random.Random(f"{seed}:{key}").shuffle(order)
    drawn = set(order[: int(round(fraction * len(utts)))])
    return ([u for i, u in enumerate(utts) if i in drawn],
            [u for i, u in enumerate(utts) if i not in drawn])  # fmt: skip


def prepare(root: Path, classes: tuple[str, ...], seed: int) -> dict[str, list[Utterance]]:
    sets: dict[str, list[Utterance]] = {"train": [], "valid": [], "test": []}
    for speaker_dir in speaker_dirs(root):
        for cls in classes:
            utts = [utterance(w) for w in sorted((speaker_dir / cls).glob("*.wav"))]
            if not utts:
                raise DataPrepError(f"{speaker_dir / cls}: no wav files (class {cls})")
            key = f"{speaker_dir.name}:{cls}"
            test, rest = take_fraction(utts, TEST_FRACTION, key, seed)
            valid, train = take_fraction(rest, VALID_FRACTION, key, seed)
            sets["test"] += test
            sets["valid"] += valid
            sets["train"] += train
    return sets


def listed(root: Path, list_file: Path, classes: tuple[str, ...]) -> list[Utterance]:
    utts = []
    for number, (path, label) in enumerate(read_split_list(list_file, "SCR_SPLIT_LISTS"), 2):
        where = f"{list_file}:{number}"
        if len(path.parts) < 3 or path.parent.name != label.zfill(2):
            raise DataPrepError(f"{where}: path {path} is not in a dir of its class {label}")
        if path.parent.name in classes:
            relative = PurePosixPath(*path.parts[-3:])
            utts.append(utterance(find_listed(root, relative, where, VARIABLE)))
    return utts


def prepare_from_lists(root: Path, lists: Path, classes: tuple[str, ...], seed: int) -> dict:
    train_full = listed(root, lists / "train_full.csv", classes)
    valid, train = take_fraction(train_full, VALID_FRACTION, "train_full", seed)
    return {"train": train, "valid": valid, "test": listed(root, lists / "test_full.csv", classes)}


def main(argv: list[str] | None = None) -> None:
    parser = base_parser(__name__, __doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="the dysarthria_zh_command dir")
    parser.add_argument("--split_lists", default="", help="dir of the DM-SCR lists (optional)")
    parser.add_argument("--split_seed", type=int, default=0, help="seed of the split draws")
    parser.add_argument("--all_classes", action="store_true", help="keep all 19 classes")
    add_task_argument(parser, "dm_sc")
    args = parser.parse_args(argv)
    root = require_dir(args.root, VARIABLE, "the Dysarthric Mandarin Speech Commands corpus")
    classes = CLASSES if args.all_classes else tuple(c for c in CLASSES if c not in OMITTED)
    if args.split_lists:
        lists = list_dir(args.split_lists, "DM-SCR")
        sets = prepare_from_lists(root, lists, classes, args.split_seed)
    else:
        sets = prepare(root, classes, args.split_seed)
    write_task(sets, args, family="scr", language="zh")


if __name__ == "__main__":
    run(main)
