"""egs2/TEMPLATE/speechprompt1: option parsing, job runner, list helpers, the stage script's
checks and logs, setup.sh, format_audio, and shellcheck over the recipe scripts. No training."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from espnet2_speechprompt.bin import format_audio

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "egs2" / "TEMPLATE" / "speechprompt1"
UTILS = TEMPLATE / "utils"


def bash(*args: str | os.PathLike, cwd: str | os.PathLike | None = None, timeout: int = 60):
    return subprocess.run(
        ["bash", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


# ---- utils/parse_options.sh -----------------------------------------------------------------


@pytest.fixture
def options_script(tmp_path: Path) -> Path:
    script = tmp_path / "opts.sh"
    script.write_text(
        "set -euo pipefail\n"
        "stage=1        # first stage\n"
        "stop_stage=100\n"
        "dedup=true\n"
        "train_args=\n"
        "option_names=(stage stop_stage dedup train_args)\n"
        f". {UTILS}/parse_options.sh\n"
        'echo "stage=$stage stop_stage=$stop_stage dedup=$dedup train_args=$train_args rest=$*"\n'
    )
    return script


def test_parse_options_both_spellings_and_positional(options_script):
    out = bash(options_script, "--stage", "3", "--stop-stage", "5", "--train_args", "--a 1", "x")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "stage=3 stop_stage=5 dedup=true train_args=--a 1 rest=x"
    out = bash(options_script, "--stop_stage=7", "--dedup", "false", "--", "--not-an-option")
    assert out.stdout.strip() == (
        "stage=1 stop_stage=7 dedup=false train_args= rest=--not-an-option"
    )


def test_parse_options_unknown_option_lists_options(options_script):
    out = bash(options_script, "--stagee", "3")
    assert out.returncode == 1 and out.stdout == ""
    assert "unknown option --stagee" in out.stderr
    for name in ("--stage", "--stop_stage", "--dedup", "--train_args"):
        assert name in out.stderr


def test_parse_options_checks_values(options_script):
    out = bash(options_script, "--dedup", "yes")
    assert out.returncode == 1 and "--dedup must be true or false" in out.stderr
    out = bash(options_script, "--stage")
    assert out.returncode == 1 and "needs a value" in out.stderr


def test_parse_options_help_prints_values_and_notes(options_script):
    out = bash(options_script, "--stage", "4", "--help")
    assert out.returncode == 0
    stage_line = next(line for line in out.stdout.splitlines() if "--stage " in line)
    assert "'4'" in stage_line and "first stage" in stage_line
    assert "--train_args" in out.stdout and "rest=" not in out.stdout


def test_parse_options_default_names_are_unexported_lowercase_variables(tmp_path):
    script = tmp_path / "plain.sh"
    script.write_text(f"nj=4\n. {UTILS}/parse_options.sh\necho nj=$nj\n")
    env = {**os.environ, "some_exported": "1"}
    out = subprocess.run(["bash", script, "--help"], capture_output=True, text=True, env=env)
    assert "--nj" in out.stdout and "some_exported" not in out.stdout
    out = subprocess.run(["bash", script, "--some-exported", "2"], capture_output=True, text=True)
    assert out.returncode == 1 and "unknown option" in out.stderr


# ---- utils/run_jobs.sh ----------------------------------------------------------------------


def test_run_jobs_substitutes_job_and_runs_in_parallel(tmp_path):
    start = time.monotonic()
    out = bash(
        UTILS / "run_jobs.sh", "JOB=1:3", tmp_path / "log/x.JOB.log",
        "bash", "-c", f"sleep 1; echo out JOB > {tmp_path}/out.JOB",
    )  # fmt: skip
    elapsed = time.monotonic() - start
    assert out.returncode == 0, out.stderr
    assert elapsed < 2.5, f"3 jobs of 1 s took {elapsed:.1f} s: not parallel"
    for job in (1, 2, 3):
        assert (tmp_path / f"out.{job}").read_text() == f"out {job}\n"
        log = (tmp_path / f"log/x.{job}.log").read_text()
        assert f"out.{job}" in log and "with status 0" in log


def test_run_jobs_failure_shows_the_log_tail(tmp_path):
    out = bash(
        UTILS / "run_jobs.sh", "JOB=1:3", tmp_path / "y.JOB.log",
        "bash", "-c", "if [ JOB = 2 ]; then echo boom-JOB; exit 3; fi; echo fine",
    )  # fmt: skip
    assert out.returncode == 1
    assert "job 2 of 1:3 failed (status 3)" in out.stderr and "boom-2" in out.stderr
    assert "1 of 3 jobs failed" in out.stderr
    assert "fine" in (tmp_path / "y.3.log").read_text()


def test_run_jobs_limits_and_single_job(tmp_path):
    out = bash(UTILS / "run_jobs.sh", "JOB=1:2", tmp_path / "one.log", "true")
    assert out.returncode == 2 and "must contain JOB" in out.stderr
    out = bash(UTILS / "run_jobs.sh", tmp_path / "single.log", "echo", "a b")
    assert out.returncode == 0 and "a b\n" in (tmp_path / "single.log").read_text()
    start = time.monotonic()
    out = bash(
        UTILS / "run_jobs.sh", "--max-parallel", "1", "JOB=1:2", tmp_path / "s.JOB", "sleep", "0.6"
    )
    assert out.returncode == 0 and time.monotonic() - start >= 1.2


def test_run_jobs_resume_redoes_only_missing_failed_or_outdated_jobs(tmp_path):
    (tmp_path / "in.txt").write_text("a\n")
    args = [
        UTILS / "run_jobs.sh", "--inputs", tmp_path / "in.txt", "--outputs", tmp_path / "o.JOB",
        "JOB=1:3", tmp_path / "r.JOB.log",
        "bash", "-c", f"[ -e {tmp_path}/fail.JOB ] && exit 4; date +%s%N > {tmp_path}/o.JOB",
    ]  # fmt: skip
    (tmp_path / "fail.3").touch()
    assert bash(*args).returncode == 1  # job 3 failed
    first = {j: (tmp_path / f"o.{j}").read_text() for j in (1, 2)}
    (tmp_path / "fail.3").unlink()
    (tmp_path / "o.2").unlink()
    out = bash(*args)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "o.1").read_text() == first[1]  # up to date: not run again
    assert "r.1.log: up to date" in out.stderr and "r.2.log" not in out.stderr
    assert (tmp_path / "o.3").exists() and (tmp_path / "o.2").read_text() != first[2]
    (tmp_path / "in.txt").write_text("b\n")  # another input: every job again
    out = bash(*args)
    assert out.returncode == 0 and "up to date" not in out.stderr
    assert (tmp_path / "o.1").read_text() != first[1]


def test_slurm_backend_without_slurm_is_one_line(tmp_path):
    tools = tmp_path / "bin"  # a PATH with what the script needs before it looks for sbatch
    tools.mkdir()
    (tools / "dirname").symlink_to(shutil.which("dirname"))
    out = subprocess.run(
        [shutil.which("bash"), UTILS / "slurm_jobs.sh", "JOB=1:2", "x.JOB.log", "true"],
        capture_output=True, text=True, cwd=tmp_path, env={"PATH": str(tools)},
    )  # fmt: skip
    assert out.returncode == 2
    assert (
        out.stderr == "slurm_jobs.sh: error: sbatch not found: this backend needs a Slurm client\n"
    )


def test_multi_node_training_needs_the_slurm_backend(recipe):
    out = bash(
        "./speechprompt.sh", "--train_set", "train", "--valid_set", "valid", "--num_nodes", "2",
        cwd=recipe,
    )  # fmt: skip
    assert out.returncode == 1
    assert out.stderr.strip() == (
        "error: --num_nodes 2 needs a cluster backend: set cmd_backend=slurm (cmd.sh)"
    )


# ---- utils/split_scp.sh, utils/filter_scp.sh ------------------------------------------------


def test_split_scp_contiguous_parts(tmp_path):
    src = tmp_path / "units"
    src.write_text("a 1\nb 2\n\nc 3\nd 4\ne 5\n")
    parts = [tmp_path / "split" / f"units.{j}" for j in (1, 2, 3)]
    out = bash(UTILS / "split_scp.sh", src, *parts)
    assert out.returncode == 0, out.stderr
    assert [p.read_text() for p in parts] == ["a 1\nb 2\n", "c 3\nd 4\n", "e 5\n"]
    out = bash(UTILS / "split_scp.sh", src, *[tmp_path / f"p.{j}" for j in range(6)])
    assert out.returncode == 1 and "5 lines" in out.stderr


def test_filter_scp_keeps_listed_ids_in_order(tmp_path):
    (tmp_path / "in").write_text("a 1\nb 2\nc 3\nd 4\n")
    (tmp_path / "ids").write_text("d x\nb\n")
    out = bash(UTILS / "filter_scp.sh", tmp_path / "ids", tmp_path / "in")
    assert out.returncode == 0 and out.stdout == "b 2\nd 4\n"
    out = bash(UTILS / "filter_scp.sh", "--exclude", tmp_path / "ids", tmp_path / "in")
    assert out.stdout == "a 1\nc 3\n"


# ---- setup.sh and speechprompt.sh -----------------------------------------------------------


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    """A fresh recipe made by setup.sh."""
    out = bash(TEMPLATE / "setup.sh", tmp_path / "toy" / "speechprompt1")
    assert out.returncode == 0, out.stderr
    return tmp_path / "toy" / "speechprompt1"


def test_setup_makes_a_recipe(recipe):
    for name in ("speechprompt.sh", "icl.sh", "utils", "path.sh", "db.sh"):
        link = recipe / name
        assert link.is_symlink() and not os.path.isabs(os.readlink(link))
        assert link.resolve() == (TEMPLATE / name).resolve()
    assert (recipe / "cmd.sh").read_text() == (TEMPLATE / "cmd.sh").read_text()
    assert (recipe / "conf" / "train.yaml").is_file()
    assert os.access(recipe / "local" / "data.sh", os.X_OK)
    assert os.access(recipe / "run.sh", os.X_OK)
    again = bash(TEMPLATE / "setup.sh", recipe)
    assert again.returncode == 1 and "already a recipe" in again.stderr


def test_path_sh_environment(recipe):
    out = bash("-c", ". ./path.sh; echo $PYTHONPATH; echo $OMP_NUM_THREADS", cwd=recipe)
    pythonpath, threads = out.stdout.split()
    assert pythonpath.split(":")[0] == str(ROOT) and threads == "1"


def test_speechprompt_help_and_unknown_option(recipe):
    out = bash("./speechprompt.sh", "--help", cwd=recipe)
    assert out.returncode == 0
    for text in ("Stages", "--train_set", "--unit_feature", "'mfcc'", "--skip_upload"):
        assert text in out.stdout
    out = bash("./speechprompt.sh", "--train-set", "train", "--bogus", "1", cwd=recipe)
    assert out.returncode == 1
    assert "unknown option --bogus" in out.stderr and "--backbone_checkpoint" in out.stderr


def test_stage_before_its_inputs_says_which_stage_to_run(recipe):
    out = bash(
        "./speechprompt.sh", "--train_set", "train", "--valid_set", "valid",
        "--stage", "6", "--stop_stage", "6", "--speechprompt_config", "conf/train.yaml", cwd=recipe,
    )  # fmt: skip
    assert out.returncode == 1
    error = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert error == ["error: stage 6 needs dump/units/train/units: run --stage 3 first"]
    assert not (recipe / "exp" / "speechprompt_train").exists()


def test_stage_logs_its_commands_and_output(recipe):
    (recipe / "local" / "data.sh").write_text(
        "#!/usr/bin/env bash\necho preparing $*\nmkdir -p data/train\ntouch data/train/wav.scp\n"
    )
    args = ["./speechprompt.sh", "--train_set", "train", "--valid_set", "valid"]
    for _ in range(2):  # re-running a finished stage is safe
        out = bash(*args, "--stop_stage", "1", "--local_data_opts", "--x 1", cwd=recipe)
        assert out.returncode == 0, out.stderr
    cmd = (recipe / "exp/logs/stage1.cmd").read_text()
    assert "local/data.sh --x 1" in cmd and "--stage 1 --stop_stage 1" in cmd
    assert "preparing --x 1" in (recipe / "exp/logs/stage1.log").read_text()
    assert (recipe / "exp/logs/timings").read_text().startswith("1.data_preparation ")
    rerun = bash(recipe / "exp/logs/stage1.cmd", cwd="/")
    assert rerun.returncode == 0 and rerun.stdout == "preparing --x 1\n"
    out = bash(*args, "--stop_stage", "1", "--skip_data_prep", "true", cwd=recipe)
    assert out.returncode == 0 and "stage 1: skipped (--skip_data_prep true)" in out.stderr


def test_failing_stage_shows_its_log(recipe):
    (recipe / "local" / "data.sh").write_text("#!/usr/bin/env bash\necho no corpus >&2\nexit 4\n")
    out = bash("./speechprompt.sh", "--train_set", "a", "--valid_set", "b", cwd=recipe)
    assert out.returncode == 1
    assert "stage 1 failed running: local/data.sh" in out.stderr and "no corpus" in out.stderr


# ---- format_audio ---------------------------------------------------------------------------


@pytest.fixture
def audio_dir(tmp_path: Path) -> Path:
    """u1: 1 s stereo at 22050 Hz; u2: 0.5 s mono 16 kHz read through a pipe."""
    data = tmp_path / "data"
    data.mkdir()
    t = np.arange(22050) / 22050
    stereo = 0.5 * np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 220 * t)], axis=1)
    soundfile.write(tmp_path / "a.wav", stereo, 22050)
    soundfile.write(tmp_path / "b.wav", 0.3 * np.sin(np.arange(8000) / 5.0), 16000)
    (data / "wav.scp").write_text(f"u1 {tmp_path}/a.wav\nu2 cat {tmp_path}/b.wav |\n")
    (data / "label").write_text("u1 yes\nu2 no\n")
    (data / "utt2spk").write_text("u1 s1\nu2 s2\n")
    (data / "utt2num_samples").write_text("u1 22050\nu2 8000\n")  # the old rate: rewritten
    return data


def read_table(path: Path) -> dict[str, str]:
    return dict(line.split(maxsplit=1) for line in path.read_text().splitlines())


def test_format_audio_16k_mono(audio_dir, tmp_path):
    out = tmp_path / "raw"
    assert format_audio.main(["--data-dir", str(audio_dir), "--out-dir", str(out)]) == 0
    wavs = read_table(out / "wav.scp")
    nums = {utt: int(n) for utt, n in read_table(out / "utt2num_samples").items()}
    assert list(wavs) == ["u1", "u2"] and nums == {"u1": 16000, "u2": 8000}
    for utt, path in wavs.items():
        info = soundfile.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert info.frames == nums[utt]
    mono, _ = soundfile.read(wavs["u2"])
    np.testing.assert_allclose(mono, 0.3 * np.sin(np.arange(8000) / 5.0), atol=1e-4)
    assert (out / "label").read_text() == "u1 yes\nu2 no\n"
    assert (out / "utt2spk").read_text() == (audio_dir / "utt2spk").read_text()
    assert not list(out.rglob("*.tmp"))


def test_format_audio_jobs_then_merge(audio_dir, tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    format_audio.main(["--data-dir", str(audio_dir), "--out-dir", str(whole)])
    for job in ("1", "2"):
        args = ["--data-dir", str(audio_dir), "--out-dir", str(split), "--nj", "2", "--job", job]
        assert format_audio.main(args) == 0
    assert not (split / "wav.scp").exists()
    format_audio.main(
        ["--data-dir", str(audio_dir), "--out-dir", str(split), "--nj", "2", "--merge"]
    )
    assert (split / "utt2num_samples").read_text() == (whole / "utt2num_samples").read_text()
    assert list(read_table(split / "wav.scp")) == ["u1", "u2"]
    assert (split / "label").is_file()


def test_format_audio_bad_input_is_one_error_line(audio_dir, tmp_path, capsys):
    with open(audio_dir / "wav.scp", "a") as f:
        f.write("u3 /no/such.wav\n")
    with pytest.raises(SystemExit) as exc:
        format_audio.main(["--data-dir", str(audio_dir), "--out-dir", str(tmp_path / "x")])
    assert exc.value.code == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: utterance u3: audio file not found: /no/such.wav"
    )
    with pytest.raises(SystemExit):
        format_audio.main(["--data-dir", str(audio_dir), "--out-dir", "x", "--nj", "2"])
    assert "needs --job" in capsys.readouterr().err


# ---- shellcheck -----------------------------------------------------------------------------


def recipe_scripts() -> list[Path]:
    """Every *.sh under egs2, once (links to the template skipped), not in recipe outputs."""
    outputs = {"data", "dump", "exp", "downloads"}
    return sorted(
        path
        for path in (ROOT / "egs2").rglob("*.sh")
        if path.is_file()
        and not path.is_symlink()
        and not any(p.is_symlink() for p in path.parents)
        and not outputs & set(path.relative_to(ROOT).parts)
    )


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_shellcheck_recipe_scripts():
    scripts = recipe_scripts()
    assert TEMPLATE / "speechprompt.sh" in scripts and UTILS / "parse_options.sh" in scripts
    out = subprocess.run(
        ["shellcheck", "-x", *map(str, scripts)], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0, out.stdout + out.stderr
