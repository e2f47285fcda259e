"""IEMOCAP emotion recognition, 4 classes (neu, hap with exc merged, ang, sad), the SUPERB ER
(s3prl) and SpeechPrompt v2 setting.

    python -m espnet2_speechprompt.data.iemocap --root $IEMOCAP --data_dir data \\
        [--task iemocap_er] [--test_session 1] [--split_seed 0]

``--root``: ``IEMOCAP_full_release`` (licensed from https://sail.usc.edu/iemocap/):
``Session<k>/sentences/wav/<dialog>/<utt>.wav`` and ``Session<k>/dialog/EmoEvaluation/
<dialog>.txt``, whose lines ``[<start> - <end>]<TAB><utt><TAB><emotion><TAB>[V, A, D]`` give
the consensus emotion. Utterances of other emotions (fru, sur, fea, dis, oth, xxx) are left
out; ``exc`` becomes ``hap``. ``label``: ``neu``, ``hap``, ``ang`` or ``sad``.

Split: ``test`` = session ``--test_session`` (default 1, as SpeechPrompt v2); ``valid`` = 20 %
of the other sessions' utterances drawn with ``--split_seed``; ``train`` = the rest. Speaker:
``Ses<k><F|M>``, the session and the gender letter of the utterance's own last field (the
person speaking, not the dialog's first speaker).
"""

from __future__ import annotations

import logging
import random
import re
from pathlib import Path

from .cli import base_parser, run
from .kaldi import DataPrepError, Utterance, require_dir
from .tasklist import add_task_argument, write_task

logger = logging.getLogger(__name__)

EMOTIONS = {"neu": "neu", "hap": "hap", "exc": "hap", "ang": "ang", "sad": "sad"}
VALID_FRACTION = 0.2
VARIABLE = "IEMOCAP"
_LINE = re.compile(r"^\[[0-9.]+ - [0-9.]+\]\t(?P<utt>\S+)\t(?P<emotion>\S+)\t")
_UTT = re.compile(r"^(?P<session>Ses[0-9]{2})[FM]_\S*_(?P<gender>[FM])[0-9]+[a-z]*$")


def sessions(root: Path) -> list[Path]:
    found = sorted(p for p in root.glob("Session*") if p.is_dir())
    if not found:
        raise DataPrepError(
            f"{root}: no Session<k> dirs; {VARIABLE} must be the IEMOCAP_full_release dir"
        )
    return found


def labelled(session: Path) -> list[tuple[str, str]]:
    """``(utt, emotion)`` of the session's evaluation files, for the four classes."""
    label_dir = session / "dialog" / "EmoEvaluation"
    files = sorted(p for p in label_dir.glob("*.txt") if not p.name.startswith("."))
    if not files:
        raise DataPrepError(f"{label_dir}: no evaluation files; is {VARIABLE} complete?")
    rows = []
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                match = _LINE.match(line)
                if match and match["emotion"] in EMOTIONS:
                    rows.append((match["utt"], EMOTIONS[match["emotion"]]))
    return rows


def session_utterances(session: Path) -> list[Utterance]:
    utts, missing = [], 0
    for name, label in labelled(session):
        match = _UTT.match(name)
        if not match:
            raise DataPrepError(f"{session}: utterance name {name!r} is not Ses<k><F|M>_..._<F|M>n")
        wav = session / "sentences" / "wav" / name.rsplit("_", 1)[0] / f"{name}.wav"
        if not wav.is_file():
            missing += 1
            continue
        speaker = f"{match['session']}{match['gender']}"
        utts.append(Utterance(f"{speaker}-{name}", speaker, str(wav.resolve()), label=label))
    if missing:
        logger.warning("%s: %d labelled utterance(s) have no wav file (left out)", session, missing)
    return utts


def prepare(root: Path, test_session: int, seed: int) -> dict[str, list[Utterance]]:
    test_name = f"Session{test_session}"
    found = sessions(root)
    if test_name not in {s.name for s in found}:
        raise DataPrepError(f"{root}: no {test_name} dir (--test_session {test_session})")
    rest: list[Utterance] = []
    test: list[Utterance] = []
    for session in found:
        (test if session.name == test_name else rest).extend(session_utterances(session))
    rest.sort(key=lambda u: u.utt)
    order = list(range(len(rest)))
    random.Random(seed).shuffle(order)
    valid_ids = set(order[: int(len(rest) * VALID_FRACTION)])
    return {
        "train": [u for i, u in enumerate(rest) if i not in valid_ids],
        "valid": [u for i, u in enumerate(rest) if i in valid_ids],
        "test": test,
    }


def main(argv: list[str] | None = None) -> None:
    parser = base_parser(__name__, __doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="IEMOCAP_full_release")
    parser.add_argument("--test_session", type=int, default=1, help="the session tested on")
    parser.add_argument("--split_seed", type=int, default=0, help="seed of the valid draw")
    add_task_argument(parser, "iemocap_er")
    args = parser.parse_args(argv)
    root = require_dir(args.root, VARIABLE, "IEMOCAP_full_release (https://sail.usc.edu/iemocap/)")
    write_task(prepare(root, args.test_session, args.split_seed), args, family="er", language="en")


if __name__ == "__main__":
    run(main)
