"""MUStARD sarcasm detection (Castro et al., ACL 2019), 2 classes, from the utterance audio.

    python -m espnet2_speechprompt.data.mustard --root $MUSTARD --videos $MUSTARD_VIDEOS \\
        --data_dir data [--task mustard_sd] [--split speaker_dependent --fold 0] [--split_seed 0]

``--root``: a clone of https://github.com/soujanyaporia/MUStARD: ``data/sarcasm_data.json``
(690 utterances: id -> ``utterance``, ``speaker``, ``context``, ``context_speakers``, ``show``,
``sarcasm``) and ``data/split_indices.p`` (5 folds of indices into the JSON's order).
``--videos``: the utterance clips, ``mmsd_raw_data/utterances_final/<id>.mp4`` from the corpus's
``mmsd_raw_data.zip``; a ``<id>.wav`` there is used instead (e.g. audio already extracted).
wav.scp decodes the mp4 audio with ffmpeg (16 kHz mono). ``label``: ``sarcastic`` or
``not_sarcastic``.

Split: ``speaker_dependent`` (default, as SpeechPrompt v2): test = fold ``--fold`` of
``split_indices.p``; ``speaker_independent``: test = the show FRIENDS. Valid: 10 % (at least
one) of the other utterances drawn with ``--split_seed``. The pickle is read with only numpy's
array constructors allowed (nothing else in it can run). Speaker: the JSON's ``speaker``.
"""

from __future__ import annotations

import codecs
import importlib
import json
import pickle
import random
from pathlib import Path

import numpy as np

from .cli import base_parser, run
from .kaldi import DataPrepError, Utterance, ascii_id, ffmpeg_entry, require_dir, require_file
from .tasklist import add_task_argument, write_task

VALID_FRACTION = 0.1
INDEPENDENT_TEST_SHOW = "FRIENDS"
VARIABLE = "MUSTARD"
SOURCE = "https://github.com/soujanyaporia/MUStARD"
LABELS = {True: "sarcastic", False: "not_sarcastic"}
_ARRAY_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("_codecs", "encode"),
}  # fmt: skip  (protocol-2 bytes written by Python 3)


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles lists, tuples and numpy arrays; refuses every other global."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _ARRAY_GLOBALS:
            raise pickle.UnpicklingError(f"refusing {module}.{name}")
        if module == "_codecs":
            return codecs.encode
        if name == "_reconstruct":
            for candidate in ("numpy._core.multiarray", "numpy.core.multiarray"):
                try:
                    return importlib.import_module(candidate)._reconstruct
                except (ImportError, AttributeError):
                    continue
        return getattr(np, name)


def read_folds(path: Path) -> list[tuple[list[int], list[int]]]:
    """``[(train_indices, test_indices), ...]`` of ``split_indices.p``."""
    try:
        with open(path, "rb") as f:
            folds = _ArrayOnlyUnpickler(f, encoding="latin1").load()
        result = [
            (np.asarray(a).astype(int).tolist(), np.asarray(b).astype(int).tolist())
            for a, b in folds
        ]
    except (pickle.UnpicklingError, EOFError, TypeError, ValueError) as exc:
        raise DataPrepError(f"{path}: not MUStARD's fold index file ({exc})") from None
    return result


def read_annotations(root: Path) -> dict[str, dict]:
    path = require_file(root / "data" / "sarcasm_data.json", VARIABLE, f"a clone of {SOURCE}")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as exc:
        raise DataPrepError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    for key, item in data.items():
        if not isinstance(item, dict) or not {"speaker", "sarcasm"} <= item.keys():
            raise DataPrepError(f"{path}: entry {key} has no 'speaker' and 'sarcasm'")
    return data


def clip_entry(videos: Path, key: str) -> str:
    wav, mp4 = videos / f"{key}.wav", videos / f"{key}.mp4"
    if wav.is_file():
        return str(wav.resolve())
    if mp4.is_file():
        return ffmpeg_entry(mp4.resolve())
    raise DataPrepError(
        f"{mp4}: no such file; MUSTARD_VIDEOS must be mmsd_raw_data/utterances_final"
    )


def held_out_keys(root: Path, data: dict[str, dict], split: str, fold: int) -> set[str]:
    keys = list(data)
    if split == "speaker_independent":
        return {k for k in keys if data[k].get("show") == INDEPENDENT_TEST_SHOW}
    path = require_file(root / "data" / "split_indices.p", VARIABLE, f"a clone of {SOURCE}")
    folds = read_folds(path)
    if not 0 <= fold < len(folds):
        raise DataPrepError(f"{path}: --fold {fold} is out of range (0..{len(folds) - 1})")
    indices = folds[fold][1]
    if any(not 0 <= i < len(keys) for i in indices):
        raise DataPrepError(f"{path}: fold {fold} indexes past the {len(keys)} JSON entries")
    return {keys[i] for i in indices}


def prepare(root: Path, videos: Path, split: str, fold: int, seed: int) -> dict:
    data = read_annotations(root)
    test = held_out_keys(root, data, split, fold)
    if not test:
        raise DataPrepError(f"{root}: the {split} split leaves no test utterance")
    sets: dict[str, list[Utterance]] = {"train": [], "valid": [], "test": []}
    rest = sorted(k for k in data if k not in test)
    valid = set(random.Random(seed).sample(rest, max(1, round(len(rest) * VALID_FRACTION))))
    for key, item in data.items():
        speaker = ascii_id(str(item["speaker"])) or "unknown"
        utt = Utterance(f"{speaker}-{ascii_id(key)}", speaker, clip_entry(videos, key),
                        label=LABELS[bool(item["sarcasm"])])  # fmt: skip
        sets["test" if key in test else "valid" if key in valid else "train"].append(utt)
    return sets


def main(argv: list[str] | None = None) -> None:
    parser = base_parser(__name__, __doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="MUStARD clone (data/sarcasm_data.json)")
    parser.add_argument("--videos", required=True, help="dir of the <id>.mp4 utterance clips")
    parser.add_argument("--split", choices=("speaker_dependent", "speaker_independent"),
                        default="speaker_dependent")  # fmt: skip
    parser.add_argument("--fold", type=int, default=0, help="fold of split_indices.p")
    parser.add_argument("--split_seed", type=int, default=0, help="seed of the valid draw")
    add_task_argument(parser, "mustard_sd")
    args = parser.parse_args(argv)
    root = require_dir(args.root, VARIABLE, f"a clone of {SOURCE}")
    videos = require_dir(args.videos, "MUSTARD_VIDEOS", "mmsd_raw_data/utterances_final")
    sets = prepare(root, videos, args.split, args.fold, args.split_seed)
    write_task(sets, args, family="sd", language="en")


if __name__ == "__main__":
    run(main)
