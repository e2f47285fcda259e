"""The mini ICL recipe's corpus: conf/tasks.yaml and local/synthesize.py (espeak-ng, a tiny run)."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import sys
from argparse import Namespace
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml

from espnet2_speechprompt.data.espeak import NOISES, VARIANTS, colored_noise

RECIPE = Path(__file__).resolve().parents[2] / "egs2" / "mini_icl" / "speechprompt1"
SYNTHESIZE = RECIPE / "local" / "synthesize.py"
CONF = RECIPE / "conf" / "tasks.yaml"
GENDER = dict(VARIANTS)
ESPEAK_MISSING = "espeak-ng is not installed (apt-get install espeak-ng)"

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason=ESPEAK_MISSING)

spec = importlib.util.spec_from_file_location("mini_icl_synthesize", SYNTHESIZE)
synth = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # dataclasses need it
spec.loader.exec_module(synth)


def synthesize(tmp: Path, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(SYNTHESIZE), "--corpus-dir", str(tmp / "corpus")]
    cmd += ["--data-dir", str(tmp / "data"), "--per-class", "2", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


def read_table(path: Path) -> list[tuple[str, str]]:
    return [tuple(line.split(maxsplit=1)) for line in path.read_text("utf-8").splitlines()]


def variant_of(speaker: str) -> str:
    return speaker.split("+", 1)[1]


def default_plan(seed: int = 0) -> dict:
    args = Namespace(seed=seed, per_class=0, corpus_dir="corpus")
    return synth.plan(synth.load_corpus(CONF), args)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip(ESPEAK_MISSING)
    tmp = tmp_path_factory.mktemp("mini_icl")
    synthesize(tmp, "--nj", "2")
    return tmp


# ---- the task split (no synthesis) ----------------------------------------------------------


def test_training_and_test_tasks_disjoint_with_unseen_language_and_family():
    corpus = synth.load_corpus(CONF)
    train = [t for t in corpus.tasks.values() if t.role == "train"]
    test = [t for t in corpus.tasks.values() if t.role == "test"]
    assert len(corpus.tasks) >= 8 and len({t.family for t in corpus.tasks.values()}) >= 3
    assert not {t.name for t in train} & {t.name for t in test}
    heard = {lang for t in train for lang in t.languages}
    assert {"fr", "lt", "ar"} <= {lang for t in test for lang in t.languages} - heard
    assert {t.family for t in test} - {t.family for t in train} == {"gender", "noise"}
    for task in test:  # every test task holds something warm-up never saw
        assert set(task.languages) - heard or task.family not in {t.family for t in train}


def test_default_corpus_size_and_classes():
    sets = default_plan()
    total = sum(len(jobs) for jobs in sets.values())
    assert 4000 <= total <= 7000, total
    for name, jobs in sets.items():
        counts = Counter(j.label for j in jobs)
        assert len(set(counts.values())) == 1, f"{name}: classes not balanced {counts}"
    assert len(sets["commands_fr_pool"]) == 8 * 12 and len(sets["commands_fr_test"]) == 8 * 24
    utts = [j.utt for jobs in sets.values() for j in jobs]
    assert len(set(utts)) == len(utts)


def test_voice_groups_disjoint_and_classes_follow_their_conf():
    corpus = synth.load_corpus(CONF)
    sets = default_plan()
    variants = {name: {variant_of(j.speaker) for j in jobs} for name, jobs in sets.items()}
    by_split = {s: set().union(*(v for n, v in variants.items() if n.endswith(f"_{s}")))
                for s in ("train", "valid", "pool", "test")}  # fmt: skip
    splits = list(by_split)
    for i, a in enumerate(splits):
        for b in splits[i + 1 :]:
            assert not by_split[a] & by_split[b], (a, b)
    for task in corpus.tasks.values():
        classes = {c.label: c for c in task.classes}
        for split in task.splits:
            for job in sets[f"{task.name}_{split}"]:
                cls = classes[job.label]
                assert cls.speed[0] <= job.speed <= cls.speed[1]
                assert cls.pitch[0] <= job.pitch <= cls.pitch[1]
                assert job.text in cls.texts
                assert (job.noise, job.snr) == (cls.noise, cls.snr)
                assert job.speaker.split("+")[0] in corpus.voices[cls.language]
                if cls.gender:
                    assert GENDER[variant_of(job.speaker)] == cls.gender


def test_noise_colors_differ_in_tilt():
    rng = np.random.default_rng(0)
    low_share = []
    for kind in NOISES:
        power = np.abs(np.fft.rfft(colored_noise(rng, 16000, kind))) ** 2
        low_share.append(power[:500].sum() / power.sum())  # below 500 Hz
    assert low_share == sorted(low_share) and low_share[2] > 0.9 > 0.2 > low_share[0]


def test_plan_is_seeded():
    assert default_plan() == default_plan()
    other = default_plan(seed=1)["commands_en_train"]
    assert [j.speaker for j in other] != [j.speaker for j in default_plan()["commands_en_train"]]


# ---- the synthesized corpus -----------------------------------------------------------------


@needs_espeak
def test_data_dirs(corpus: Path):
    data = corpus / "data"
    conf = synth.load_corpus(CONF)
    tasks = [line.split() for line in (data / "tasks").read_text().splitlines()]
    assert [name for name, _, _ in tasks] == list(conf.tasks)
    for name, family, languages in tasks:
        task = conf.tasks[name]
        assert (family, languages.split(",")) == (task.family, task.languages)
        for split in task.splits:
            check_data_dir(data / f"{name}_{split}", [c.label for c in task.classes])
    for role in ("train", "test"):
        names = (data / f"{role}_tasks").read_text().split()
        assert names == [t.name for t in conf.tasks.values() if t.role == role]


def check_data_dir(d: Path, labels: list[str]) -> None:
    scp = read_table(d / "wav.scp")
    utts = [u for u, _ in scp]
    assert utts and utts == sorted(utts), f"{d}: ids not sorted"
    for name in ("label", "text", "utt2spk", "utt2num_samples"):
        assert [u for u, _ in read_table(d / name)] == utts, f"{d}/{name}"
    label = dict(read_table(d / "label"))
    assert Counter(label.values()) == {lab: 2 for lab in labels}, d  # one token, every class
    utt2spk = dict(read_table(d / "utt2spk"))
    speakers = [utt2spk[u] for u in utts]
    assert speakers == sorted(speakers), f"{d}: speaker order differs from utterance order"
    spk2utt = {s: us.split() for s, us in read_table(d / "spk2utt")}
    assert sorted(u for us in spk2utt.values() for u in us) == utts
    lengths = dict(read_table(d / "utt2num_samples"))
    for utt, path in scp:
        assert utt.startswith(utt2spk[utt] + "-") and f"-{label[utt]}-" in utt
        info = soundfile.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert info.frames == int(lengths[utt]) > 1600


def digests(data: Path, names: list[str]) -> dict[str, str]:
    return {
        utt: hashlib.sha256(Path(path).read_bytes()).hexdigest()
        for name in names
        for utt, path in read_table(data / name / "wav.scp")
    }


@needs_espeak
def test_deterministic_whatever_nj_and_task_subset(corpus: Path, tmp_path: Path):
    synthesize(tmp_path, "--nj", "1", "--tasks", "commands_ar", "speaking_rate")
    names = ["commands_ar_pool", "commands_ar_test", "speaking_rate_train", "speaking_rate_valid"]
    assert digests(tmp_path / "data", names) == digests(corpus / "data", names)
    assert (tmp_path / "data" / "tasks").read_text().split("\n")[0].startswith("speaking_rate ")
    synthesize(tmp_path / "seed1", "--seed", "1", "--tasks", "commands_ar")
    other = digests(tmp_path / "seed1" / "data", names[:2])
    assert set(other.values()).isdisjoint(digests(corpus / "data", names[:2]).values())


@needs_espeak
def test_check_idempotent_and_resumed(corpus: Path):
    assert synthesize(corpus, "--check", check=False).returncode == 0
    assert synthesize(corpus, "--check", "--seed", "1", check=False).returncode == 1
    wavs = sorted((corpus / "corpus" / "wav").rglob("*.wav"))
    before = {p: p.stat().st_mtime_ns for p in wavs}
    synthesize(corpus)  # complete: existing files are kept
    assert {p: p.stat().st_mtime_ns for p in wavs} == before
    wavs[0].unlink()  # an interrupted run: one file missing
    assert synthesize(corpus, "--check", check=False).returncode == 1
    synthesize(corpus)
    after = {p: p.stat().st_mtime_ns for p in wavs}
    assert after[wavs[0]] != before[wavs[0]]
    assert {p: t for p, t in after.items() if p != wavs[0]} == {
        p: t for p, t in before.items() if p != wavs[0]
    }
    assert synthesize(corpus, "--check", check=False).returncode == 0


# ---- one-line errors ------------------------------------------------------------------------


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def write_conf(tmp_path: Path, edit) -> Path:
    conf = yaml.safe_load(CONF.read_text("utf-8"))
    edit(conf)
    path = tmp_path / "tasks.yaml"
    path.write_text(yaml.safe_dump(conf, allow_unicode=True), encoding="utf-8")
    return path


@needs_espeak
def test_missing_espeak_voice(tmp_path: Path):
    conf = write_conf(tmp_path, lambda c: c["languages"].update(lt=["xx-nowhere"]))
    line = one_line_error(synthesize(tmp_path, "--conf", str(conf), check=False))
    assert "no voice 'xx-nowhere'" in line and "espeak-ng --voices" in line
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c["test_tasks"].append("commands_en"), "in both train_tasks and test_tasks"),
        (lambda c: c["train_tasks"].remove("commands_it"), "'commands_it' is in neither"),
        (lambda c: c["test_tasks"].append("nope"), "'nope' is listed but not defined"),
        (lambda c: c["tasks"]["commands_en"]["classes"].update({True: "yes"}), "quote yes/no"),
        (lambda c: c["tasks"]["speaking_rate"]["classes"]["slow"].update(speed=[90]), "speed"),
        (lambda c: c["tasks"]["commands_lt"].update(language="xx"), "language 'xx'"),
        (lambda c: c["voice_groups"].pop("pool"), "voice_groups"),
        (lambda c: c.update(per_clas={"train": 1}), "unknown keys ['per_clas']"),
        (lambda c: c.update(max_pad=-1), "max_pad"),
    ],
)
def test_bad_conf_is_one_line(tmp_path: Path, edit, message):
    conf = write_conf(tmp_path, edit)
    assert message in one_line_error(synthesize(tmp_path, "--conf", str(conf), check=False))


@pytest.mark.parametrize(
    "options, message",
    [
        (["--tasks", "commands_xx"], "unknown task 'commands_xx'"),
        (["--nj", "0"], "--nj must be >= 1"),
        (["--conf", "/nonexistent/tasks.yaml"], "cannot read the task conf"),
    ],
)
def test_bad_options_are_one_line(tmp_path: Path, options, message):
    assert message in one_line_error(synthesize(tmp_path, *options, check=False))


def test_no_voice_of_a_class_gender_in_a_group(tmp_path: Path):
    def few_pool_voices(conf):
        conf["voice_groups"] = {"train": 66, "valid": 2, "pool": 1, "test": 1}

    conf = write_conf(tmp_path, few_pool_voices)
    line = one_line_error(synthesize(tmp_path, "--conf", str(conf), check=False))
    assert "voice_gender" in line and "group" in line
