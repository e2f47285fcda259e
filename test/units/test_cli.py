"""learn_kmeans / dump_units on a generated data dir: outputs, job split, merge, errors."""

from __future__ import annotations

import os
import subprocess
import sys

import joblib
import kaldiio
import numpy as np
import pytest
import soundfile

from espnet2_speechprompt.bin import dump_units, learn_kmeans
from espnet2_speechprompt.bin.units_cli import run
from espnet2_speechprompt.units.datadir import job_slice, read_units
from espnet2_speechprompt.units.features import MfccReader
from espnet2_speechprompt.units.kmeans import KMeansQuantizer
from test.factories.audio import tone

KM_FAST = ["--n-init", "1", "--max-iter", "10", "--km-batch-size", "256"]


def _learn(data_dir, out, *extra) -> str:
    argv = ["--data-dir", data_dir, "--n-clusters", "4", "--out", out, *KM_FAST, *extra]
    assert run(learn_kmeans.main, argv) == 0
    return out


@pytest.fixture
def km_mfcc(data_dir, tmp_path) -> str:
    return _learn(data_dir, os.fspath(tmp_path / "km" / "km4.npy"))


def _dump(data_dir, km, out_dir, *extra) -> int:
    argv = ["--data-dir", data_dir, "--km", km, "--out-dir", out_dir, *extra]
    return run(dump_units.main, argv)


def test_learn_and_dump_mfcc_units(data_dir, km_mfcc, tmp_path):
    out = os.fspath(tmp_path / "dump")
    assert _dump(data_dir, km_mfcc, out, "--write-feats") == 0
    pairs = read_units(os.path.join(out, "units"))
    assert [utt for utt, _ in pairs] == [f"utt{i}" for i in range(6)]  # order and ids kept
    quantizer = KMeansQuantizer.from_file(km_mfcc)
    reader = MfccReader()
    feats = dict(kaldiio.load_scp(os.path.join(out, "feats.scp")))
    wav_dir = os.path.join(os.path.dirname(data_dir), "wavs")
    for utt, units in pairs:  # utt3 came through `cat ... |`
        expected = reader.one(soundfile.read(os.path.join(wav_dir, f"{utt}.wav"))[0])
        np.testing.assert_allclose(feats[utt], expected.numpy(), atol=1e-4)
        assert units == quantizer(expected).tolist()
        assert len(units) == expected.shape[0] and set(units) <= set(range(4))
    from_feats = _learn(
        data_dir,
        os.fspath(tmp_path / "km_feats.npy"),
        "--feats-scp",
        os.path.join(out, "feats.scp"),
    )  # same frames, same seed: same centres
    np.testing.assert_allclose(np.load(from_feats), np.load(km_mfcc), atol=1e-5)
    assert _dump(data_dir, km_mfcc, out, "--dedup") == 0
    for (_, full), (_, short) in zip(pairs, read_units(os.path.join(out, "units")), strict=True):
        assert short == [u for j, u in enumerate(full) if j == 0 or full[j - 1] != u]
    assert not [name for name in os.listdir(out) if name.endswith(".tmp")]


def test_mfcc_smoothing_and_trimming_options_reach_the_reader(data_dir, tmp_path):
    options = ["--smooth-frames", "3", "--trim-db", "20"]
    km = _learn(data_dir, os.fspath(tmp_path / "km.npy"), *options)
    out = os.fspath(tmp_path / "dump")
    assert _dump(data_dir, km, out, "--write-feats", *options) == 0
    quantizer, reader = KMeansQuantizer.from_file(km), MfccReader(smooth=3, trim_db=20)
    feats = dict(kaldiio.load_scp(os.path.join(out, "feats.scp")))
    wav_dir = os.path.join(os.path.dirname(data_dir), "wavs")
    for utt, units in read_units(os.path.join(out, "units")):
        wav = soundfile.read(os.path.join(wav_dir, f"{utt}.wav"))[0]
        expected, plain = reader.one(wav), MfccReader().one(wav)
        np.testing.assert_allclose(feats[utt], expected.numpy(), atol=1e-4)
        assert not np.allclose(feats[utt], plain.numpy(), atol=1e-2)  # smoothed
        assert units == quantizer(expected).tolist()


def test_job_split_and_merge_equal_a_single_run(data_dir, km_mfcc, tmp_path):
    single, split = os.fspath(tmp_path / "single"), os.fspath(tmp_path / "split")
    assert _dump(data_dir, km_mfcc, single, "--write-feats") == 0
    for job in (1, 2, 3, 4):
        assert _dump(data_dir, km_mfcc, split, "--nj", "4", "--job", str(job), "--write-feats") == 0
    assert [len(read_units(os.path.join(split, f"units.{j}"))) for j in (1, 2, 3, 4)] == [
        2,
        2,
        1,
        1,
    ]
    assert run(dump_units.main, ["--out-dir", split, "--nj", "4", "--merge"]) == 0
    with open(os.path.join(single, "units")) as a, open(os.path.join(split, "units")) as b:
        assert a.read() == b.read()
    merged = dict(kaldiio.load_scp(os.path.join(split, "feats.scp")))
    for utt, mat in kaldiio.load_scp(os.path.join(single, "feats.scp")).items():
        np.testing.assert_array_equal(merged[utt], mat)
    assert [job_slice(3, 5, j) for j in (1, 4)] == [slice(0, 1), slice(3, 3)]


def test_hubert_units_with_a_joblib_kmeans(data_dir, hubert_ckpt, tmp_path, capsys):
    hubert = ["--feature", "hubert", "--checkpoint", hubert_ckpt, "--layer", "2"]
    npy, binary = os.fspath(tmp_path / "km.npy"), os.fspath(tmp_path / "km.bin")
    _learn(data_dir, npy, *hubert, "--joblib-out", binary, "--portion", "0.5", "--batch-size", "2")
    assert joblib.load(binary).cluster_centers_.shape == (4, 16)
    out_a, out_b = os.fspath(tmp_path / "a"), os.fspath(tmp_path / "b")
    assert _dump(data_dir, npy, out_a, *hubert, "--dedup", "--batch-size", "4") == 0
    assert _dump(data_dir, binary, out_b, *hubert, "--dedup", "--batch-size", "1") == 0
    a, b = read_units(os.path.join(out_a, "units")), read_units(os.path.join(out_b, "units"))
    assert a == b and len(a) == 6


def _write(path, samples, rate=16000):
    soundfile.write(path, samples, rate, subtype="FLOAT")
    return path


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", r"error: utterance bad: audio file not found: .*nowhere\.wav"),
        ("corrupt", r"error: utterance bad: cannot read audio from .*corrupt\.wav \(corrupt"),
        ("nan", r"error: utterance bad: audio contains NaN or Inf samples"),
        ("short", r"error: utterance bad: audio too short \(300 samples at 16 kHz; .* 400\)"),
        ("pipe", r"error: utterance bad: command 'exit 3' failed with exit code 3"),
        (
            "dim",
            r"error: k-means dimension 5 \(.*km5\.npy\) does not match the feature dimension 39",
        ),
        ("layer", r"error: layer 9 is out of range: this HuBERT has 3 layers"),
    ],
)
def test_bad_inputs_give_one_clear_line(tmp_path, km_mfcc, hubert_ckpt, capsys, case, message):
    import re

    good = _write(tmp_path / "good.wav", tone(0.3, 300, 0))
    entry = {
        "missing": os.fspath(tmp_path / "nowhere.wav"),
        "corrupt": os.fspath(tmp_path / "corrupt.wav"),
        "nan": os.fspath(_write(tmp_path / "nan.wav", np.full(800, np.nan, np.float32))),
        "short": os.fspath(_write(tmp_path / "short.wav", tone(0.01875, 300, 0))),
        "pipe": "exit 3 |",
    }.get(case, os.fspath(good))
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 8)
    data = tmp_path / "bad_data"
    data.mkdir()
    (data / "wav.scp").write_text(f"good {good}\nbad {entry}\n")
    km = km_mfcc
    extra = []
    if case == "dim":
        km = os.fspath(tmp_path / "km5.npy")
        np.save(km, np.zeros((3, 5), np.float32))
    if case == "layer":
        extra = ["--feature", "hubert", "--checkpoint", hubert_ckpt, "--layer", "9"]
    out = tmp_path / "out"
    capsys.readouterr()
    assert _dump(os.fspath(data), km, os.fspath(out), *extra) == 1
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("error:")]
    assert len(errors) == 1 and re.search(message, errors[0]), err
    assert not any("Traceback" in line for line in err)
    assert not out.exists() or os.listdir(out) == []  # no half-written units, no .tmp


def test_module_entry_point_exit_code(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "wav.scp").write_text(f"u1 {tmp_path / 'missing.wav'}\n")
    km = tmp_path / "km.npy"
    np.save(km, np.zeros((2, 39), np.float32))
    cmd = [sys.executable, "-m", "espnet2_speechprompt.bin.dump_units", "--data-dir", data]
    cmd += ["--km", km, "--out-dir", tmp_path / "out"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: utterance u1: audio file not found: {tmp_path / 'missing.wav'}"
    )
    assert "Traceback" not in proc.stderr


def test_option_errors(data_dir, km_mfcc, tmp_path, capsys):
    out = os.fspath(tmp_path / "o")
    assert _dump(data_dir, km_mfcc, out, "--nj", "2") == 1
    assert _dump(data_dir, km_mfcc, out, "--nj", "2", "--job", "3") == 1
    assert run(dump_units.main, ["--out-dir", out, "--nj", "2", "--merge"]) == 1
    err = capsys.readouterr().err
    assert "--nj > 1 needs --job" in err and "--job must be in 1..2 (got 3)" in err
    assert "cannot merge: missing" in err
