"""units_to_wav on a small units file: wavs + wav.scp, durations, job split, bad inputs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import torch

from espnet2_speechprompt.bin import units_to_wav
from espnet2_speechprompt.bin.units_cli import run
from espnet2_speechprompt.vocoder import load_vocoder
from test.factories.vocoder import native_state, save_released, tiny_config

HOP = 6
UNITS = {"b": [0, 1, 1, 2, 6], "a": [3], "c": [5, 4, 3, 2, 1, 0, 6, 6, 2, 2, 1]}


@pytest.fixture
def vocoder_files(tmp_path) -> tuple[str, str]:
    cfg = tiny_config(dur=True)
    return save_released(tmp_path / "voc", native_state(cfg), cfg)


def _units_file(path, rows: dict) -> str:
    with open(path, "w") as f:
        f.writelines(" ".join([utt, *map(str, units)]) + "\n" for utt, units in rows.items())
    return os.fspath(path)


def _tool(units, ckpt, out, *extra) -> int:
    return run(
        units_to_wav.main, ["--units", units, "--checkpoint", ckpt, "--out-dir", out, *extra]
    )


def _scp(out, name="wav.scp") -> list[tuple[str, str]]:
    with open(os.path.join(out, name)) as f:
        return [tuple(line.split()) for line in f]


def _no_tmp(directory) -> bool:
    return not [n for _, _, files in os.walk(directory) for n in files if n.endswith(".tmp")]


def test_frames_to_wavs(vocoder_files, tmp_path):
    ckpt, config = vocoder_files
    units = _units_file(tmp_path / "units", UNITS)
    out = os.fspath(tmp_path / "out")
    argv = ["--config", config, "--no_dur_prediction", "--batch_size", "2", "--subtype", "FLOAT"]
    assert _tool(units, ckpt, out, *argv) == 0
    scp = _scp(out)
    assert [utt for utt, _ in scp] == ["b", "a", "c"]  # file order, whatever the batching
    vocoder = load_vocoder(ckpt, config)
    for utt, path in scp:
        wav, rate = soundfile.read(path, dtype="float32")
        assert rate == 16000 and wav.shape == (len(UNITS[utt]) * HOP,)
        expected = vocoder.synthesize([UNITS[utt]])[0].numpy()
        assert abs(wav - expected).max() < 1e-5, utt
    assert _no_tmp(out)


def test_predicted_and_given_durations(vocoder_files, tmp_path):
    ckpt, _ = vocoder_files  # config.json beside the checkpoint is the default
    units = _units_file(tmp_path / "units", UNITS)
    out, given = os.fspath(tmp_path / "pred"), os.fspath(tmp_path / "given")
    assert _tool(units, ckpt, out, "--batch-size", "3") == 0  # default: predicted durations
    vocoder = load_vocoder(ckpt)
    with torch.no_grad():
        durations = {
            utt: vocoder.dur_predictor.durations(vocoder.dict(torch.tensor([u])).transpose(1, 2))[0]
            for utt, u in UNITS.items()
        }
    pcm = {}
    for utt, path in _scp(out):
        pcm[utt], _ = soundfile.read(path, dtype="int16")
        assert len(pcm[utt]) == int(durations[utt].sum()) * HOP
    dur_file = _units_file(tmp_path / "durs", {u: d.tolist() for u, d in durations.items()})
    assert _tool(units, ckpt, given, "--durations", dur_file) == 0
    for utt, path in _scp(given):
        given_pcm = soundfile.read(path, dtype="int16")[0].astype(np.int32)
        assert np.abs(given_pcm - pcm[utt]).max() <= 1  # batched vs single: float rounding


def test_job_split_and_merge(vocoder_files, tmp_path):
    ckpt, _ = vocoder_files
    units = _units_file(tmp_path / "units", UNITS)
    single, split = os.fspath(tmp_path / "single"), os.fspath(tmp_path / "split")
    assert _tool(units, ckpt, single) == 0
    for job in (1, 2):
        assert _tool(units, ckpt, split, "--nj", "2", "--job", str(job)) == 0
    assert [len(_scp(split, f"wav.scp.{j}")) for j in (1, 2)] == [2, 1]
    assert run(units_to_wav.main, ["--out-dir", split, "--nj", "2", "--merge"]) == 0
    merged = _scp(split)
    assert [u for u, _ in merged] == [u for u, _ in _scp(single)]
    for (_, a), (_, b) in zip(_scp(single), merged, strict=True):
        assert (soundfile.read(a)[0] == soundfile.read(b)[0]).all()


def _bad_config(tmp_path, **change) -> str:
    cfg = {**tiny_config(dur=True), **change}
    path = tmp_path / "bad_config.json"
    path.write_text(json.dumps(cfg))
    return os.fspath(path)


@pytest.mark.parametrize(
    "case, message",
    [
        ("big_id", r"^error: utterance a: unit id 7 is outside this vocoder's 7 units \(0\.\.6\)"),
        ("negative", r"^error: utterance a: unit id -2 is outside"),
        ("empty", r"^error: utterance a: empty unit sequence$"),
        ("not_int", r"^error: .*units:2: utterance a: 'x9' is not an integer unit id$"),
        ("twice", r"^error: .*units:3: utterance b appears twice$"),
        ("slash", r"^error: utterance id 'd/e' cannot be used as a wav file name$"),
        (
            "shape",
            r"^error: .*g_00000100 does not match .*bad_config\.json: ups\.0\.weight_v has shape "
            r"\[16, 8, 4\] in the checkpoint but the config implies \[16, 8, 6\]$",
        ),
        ("no_ckpt", r"^error: .*nowhere\.pt: no such checkpoint file$"),
        ("junk_ckpt", r"^error: .*junk\.pt: not a readable PyTorch checkpoint"),
        ("no_config", r"^error: .*nowhere\.json: no such vocoder config file$"),
        ("no_units", r"^error: .*nowhere\.units: no such units file$"),
        ("durs", r"^error: utterance a: 1 durations for 2 units$"),
        ("no_dur", r"^error: .*this vocoder has no duration predictor"),
    ],
)
def test_bad_inputs_give_one_clear_line(vocoder_files, tmp_path, capsys, case, message):
    ckpt, config = vocoder_files
    rows = {"b": [1, 2], "a": [3, 4]}
    units_path = tmp_path / "units"
    extra: list[str] = []
    if case in ("big_id", "negative", "empty"):
        rows["a"] = {"big_id": [1, 7], "negative": [-2], "empty": []}[case]
    units = _units_file(units_path, rows)
    if case == "not_int":
        units_path.write_text("b 1 2\na 3 x9\n")
    if case == "twice":
        units_path.write_text("b 1 2\na 3\nb 4\n")
    if case == "slash":
        units = _units_file(units_path, {"a": [1], "d/e": [2]})
    if case == "shape":
        extra = ["--config", _bad_config(tmp_path, upsample_kernel_sizes=[6, 5])]
    if case == "no_ckpt":
        ckpt = os.fspath(tmp_path / "nowhere.pt")
    if case == "junk_ckpt":
        ckpt = os.fspath(tmp_path / "junk.pt")
        (tmp_path / "junk.pt").write_bytes(b"\x80\x02junk" * 10)
    if case == "no_config":
        extra = ["--config", os.fspath(tmp_path / "nowhere.json")]
    if case == "no_units":
        units = os.fspath(tmp_path / "nowhere.units")
    if case == "durs":
        extra = ["--durations", _units_file(tmp_path / "durs", {"b": [1, 1], "a": [2]})]
    if case == "no_dur":
        cfg = tiny_config(dur=False)
        ckpt, _ = save_released(tmp_path / "nodur", native_state(cfg), cfg)
        extra = ["--dur_prediction"]
    out = tmp_path / "out"
    capsys.readouterr()
    assert _tool(units, ckpt, os.fspath(out), *extra) == 1
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("error:")]
    assert len(errors) == 1 and re.search(message, errors[0]), err
    assert not any("Traceback" in line for line in err)
    assert not out.exists()  # nothing written: inputs are checked first


def test_module_entry_point(vocoder_files, tmp_path):
    ckpt, _ = vocoder_files
    units = _units_file(tmp_path / "units", {"u1": [1, 2], "u2": [3, 99]})
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "espnet2_speechprompt.bin.units_to_wav"]
    cmd = base + ["--units", units, "--checkpoint", ckpt, "--out-dir", os.fspath(tmp_path / "o")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith("error: utterance u2: unit id 99 is outside this vocoder's 7 units")
    )
    helped = subprocess.run(base + ["--help"], capture_output=True, text=True, timeout=120, env=env)
    assert helped.returncode == 0 and "CC BY-NC 4.0 (non-commercial" in helped.stdout
