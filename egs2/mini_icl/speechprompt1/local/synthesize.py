#!/usr/bin/env python3
"""Synthesize the mini in-context-learning corpus with espeak-ng: one data dir per task and split.

The tasks, their classes and the split into training and test tasks are in ``conf/tasks.yaml``.
An utterance is one text of a class spoken by a speaker, an espeak-ng voice of the class's
language with a voice variant, at a speed and a pitch drawn from the class's ranges; a little
silence, a random level and white or pink noise are added (``espnet2_speechprompt.data.espeak``).
The variants are dealt to four voice-disjoint groups, one per split: training tasks are spoken
by the ``train`` and ``valid`` groups, test tasks by the ``pool`` (demonstrations) and ``test``
(queries) groups. Everything is drawn from generators seeded by ``--seed``, the task, the split
and the utterance, so the corpus is the same whatever ``--nj`` is. Outputs::

    <corpus-dir>/wav/<task>/<utt>.wav         16 kHz mono PCM-16
    <corpus-dir>/settings.json                what was synthesized (checked by --check)
    <data-dir>/<task>_<split>/                wav.scp (absolute paths), label (the class),
                                              text (the words spoken), utt2spk, spk2utt,
                                              utt2num_samples
    <data-dir>/tasks                          <task> <family> <languages, comma-separated>
    <data-dir>/{train,test}_tasks             the task names, one a line

Utterance ids are ``<speaker>-<task>-<label>-<n>``, the speaker ``<voice>+<variant>``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile
import yaml

from espnet2_speechprompt.bin.cli_errors import exit_on_user_error
from espnet2_speechprompt.data.espeak import (
    NOISES,
    SAMPLE_RATE,
    VARIANTS,
    check_voices,
    deal_variants,
    degrade,
    render,
    utterance_rng,
)
from espnet2_speechprompt.data.kaldi import DataPrepError, Utterance, write_data_dir
from espnet2_speechprompt.fileio import atomic_write_text, directory_lock, write_wav

logger = logging.getLogger("synthesize")

RECIPE = Path(__file__).resolve().parents[1]
GROUPS = ("train", "valid", "pool", "test")  # one voice group per split
SPLITS = {"train": ("train", "valid"), "test": ("pool", "test")}  # by the task's role
NAME = re.compile(r"^[A-Za-z0-9_]+$")
LANGUAGE = re.compile(r"^[A-Za-z0-9-]+$")
SPEED_LIMITS, PITCH_LIMITS = (80, 500), (0, 99)  # what espeak-ng -s / -p accept
SNR_LIMITS = (-20, 100)
# what a class sets (a task or the top of the conf sets the defaults of its classes)
CLASS_KEYS = ("text", "language", "speed", "pitch", "gender", "noise", "snr")


class TaskConfError(DataPrepError):
    """conf/tasks.yaml cannot be used; the message names the entry and what to change."""


@dataclass(frozen=True)
class TaskClass:
    label: str
    language: str
    texts: tuple[str, ...]
    speed: tuple[int, int]
    pitch: tuple[int, int]
    gender: str | None  # only variants of this gender speak the class
    noise: str | None  # the noise added (None: white or pink, drawn)
    snr: tuple[float, float]


@dataclass(frozen=True)
class Task:
    name: str
    family: str
    role: str  # "train" or "test"
    classes: tuple[TaskClass, ...]
    per_class: dict[str, int]  # split -> utterances per class

    @property
    def splits(self) -> tuple[str, ...]:
        return SPLITS[self.role]

    @property
    def languages(self) -> list[str]:
        return list(dict.fromkeys(c.language for c in self.classes))


@dataclass(frozen=True)
class Corpus:
    tasks: dict[str, Task]  # training tasks, then test tasks, each in conf order
    voices: dict[str, tuple[str, ...]]  # language -> espeak-ng voices
    voice_groups: dict[str, float]
    max_pad: float


@dataclass(frozen=True)
class Job:
    utt: str
    speaker: str
    task: str
    label: str
    text: str
    speed: int
    pitch: int
    noise: str | None
    snr: tuple[float, float]
    max_pad: float
    path: str
    seed: int


# ---- conf/tasks.yaml ------------------------------------------------------------------------


def _range(value, where: str, limits: tuple[float, float], kind=int) -> tuple:
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        or not limits[0] <= value[0] <= value[1] <= limits[1]
    ):
        raise TaskConfError(f"{where}: expected [low, high] within {list(limits)}, got {value!r}")
    return kind(value[0]), kind(value[1])


def _texts(value, where: str) -> tuple[str, ...]:
    texts = value if isinstance(value, list) else [value]
    if not texts or not all(isinstance(t, str) and t.strip() and "\n" not in t for t in texts):
        raise TaskConfError(f"{where}: text must be a word or a list of words, got {value!r}")
    return tuple(texts)


def _task_class(label, value, task: dict, top: dict, where: str) -> TaskClass:
    if not isinstance(label, str) or not NAME.match(label):
        raise TaskConfError(
            f"{where}: class label {label!r} must be letters, digits or _ (quote yes/no/on/off)"
        )
    spec = value if isinstance(value, dict) else {"text": value}
    unknown = set(spec) - set(CLASS_KEYS)
    if unknown:
        raise TaskConfError(f"{where}.{label}: unknown keys {sorted(unknown)}")

    def pick(key: str):
        return spec.get(key, task.get(key, top.get(key)))

    language = pick("language")
    if language not in top["languages"]:
        raise TaskConfError(f"{where}.{label}: language {language!r} is not under languages:")
    gender, noise = pick("gender"), pick("noise")
    if gender not in (None, "f", "m"):
        raise TaskConfError(f"{where}.{label}: gender must be f or m, got {gender!r}")
    if noise not in (None, *NOISES):
        raise TaskConfError(f"{where}.{label}: noise must be one of {NOISES}, got {noise!r}")
    return TaskClass(
        label=label,
        language=language,
        texts=_texts(pick("text"), f"{where}.{label}.text"),
        speed=_range(pick("speed"), f"{where}.{label}.speed", SPEED_LIMITS),
        pitch=_range(pick("pitch"), f"{where}.{label}.pitch", PITCH_LIMITS),
        gender=gender,
        noise=noise,
        snr=_range(pick("snr"), f"{where}.{label}.snr", SNR_LIMITS, float),
    )


def _task(name: str, role: str, spec, top: dict, where: str) -> Task:
    if not isinstance(spec, dict) or not isinstance(spec.get("classes"), dict):
        raise TaskConfError(f"{where}: a task needs family: and classes: {{label: text, ...}}")
    unknown = set(spec) - {"family", "per_class", "classes", *CLASS_KEYS}
    if unknown:
        raise TaskConfError(f"{where}: unknown keys {sorted(unknown)}")
    family = spec.get("family")
    if not isinstance(family, str) or not NAME.match(family):
        raise TaskConfError(f"{where}: family must be a name (letters, digits, _)")
    classes = tuple(
        _task_class(label, value, spec, top, f"{where}.classes")
        for label, value in spec["classes"].items()
    )
    if len(classes) < 2:
        raise TaskConfError(f"{where}: a task needs at least 2 classes")
    per_class = {**top["per_class"], **(spec.get("per_class") or {})}
    counts = {}
    for split in SPLITS[role]:
        count = per_class.get(split)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise TaskConfError(f"{where}: per_class.{split} must be a positive integer")
        counts[split] = count
    return Task(name, family, role, classes, counts)


def _check_top(top, path: Path) -> None:
    if not isinstance(top, dict):
        raise TaskConfError(f"{path}: expected a mapping (train_tasks, test_tasks, tasks, ...)")
    required = ("train_tasks", "test_tasks", "tasks", "languages", "voice_groups", "per_class")
    unknown = set(top) - {*required, "speed", "pitch", "snr", "max_pad", "words"}
    if unknown:
        raise TaskConfError(f"{path}: unknown keys {sorted(unknown)}")
    for key in required:
        if not isinstance(top.get(key), list if key.endswith("_tasks") else dict):
            raise TaskConfError(f"{path}: {key}: is missing or of the wrong type")
    if sorted(top["voice_groups"]) != sorted(GROUPS) or not all(
        isinstance(v, int | float) and v > 0 for v in top["voice_groups"].values()
    ):
        raise TaskConfError(f"{path}: voice_groups: needs a positive share for each of {GROUPS}")
    for language, voices in top["languages"].items():
        if (
            not isinstance(language, str)
            or not LANGUAGE.match(language)
            or not isinstance(voices, list)
            or not voices
            or not all(isinstance(v, str) for v in voices)
        ):
            raise TaskConfError(
                f"{path}: languages.{language}: expected a language code (letters, digits, -) "
                "and a list of espeak-ng voices"
            )
    max_pad = top.get("max_pad", 0.05)
    if isinstance(max_pad, bool) or not isinstance(max_pad, int | float) or not 0 <= max_pad <= 1:
        raise TaskConfError(f"{path}: max_pad must be a number of seconds in [0, 1]")


def load_corpus(path: Path) -> Corpus:
    """The tasks of ``path``, checked: every name defined once, training and test disjoint."""
    try:
        top = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TaskConfError(f"{path}: cannot read the task conf ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise TaskConfError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    _check_top(top, path)
    both = set(top["train_tasks"]) & set(top["test_tasks"])
    if both:
        raise TaskConfError(f"{path}: {sorted(both)} in both train_tasks and test_tasks")
    listed = [*top["train_tasks"], *top["test_tasks"]]
    for name in listed:
        if name not in top["tasks"]:
            raise TaskConfError(f"{path}: task {name!r} is listed but not defined under tasks:")
    for name in top["tasks"]:
        if name not in listed:
            raise TaskConfError(f"{path}: task {name!r} is in neither train_tasks nor test_tasks")
    if len(set(listed)) != len(listed) or not all(
        isinstance(n, str) and NAME.match(n) for n in listed
    ):
        raise TaskConfError(f"{path}: task names must be unique names (letters, digits, _)")
    tasks = {}
    for role in ("train", "test"):
        for name in top[f"{role}_tasks"]:
            tasks[name] = _task(name, role, top["tasks"][name], top, f"{path}: tasks.{name}")
    return Corpus(
        tasks=tasks,
        voices={lang: tuple(voices) for lang, voices in top["languages"].items()},
        voice_groups=dict(top["voice_groups"]),
        max_pad=float(top.get("max_pad", 0.05)),
    )


# ---- the plan: every utterance and its settings --------------------------------------------


def voice_groups(corpus: Corpus, seed: int) -> dict[str, list[int]]:
    """Indices into VARIANTS of each split's voice group."""
    dealt = deal_variants(len(VARIANTS), [corpus.voice_groups[g] for g in GROUPS], seed)
    return {group: sorted(indices) for group, indices in zip(GROUPS, dealt, strict=True)}


def plan_class(
    task: Task,
    split: str,
    cls: TaskClass,
    count: int,
    group: list[int],
    corpus: Corpus,
    args: argparse.Namespace,
) -> list[Job]:
    """``count`` utterances of one class: the group's variants (of the class's gender) in a
    seeded order, each with the language's voices in turn; text, speed and pitch drawn."""
    names = (task.name, split, cls.label)
    rng = np.random.default_rng([args.seed, *(zlib.crc32(n.encode()) for n in names)])
    eligible = [i for i in group if cls.gender in (None, VARIANTS[i][1])]
    if not eligible:
        raise TaskConfError(
            f"task {task.name}, class {cls.label}: no {cls.gender} voice variant in the "
            f"{split} group; give voice_groups.{split} a larger share"
        )
    eligible = [eligible[k] for k in rng.permutation(len(eligible))]
    voices = corpus.voices[cls.language]
    corpus_dir = os.path.abspath(args.corpus_dir)
    jobs = []
    for n in range(count):
        variant = eligible[n % len(eligible)]
        voice = voices[(variant + n // len(eligible)) % len(voices)]
        speaker = f"{voice}+{VARIANTS[variant][0]}"
        utt = f"{speaker}-{task.name}-{cls.label}-{n:04d}"
        text = cls.texts[int(rng.integers(len(cls.texts)))]
        speed, pitch = (int(rng.integers(lo, hi + 1)) for lo, hi in (cls.speed, cls.pitch))
        path = os.path.join(corpus_dir, "wav", task.name, f"{utt}.wav")
        jobs.append(
            Job(utt, speaker, task.name, cls.label, text, speed, pitch, cls.noise, cls.snr,
                corpus.max_pad, path, args.seed)
        )  # fmt: skip
    return jobs


def plan(corpus: Corpus, args: argparse.Namespace) -> dict[str, list[Job]]:
    """``{<task>_<split>: jobs}`` of the chosen tasks."""
    groups = voice_groups(corpus, args.seed)
    sets = {}
    for task in corpus.tasks.values():
        for split in task.splits:
            count = args.per_class or task.per_class[split]
            sets[f"{task.name}_{split}"] = [
                job
                for cls in task.classes
                for job in plan_class(task, split, cls, count, groups[split], corpus, args)
            ]
    return sets


def select_tasks(corpus: Corpus, names: list[str] | None) -> Corpus:
    if not names:
        return corpus
    for name in names:
        if name not in corpus.tasks:
            raise TaskConfError(f"--tasks: unknown task {name!r} (known: {' '.join(corpus.tasks)})")
    tasks = {name: task for name, task in corpus.tasks.items() if name in names}
    return Corpus(tasks, corpus.voices, corpus.voice_groups, corpus.max_pad)


# ---- synthesis and outputs ------------------------------------------------------------------


def synthesize_one(job: Job) -> int:
    """Write one utterance (atomically); returns its number of samples."""
    speech = render(job.speaker, job.speed, job.pitch, job.text)
    rng = utterance_rng(job.seed, job.utt)
    mixed = degrade(speech, rng, job.snr, job.max_pad, job.noise)
    os.makedirs(os.path.dirname(job.path), exist_ok=True)
    write_wav(job.path, mixed.astype(np.float32), SAMPLE_RATE)
    return int(mixed.size)


def synthesize_all(jobs: list[Job], nj: int) -> dict[str, int]:
    """Number of samples of every utterance; files of an interrupted run are kept."""
    lengths = {j.utt: soundfile.info(j.path).frames for j in jobs if os.path.isfile(j.path)}
    missing = [j for j in jobs if j.utt not in lengths]
    logger.info(
        "%d utterances to synthesize (%d already there), %d processes",
        len(missing),
        len(lengths),
        nj,
    )
    if nj > 1 and len(missing) > 1:
        with ProcessPoolExecutor(nj) as pool:
            for job, n in zip(
                missing, pool.map(synthesize_one, missing, chunksize=16), strict=True
            ):
                lengths[job.utt] = n
    else:
        for job in missing:
            lengths[job.utt] = synthesize_one(job)
    return lengths


def settings_of(sets: dict[str, list[Job]]) -> dict:
    """What the corpus depends on: the data sets and a digest of every utterance's settings."""
    digest = hashlib.sha256()
    for name, jobs in sets.items():
        digest.update(json.dumps([name, [asdict(j) for j in jobs]], ensure_ascii=False).encode())
    return {"sample_rate": SAMPLE_RATE, "sets": sorted(sets), "sha256": digest.hexdigest()}


def write_outputs(
    corpus: Corpus, sets: dict[str, list[Job]], lengths: dict[str, int], data_dir: Path
) -> None:
    for name, jobs in sets.items():
        utts = [
            Utterance(
                j.utt,
                j.speaker,
                j.path,
                label=j.label,
                text=j.text,
                extra={"utt2num_samples": str(lengths[j.utt])},
            )
            for j in jobs
        ]
        write_data_dir(data_dir / name, utts)
        logger.info(
            "%s/%s: %d utterances, %d speakers",
            data_dir,
            name,
            len(utts),
            len({j.speaker for j in jobs}),
        )
    tasks = corpus.tasks.values()
    atomic_write_text(
        data_dir / "tasks", "".join(f"{t.name} {t.family} {','.join(t.languages)}\n" for t in tasks)
    )
    for role in ("train", "test"):
        names = "".join(f"{t.name}\n" for t in tasks if t.role == role)
        atomic_write_text(data_dir / f"{role}_tasks", names)


def is_complete(settings: dict, sets: dict[str, list[Job]], args: argparse.Namespace) -> bool:
    try:
        with open(os.path.join(args.corpus_dir, "settings.json"), encoding="utf-8") as f:
            if json.load(f) != settings:
                return False
        for name, jobs in sets.items():
            with open(os.path.join(args.data_dir, name, "wav.scp"), encoding="utf-8") as f:
                if f.read().splitlines() != sorted(f"{j.utt} {j.path}" for j in jobs):
                    return False
    except (OSError, ValueError):
        return False
    files = [os.path.join(args.data_dir, n) for n in ("tasks", "train_tasks", "test_tasks")]
    return all(os.path.isfile(p) for p in files) and all(
        os.path.isfile(j.path) for jobs in sets.values() for j in jobs
    )


# ---- command line ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--conf", default=str(RECIPE / "conf" / "tasks.yaml"), help="the tasks")
    p.add_argument("--corpus-dir", default="downloads/mini_icl", help="where the wav files go")
    p.add_argument("--data-dir", default="data", help="where the <task>_<split>/ dirs go")
    p.add_argument("--tasks", nargs="+", help="only these tasks (default: all of --conf)")
    p.add_argument(
        "--per-class",
        type=int,
        default=0,
        help="utterances per class in every split (0: the conf's per_class)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--nj", type=int, default=os.cpu_count() or 1, help="parallel processes")
    p.add_argument(
        "--check",
        action="store_true",
        help="only check: exit 0 if the corpus and data dirs are complete",
    )
    p.add_argument("--list-voices", action="store_true", help="print each split's voice variants")
    return p


def prepare_corpus_dir(corpus_dir: str, settings: dict) -> None:
    """Remove the wav files of other settings and record these: the files of an interrupted
    run with the same settings are kept, those of any other run are not."""
    settings_path = os.path.join(corpus_dir, "settings.json")
    previous = None
    if os.path.isfile(settings_path):
        with open(settings_path, encoding="utf-8") as f:
            previous = json.load(f)
    if previous != settings:
        if os.path.isdir(os.path.join(corpus_dir, "wav")):
            logger.info("settings changed: removing the old wav files of %s", corpus_dir)
            shutil.rmtree(os.path.join(corpus_dir, "wav"))
        atomic_write_text(settings_path, json.dumps(settings))


def run(args: argparse.Namespace) -> int:
    if args.nj < 1 or args.per_class < 0:
        raise DataPrepError(
            f"--nj must be >= 1 and --per-class >= 0, got {args.nj}, {args.per_class}"
        )
    corpus = select_tasks(load_corpus(Path(args.conf)), args.tasks)
    if args.list_voices:
        for group, indices in voice_groups(corpus, args.seed).items():
            print(group, " ".join(VARIANTS[i][0] for i in indices))
        return 0
    sets = plan(corpus, args)
    settings = settings_of(sets)
    if args.check:
        return 0 if is_complete(settings, sets, args) else 1
    voices = {
        v for t in corpus.tasks.values() for c in t.classes for v in corpus.voices[c.language]
    }
    check_voices(voices, [name for name, _ in VARIANTS], args.conf)
    os.makedirs(args.corpus_dir, exist_ok=True)
    with directory_lock(args.corpus_dir, "corpus directory"):
        prepare_corpus_dir(args.corpus_dir, settings)
        jobs = [j for js in sets.values() for j in js]
        lengths = synthesize_all(jobs, args.nj)
        write_outputs(corpus, sets, lengths, Path(args.data_dir))
    minutes = sum(lengths.values()) / SAMPLE_RATE / 60
    logger.info(
        "wrote %d utterances (%.1f min of audio) in %d data dirs", len(jobs), minutes, len(sets)
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s synthesize: %(message)s")
    with exit_on_user_error():
        return run(args)


if __name__ == "__main__":
    sys.exit(main())
