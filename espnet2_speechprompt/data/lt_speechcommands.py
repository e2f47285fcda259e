"""Lithuanian Speech Commands (Kolesau and Šešok 2020), 15 classes as SpeechPrompt v2 uses them.

    python -m espnet2_speechprompt.data.lt_speechcommands --root $LT_SPEECHCOMMANDS \\
        [--split_lists $SCR_SPLIT_LISTS] --data_dir data [--task lt_sc]

``--root``: a clone of https://github.com/kolesov93/lt_speech_commands (or its ``dataset/``):
``dataset/<word>/<speaker>_nohash_<n>.wav`` for 20 words (the Speech Commands layout) and
``dataset/_background_noise_/<n>.wav`` (short noise clips). Classes: the 13 command words
(``ne``, ``ačiū``, ``stop``, ``įjunk``, ``išjunk``, ``į_viršų``, ``į_apačią``, ``į_dešinę``,
``į_kairę``, ``startas``, ``pauzė``, ``labas``, ``iki``), ``unknown`` (the 7 other words) and
``silence`` (the noise clips).

Split: the Speech Commands hash of the speaker part (10 % valid, 10 % test); train keeps the
first 20 files (sorted) of each word ("train_limit20" of the adversarial-reprogramming work that
SpeechPrompt v2 follows); noise clips (sorted): the first 10 to test, the next 10 to valid, the
rest to train. ``--split_lists DIR``: that work's own lists instead, ``DIR/LT-SCR/`` (or
``DIR/Datasets/LT-SCR/``) with ``train_limit20.csv``, ``dev_full.csv``, ``test_full.csv`` and
``noise_full.csv`` (its rows 1-10 to test, 11-20 to valid, the rest to train, as SpeechPrompt v2
does); their paths are matched by the part after ``dataset/``. ``label``: the class.
"""

from __future__ import annotations

from pathlib import Path

from .cli import base_parser, run
from .kaldi import DataPrepError, Utterance, ascii_id, require_dir
from .splits import find_listed, hash_split, list_dir, read_split_list, tail_after
from .tasklist import add_task_argument, write_task

COMMANDS = ("ne", "ačiū", "stop", "įjunk", "išjunk", "į_viršų", "į_apačią", "į_dešinę",
            "į_kairę", "startas", "pauzė", "labas", "iki")  # fmt: skip
UNKNOWN, SILENCE = "unknown", "silence"
NOISE_DIR = "_background_noise_"
TRAIN_LIMIT = 20
NOISE_TEST, NOISE_VALID = 10, 10
VARIABLE = "LT_SPEECHCOMMANDS"
SOURCE = "https://github.com/kolesov93/lt_speech_commands"
LISTS = {"train": "train_limit20.csv", "valid": "dev_full.csv", "test": "test_full.csv"}


def dataset_dir(root: Path) -> Path:
    """The dir holding the word dirs: ``<root>/dataset`` or ``root`` itself."""
    for candidate in (root / "dataset", root):
        if (candidate / NOISE_DIR).is_dir():
            return candidate
    raise DataPrepError(
        f"{root}: no dataset/{NOISE_DIR} dir; {VARIABLE} must be a clone of {SOURCE}"
    )


def utterance(wav: Path, word: str) -> Utterance:
    """A word file (``word`` = its dir) or, for ``_background_noise_``, a silence clip."""
    if word == NOISE_DIR:
        stem = ascii_id(wav.stem)
        return Utterance(f"silence-{stem}", "silence", str(wav.resolve()), label=SILENCE)
    speaker = ascii_id(wav.name.split("_nohash_")[0])
    label = word if word in COMMANDS else UNKNOWN
    utt = f"{speaker}-{ascii_id(word)}-{ascii_id(wav.stem)}"
    return Utterance(utt, speaker, str(wav.resolve()), label=label)


def prepare(data: Path) -> dict[str, list[Utterance]]:
    """The hash split (train limited to 20 files per word) and the noise clips."""
    sets: dict[str, list[Utterance]] = {"train": [], "valid": [], "test": []}
    words = sorted(p for p in data.iterdir() if p.is_dir() and p.name != NOISE_DIR)
    missing = [w for w in COMMANDS if not (data / w).is_dir()]
    if missing:
        raise DataPrepError(f"{data}: no dir for the command word(s) {', '.join(missing)}")
    for word_dir in words:
        kept = 0
        for wav in sorted(word_dir.glob("*.wav")):
            split = hash_split(wav.name)
            if split == "train":
                kept += 1
                if kept > TRAIN_LIMIT:
                    continue
            sets[split].append(utterance(wav, word_dir.name))
    noise = [utterance(w, NOISE_DIR) for w in sorted((data / NOISE_DIR).glob("*.wav"))]
    add_noise(sets, noise)
    return sets


def add_noise(sets: dict[str, list[Utterance]], noise: list[Utterance]) -> None:
    if len(noise) <= NOISE_TEST + NOISE_VALID:
        raise DataPrepError(
            f"{len(noise)} noise clip(s): the silence class needs more than "
            f"{NOISE_TEST + NOISE_VALID}; is {VARIABLE} complete?"
        )
    sets["test"] += noise[:NOISE_TEST]
    sets["valid"] += noise[NOISE_TEST : NOISE_TEST + NOISE_VALID]
    sets["train"] += noise[NOISE_TEST + NOISE_VALID :]


def listed(data: Path, list_file: Path) -> list[Utterance]:
    utts = []
    for number, (path, label) in enumerate(read_split_list(list_file, "SCR_SPLIT_LISTS"), 2):
        where = f"{list_file}:{number}"
        relative = tail_after(path, "dataset", where)
        wav = find_listed(data, relative, where, VARIABLE)
        utt = utterance(wav, relative.parts[0])
        if utt.label != label:
            raise DataPrepError(f"{where}: label {label}, but {relative} is class {utt.label}")
        utts.append(utt)
    return utts


def prepare_from_lists(data: Path, lists: Path) -> dict[str, list[Utterance]]:
    """The split of the adversarial-reprogramming work's lists (``LT-SCR/*.csv``)."""
    sets = {split: listed(data, lists / name) for split, name in LISTS.items()}
    add_noise(sets, listed(data, lists / "noise_full.csv"))
    return sets


def main(argv: list[str] | None = None) -> None:
    parser = base_parser(__name__, __doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="lt_speech_commands clone")
    parser.add_argument("--split_lists", default="", help="dir of the LT-SCR lists (optional)")
    add_task_argument(parser, "lt_sc")
    args = parser.parse_args(argv)
    data = dataset_dir(require_dir(args.root, VARIABLE, f"a clone of {SOURCE}"))
    if args.split_lists:
        sets = prepare_from_lists(data, list_dir(args.split_lists, "LT-SCR"))
    else:
        sets = prepare(data)
    write_task(sets, args, family="scr", language="lt")


if __name__ == "__main__":
    run(main)
