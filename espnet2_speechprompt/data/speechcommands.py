"""Google Speech Commands: v0.01 12 classes (the SUPERB (s3prl) keyword-spotting split), or
v0.02 with its 35 words as the classes.

    python -m espnet2_speechprompt.data.speechcommands --root $SPEECHCOMMANDS \\
        --test_root $SPEECHCOMMANDS_TEST --data_dir data [--n_shot 10 --seed 0]
    python -m espnet2_speechprompt.data.speechcommands --class_set words35 \\
        --root $SPEECHCOMMANDS_V2 --data_dir data --task gsc_v2

``--root``: ``speech_commands_v0.01.tar.gz`` extracted (``<word>/<speaker>_nohash_<n>.wav`` for
30 words, ``_background_noise_/*.wav``, ``validation_list.txt``, ``testing_list.txt``).
``--test_root``: ``speech_commands_test_set_v0.01.tar.gz`` extracted (``<class>/*.wav`` for the
12 classes; 3,081 utterances). Sets:

- ``train``: every word file in neither list, ``valid``: the files of ``validation_list.txt``
  (speaker-disjoint from train by the corpus's hashing); the 10 command words keep their name,
  the other 20 words become ``_unknown_``. Files of ``testing_list.txt`` are not used (SUPERB
  tests on the separate test set).
- ``_silence_``: the background-noise files cut into 1 s clips (written as wav files under
  ``<data_dir>/local/silence``), the first 90 % of each file's clips to train, the rest to valid.
- ``test``: the test set as released (its own ``_unknown_`` and ``_silence_`` dirs).

``label``: the class (``yes``, ..., ``go``, ``_unknown_``, ``_silence_``).

``--class_set words35``: ``--root`` is ``speech_commands_v0.02.tar.gz`` extracted (35 word dirs,
``_background_noise_``, the two lists); every word is a class (no ``_unknown_``/``_silence_``),
``valid`` = ``validation_list.txt``, ``test`` = ``testing_list.txt``, ``train`` = the rest (the
corpus's own speaker-disjoint split). ``--task NAME`` writes ``<task>_<split>`` dirs and the
task's line in ``<data_dir>/tasks`` (family ``scr``, language ``en``) instead of ``<split>``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import soundfile

from .cli import base_parser, run, write_sets
from .kaldi import DataPrepError, Utterance, require_dir, require_file, safe_id
from .tasklist import write_task

logger = logging.getLogger(__name__)

COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN, SILENCE = "_unknown_", "_silence_"
CLASSES = (*COMMANDS, UNKNOWN, SILENCE)
NOISE_DIR = "_background_noise_"
SUPERB_TEST_SIZE = 3081
_SPEAKER = re.compile(r"([0-9a-f]{8})_nohash_")
DOWNLOAD = "http://download.tensorflow.org/data/speech_commands_v0.01.tar.gz"
DOWNLOAD_TEST = "http://download.tensorflow.org/data/speech_commands_test_set_v0.01.tar.gz"
DOWNLOAD_V2 = "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
WORDS35 = (
    *COMMANDS, "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow",
    "backward", "forward", "follow", "learn", "visual",
)  # fmt: skip


def speaker_of(name: str, fallback: str) -> str:
    match = _SPEAKER.search(name)
    return match.group(1) if match else fallback


def word_utterance(wav: Path, cls: str, rel: str) -> Utterance:
    speaker = speaker_of(wav.name, safe_id(cls.strip("_")) or "unknown")
    utt = f"{speaker}-{safe_id(rel.replace('/', '-')).removesuffix('.wav')}"
    return Utterance(utt=utt, speaker=speaker, audio=str(wav.resolve()), label=cls)


def read_list(path: Path) -> set[str]:
    with open(path, encoding="utf-8") as f:
        return {line.strip() for line in f if line.strip()}


def cut_silence(
    noise_dir: Path, out_dir: Path, valid_fraction: float = 0.1
) -> tuple[list[Utterance], list[Utterance]]:
    """1 s clips of every background-noise file: (train clips, valid clips)."""
    train, valid = [], []
    out_dir.mkdir(parents=True, exist_ok=True)
    for wav in sorted(noise_dir.glob("*.wav")):
        samples, rate = soundfile.read(wav, dtype="float32", always_2d=False)
        if samples.ndim == 2:
            samples = samples.mean(axis=1)
        clips = len(samples) // rate
        if clips == 0:
            logger.warning("%s is shorter than 1 s: no silence clip from it", wav)
            continue
        n_valid = int(round(clips * valid_fraction)) if clips > 1 else 0
        if clips > 1 and n_valid == 0:
            n_valid = 1
        for k in range(clips):
            name = f"{safe_id(wav.stem)}_{k:04d}"
            path = out_dir / f"{name}.wav"
            clip = np.asarray(samples[k * rate : (k + 1) * rate])
            if not path.exists() or soundfile.info(path).frames != len(clip):
                soundfile.write(path, clip, rate, subtype="PCM_16")
            utt = Utterance(
                utt=f"silence-{name}", speaker="silence", audio=str(path.resolve()), label=SILENCE
            )
            (valid if k >= clips - n_valid else train).append(utt)
    return train, valid


def read_split_lists(root: Path, variable: str, version: str) -> tuple[set[str], set[str]]:
    """The corpus's ``validation_list.txt`` and ``testing_list.txt`` entries."""
    return tuple(
        read_list(require_file(root / name, variable, f"Speech Commands {version}"))
        for name in ("validation_list.txt", "testing_list.txt")
    )


def prepare_words35(root: Path) -> dict[str, list[Utterance]]:
    """v0.02, every one of the 35 words a class; the split of the corpus's two lists."""
    valid_list, test_list = read_split_lists(root, "SPEECHCOMMANDS_V2", "v0.02")
    missing = [w for w in WORDS35 if not (root / w).is_dir()]
    if missing:
        raise DataPrepError(
            f"{root}: no dir for the word(s) {', '.join(missing)}; SPEECHCOMMANDS_V2 must be "
            f"the extracted {DOWNLOAD_V2}"
        )
    sets: dict[str, list[Utterance]] = {"train": [], "valid": [], "test": []}
    for word in WORDS35:
        for wav in sorted((root / word).glob("*.wav")):
            rel = f"{word}/{wav.name}"
            split = "test" if rel in test_list else "valid" if rel in valid_list else "train"
            sets[split].append(word_utterance(wav, word, rel))
    return sets


def prepare(root: Path, test_root: Path, data_dir: Path) -> dict[str, list[Utterance]]:
    valid_list, test_list = read_split_lists(root, "SPEECHCOMMANDS", "v0.01")
    train: list[Utterance] = []
    valid: list[Utterance] = []
    words = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))
    if not words:
        raise DataPrepError(f"{root}: no word dirs; is SPEECHCOMMANDS the extracted v0.01 tree?")
    for word_dir in words:
        cls = word_dir.name if word_dir.name in COMMANDS else UNKNOWN
        for wav in sorted(word_dir.glob("*.wav")):
            rel = f"{word_dir.name}/{wav.name}"
            if rel in test_list:
                continue
            (valid if rel in valid_list else train).append(word_utterance(wav, cls, rel))
    missing = [w for w in COMMANDS if not (root / w).is_dir()]
    if missing:
        raise DataPrepError(f"{root}: no dir for the command word(s) {', '.join(missing)}")
    noise = root / NOISE_DIR
    if not noise.is_dir():
        raise DataPrepError(f"{noise}: no such dir (the _silence_ class is cut from it)")
    silence_train, silence_valid = cut_silence(noise, data_dir / "local" / "silence")
    test = []
    for cls in CLASSES:
        cls_dir = test_root / cls
        if not cls_dir.is_dir():
            raise DataPrepError(
                f"{cls_dir}: no such dir; SPEECHCOMMANDS_TEST must be the extracted "
                f"speech_commands_test_set_v0.01 ({DOWNLOAD_TEST})"
            )
        test += [word_utterance(w, cls, f"{cls}/{w.name}") for w in sorted(cls_dir.glob("*.wav"))]
    if len(test) != SUPERB_TEST_SIZE:
        logger.warning(
            "the test set has %d utterances; the SUPERB KS test set has %d",
            len(test),
            SUPERB_TEST_SIZE,
        )
    return {"train": train + silence_train, "valid": valid + silence_valid, "test": test}


def main(argv: list[str] | None = None) -> None:
    parser = base_parser(__name__, __doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="extracted speech_commands_v0.0x")
    parser.add_argument("--test_root", help="extracted test set v0.01 (superb12 only)")
    parser.add_argument("--class_set", choices=("superb12", "words35"), default="superb12")
    parser.add_argument("--task", help="task name: write <task>_<split> and <data_dir>/tasks")
    args = parser.parse_args(argv)
    if args.class_set == "words35":
        sets = prepare_words35(
            require_dir(args.root, "SPEECHCOMMANDS_V2", f"the extracted {DOWNLOAD_V2}")
        )
    else:
        root = require_dir(args.root, "SPEECHCOMMANDS", f"the extracted {DOWNLOAD}")
        test_root = require_dir(
            args.test_root, "SPEECHCOMMANDS_TEST", f"the extracted {DOWNLOAD_TEST}"
        )
        sets = prepare(root, test_root, Path(args.data_dir))
    if args.task:
        write_task(sets, args, family="scr", language="en")
    else:
        write_sets(sets, args, "train", class_of=lambda u: u.label or "")


if __name__ == "__main__":
    run(main)
