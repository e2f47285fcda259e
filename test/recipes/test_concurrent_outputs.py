"""Two runs writing the same outputs at the same time do not share a temporary name: two
format_audio runs into one directory, and the stage script's files written through a temporary
name (run_to, the stage timings)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import soundfile

from espnet2_speechprompt.bin import format_audio

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "egs2" / "TEMPLATE" / "speechprompt1"


def make_data_dir(root: Path, count: int = 4) -> Path:
    data = root / "data"
    data.mkdir(parents=True)
    lines = []
    for i in range(count):
        soundfile.write(root / f"u{i}.wav", 0.1 * np.sin(np.arange(800 * (i + 1)) / 7.0), 8000)
        lines.append(f"u{i} {root / f'u{i}.wav'}\n")
    (data / "wav.scp").write_text("".join(lines))
    (data / "label").write_text("".join(f"u{i} yes\n" for i in range(count)))
    return data


def test_two_format_audio_runs_into_one_directory(tmp_path, monkeypatch):
    """The second run starts and finishes while the first is writing its first wav (and holds
    its wav.scp open): both complete, and the outputs are whole."""
    data, out = make_data_dir(tmp_path), tmp_path / "raw"
    args = ["--data-dir", str(data), "--out-dir", str(out)]
    write_wav = format_audio.write_wav
    second_run: list[int] = []

    def write_wav_meanwhile(*a, **kw):
        if not second_run:
            second_run.append(-1)  # started
            second_run[0] = format_audio.main(args)
        return write_wav(*a, **kw)

    monkeypatch.setattr(format_audio, "write_wav", write_wav_meanwhile)
    assert format_audio.main(args) == 0 and second_run == [0]
    scp = (out / "wav.scp").read_text().splitlines()
    assert [line.split()[0] for line in scp] == ["u0", "u1", "u2", "u3"]
    for line in scp:
        assert soundfile.info(line.split()[1]).frames == 1600 * (int(line[1]) + 1)
    assert (out / "utt2num_samples").read_text().splitlines() == [
        f"u{i} {1600 * (i + 1)}" for i in range(4)
    ]
    assert sorted(p.name for p in out.iterdir()) == ["label", "utt2num_samples", "wav", "wav.scp"]


def bash(script: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True)


def test_run_to_writes_through_a_name_of_its_own(tmp_path):
    """Another process's temporary file at the old fixed name (here a directory) is left alone."""
    (tmp_path / "out.tmp").mkdir()
    script = (
        "set -euo pipefail; current=8 logs=logs; orig_args=(); mkdir -p logs\n"
        'log() { :; }; die() { echo "error: $*" >&2; exit 1; }\n'
        f". {TEMPLATE / 'utils' / 'stage_lib.sh'}\n"
        "begin test; run_to out echo complete\n"
    )
    out = bash(script, tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "out").read_text() == "complete\n" and (tmp_path / "out.tmp").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs", "out", "out.tmp"]


def test_stage_timings_written_through_a_name_of_their_own(tmp_path):
    recipe = tmp_path / "toy" / "speechprompt1"
    assert subprocess.run(["bash", str(TEMPLATE / "setup.sh"), str(recipe)]).returncode == 0
    (recipe / "local" / "data.sh").write_text("#!/usr/bin/env bash\necho prepared\n")
    (recipe / "exp" / "logs" / "timings.tmp").mkdir(parents=True)  # another run's
    out = bash("./speechprompt.sh --train_set a --valid_set b --stop_stage 1", recipe)
    assert out.returncode == 0, out.stderr
    assert (recipe / "exp" / "logs" / "timings").read_text().startswith("1.data_preparation ")
    assert not list((recipe / "exp" / "logs").glob(".timings*"))
