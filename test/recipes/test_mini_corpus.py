"""The mini recipe's corpus: local/synthesize.py on a tiny setting (espeak-ng, a few seconds)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile

RECIPE = Path(__file__).resolve().parents[2] / "egs2" / "mini_speechcommands" / "speechprompt1"
SYNTHESIZE = RECIPE / "local" / "synthesize.py"
SPLITS = ("train", "valid", "test")
TINY = ["--num-keywords", "2", "--num-voices", "3", "--speeds", "175", "--pitches", "50"]

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng, or tools/install_system_deps.sh)",
)


def synthesize(tmp: Path, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(SYNTHESIZE), "--corpus-dir", str(tmp / "corpus")]
    cmd += ["--data-dir", str(tmp / "data"), *TINY, *extra]
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


def read_table(path: Path) -> list[tuple[str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        key, value = line.split(maxsplit=1)
        rows.append((key, value))
    return rows


def digest(data: Path) -> dict[str, str]:
    out = {}
    for split in SPLITS:
        for utt, path in read_table(data / split / "wav.scp"):
            out[utt] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    tmp = tmp_path_factory.mktemp("mini")
    synthesize(tmp, "--nj", "2")
    return tmp


@needs_espeak
def test_data_dirs(corpus: Path):
    data = corpus / "data"
    keywords = (data / "keywords.txt").read_text().split()
    assert keywords == ["yes", "no"]
    speakers_of = {}
    for split in SPLITS:
        d = data / split
        scp = read_table(d / "wav.scp")
        utts = [u for u, _ in scp]
        assert utts and utts == sorted(utts), f"{split}: ids not sorted"
        assert len(set(utts)) == len(utts)
        for name in ("text", "label", "utt2spk", "utt2num_samples"):
            assert [u for u, _ in read_table(d / name)] == utts, f"{split}/{name}"
        labels = dict(read_table(d / "label"))
        assert dict(read_table(d / "text")) == labels
        assert set(labels.values()) == set(keywords)
        utt2spk = dict(read_table(d / "utt2spk"))
        for utt, path in scp:
            assert os.path.isabs(path) and os.path.isfile(path), path
            info = soundfile.info(path)
            assert (info.samplerate, info.channels) == (16000, 1)
            assert info.frames == int(dict(read_table(d / "utt2num_samples"))[utt])
            assert info.frames > 1600  # more than 0.1 s of speech
            assert utt.startswith(utt2spk[utt] + "-"), "utterance ids start with the speaker"
            assert f"-{labels[utt]}-" in utt
        spk2utt = {s: us.split() for s, us in read_table(d / "spk2utt")}
        assert list(spk2utt) == sorted(spk2utt)
        assert sorted(u for us in spk2utt.values() for u in us) == utts
        assert all(utt2spk[u] == s for s, us in spk2utt.items() for u in us)
        speakers_of[split] = set(spk2utt)
        assert len(utts) == 2 * len(spk2utt)  # 2 keywords x 1 speed x 1 pitch per voice
    assert all(speakers_of.values())
    assert not speakers_of["train"] & speakers_of["valid"]
    assert not speakers_of["train"] & speakers_of["test"]
    assert not speakers_of["valid"] & speakers_of["test"]


@needs_espeak
def test_noise_is_added(corpus: Path):
    import numpy as np

    path = read_table(corpus / "data" / "train" / "wav.scp")[0][1]
    samples, _ = soundfile.read(path)
    assert np.abs(samples).max() <= 1.0
    edge = samples[:160]  # the first 10 ms: silence of espeak-ng + noise
    assert np.std(edge) > 0


@needs_espeak
def test_check_and_idempotent(corpus: Path):
    assert synthesize(corpus, "--check", check=False).returncode == 0
    assert synthesize(corpus, "--check", "--seed", "1", check=False).returncode == 1
    before = {p: p.stat().st_mtime_ns for p in (corpus / "corpus" / "wav").rglob("*.wav")}
    synthesize(corpus)  # complete: existing files are kept
    after = {p: p.stat().st_mtime_ns for p in (corpus / "corpus" / "wav").rglob("*.wav")}
    assert before == after


@needs_espeak
def test_deterministic_whatever_nj(corpus: Path, tmp_path: Path):
    synthesize(tmp_path, "--nj", "1")
    assert digest(tmp_path / "data") == digest(corpus / "data")


def test_needs_three_voices(tmp_path: Path):
    result = synthesize(tmp_path, "--num-voices", "2", check=False)
    assert result.returncode != 0
    assert "at least 3 voices" in result.stderr
