"""The Slurm job backend (utils/slurm_jobs.sh) against a real one-node Slurm started here
(tools/slurm_local.sh: munged, slurmctld and slurmd on loopback, under tmp): array jobs, the
resource mapping of conf/slurm.conf, failures named with their logs, the mini recipe's stages
2-3 byte-identical to the local backend and resumable per job, and prompt training as one srun
step of two gloo processes equal to one local process."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from test.factories.recipes import copy_recipe

ROOT = Path(__file__).resolve().parents[2]
UTILS = ROOT / "egs2" / "TEMPLATE" / "speechprompt1" / "utils"
RECIPE = ROOT / "egs2" / "mini_speechcommands" / "speechprompt1"
SLURM_TOOLS = ("munged", "slurmctld", "slurmd", "sbatch", "srun", "squeue", "sinfo", "scancel")
MISSING = [tool for tool in SLURM_TOOLS if shutil.which(tool) is None]
pytestmark = pytest.mark.skipif(
    bool(MISSING),
    reason=f"Slurm is not installed ({', '.join(MISSING)} not found; "
    "tools/install_system_deps.sh --slurm installs Debian's slurm-wlm and munge)",
)


@pytest.fixture(scope="module")
def slurm(tmp_path_factory) -> dict[str, str]:
    """The environment of a private one-node cluster (SLURM_CONF), stopped afterwards."""
    root = tmp_path_factory.mktemp("slurm")
    tool = ROOT / "tools" / "slurm_local.sh"
    env = dict(os.environ, PYTHON=sys.executable)  # picks the free ports
    out = subprocess.run(
        ["bash", tool, "start", root], capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 0, f"the test cluster did not start: {out.stderr}"
    yield dict(os.environ, SLURM_CONF=str(root / "slurm.conf"))
    subprocess.run(["bash", tool, "stop", root], capture_output=True, timeout=120)


def jobs(env: dict[str, str], cwd: Path, *args) -> subprocess.CompletedProcess:
    cmd = ["bash", UTILS / "slurm_jobs.sh", *map(str, args)]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def slurm_job(env: dict[str, str], stderr: str) -> str:
    """``scontrol show job`` of the job that slurm_jobs.sh reported submitting."""
    job_id = re.search(r"Slurm job (\d+):", stderr).group(1)
    out = subprocess.run(
        ["scontrol", "show", "job", job_id], env=env, capture_output=True, text=True
    )
    return out.stdout


def test_array_job_runs_each_job_with_its_log_and_resources(slurm, tmp_path):
    out = jobs(
        slurm, tmp_path, "--mem", "100M", "JOB=1:3", "log/x.JOB.log",
        "bash", "-c", "echo out JOB > out.JOB; echo 'a b'",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    for job in (1, 2, 3):
        assert (tmp_path / f"out.{job}").read_text() == f"out {job}\n"
        log = (tmp_path / f"log/x.{job}.log").read_text().splitlines()
        assert log[0] == f"# bash -c 'echo out {job} > out.{job}; echo '\\''a b'\\'''"
        assert log[-2] == "a b" and log[-1].endswith(" with status 0")
    job = slurm_job(slurm, out.stderr)  # conf/slurm.conf: mem → --mem-per-cpu, gpu=0 → -p cpu
    assert "MinMemoryCPU=100M" in job and "Partition=cpu" in job and "JobName=x" in job


def test_failed_and_killed_jobs_are_named_with_their_logs(slurm, tmp_path):
    out = jobs(
        slurm, tmp_path, "JOB=1:3", "y.JOB.log",
        "bash", "-c", "if [ JOB = 2 ]; then echo boom-JOB; exit 3; fi",
    )  # fmt: skip
    assert out.returncode == 1
    assert "job 2 of 1:3 failed (status 3); last lines of y.2.log" in out.stderr
    assert "boom-2" in out.stderr and "1 of 3 jobs failed" in out.stderr
    # a job Slurm ends (here cancelled) has no exit status: its Slurm output is named
    out = jobs(slurm, tmp_path, "N=1:1", "k.N.log", "bash", "-c", "scancel $SLURM_JOB_ID; sleep 30")
    assert out.returncode == 1
    assert "job 1 of 1:1 failed (ended by Slurm, see ./q/k.1.out)" in out.stderr


def test_config_and_submission_errors_are_one_clear_message(slurm, tmp_path):
    conf = tmp_path / "bare.conf"
    conf.write_text("command sbatch --export=ALL\n")
    out = jobs(slurm, tmp_path, "--config", conf, "--mem", "1G", "z.log", "true")
    assert out.returncode == 2
    assert f"{conf} has no 'option mem=...' line for --mem 1G" in out.stderr
    conf.write_text("command sbatch --export=ALL -p no_such_partition\n")
    out = jobs(slurm, tmp_path, "--config", conf, "z.log", "true")
    assert out.returncode == 1 and "did not submit the jobs of z.log" in out.stderr
    assert "invalid partition" in out.stderr.lower()


def recipe_run(recipe: Path, env: dict[str, str], *args: str) -> None:
    cmd = [
        "bash", "speechprompt.sh", "--train_set", "train", "--valid_set", "valid",
        "--test_sets", "valid test", "--unit_feature", "mfcc", "--learn_kmeans", "true",
        "--n_clusters", "50", "--unit_lm_config", "conf/unit_lm_debug.yaml",
        "--speechprompt_config", "conf/train_debug.yaml", "--datadir", "data/debug",
        "--dumpdir", "dump/debug", "--expdir", "exp/debug", "--nj", "2",
        "--python", sys.executable, *args,
    ]  # fmt: skip
    out = subprocess.run(cmd, cwd=recipe, env=env, capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stderr[-3000:]


def tree(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` but job logs, by relative path."""
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and "log" not in p.relative_to(directory).parts
    }


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_recipe_through_slurm_matches_the_local_backend(slurm, tmp_path):
    local = copy_recipe(RECIPE, tmp_path / "local")
    cluster = copy_recipe(RECIPE, tmp_path / "slurm")
    env = dict(os.environ, cmd_backend="local")
    recipe_run(
        local,
        env,
        "--stage",
        "1",
        "--stop_stage",
        "5",
        "--local_data_opts",
        "--debug --data-dir data/debug --corpus-dir downloads/debug",
    )
    shutil.copytree(local / "data", cluster / "data")
    on_slurm = dict(slurm, cmd_backend="slurm")
    recipe_run(cluster, on_slurm, "--stage", "2", "--stop_stage", "3")
    units = tree(cluster / "dump" / "debug")
    assert units and units == {
        k: v for k, v in tree(local / "dump" / "debug").items() if k in units
    }
    assert "units/train/units.2" in units and "raw/train/wav.scp" in units
    log = (cluster / "dump/debug/units/train/log/dump_units.2.log").read_text()
    assert log.startswith("# ") and log.rstrip().endswith("with status 0")
    # resumable per job: only the missing part is made again
    (cluster / "dump/debug/units/test/units.2").unlink()
    first_log = (cluster / "dump/debug/units/test/log/dump_units.1.log").read_text()
    recipe_run(cluster, on_slurm, "--stage", "3", "--stop_stage", "3")
    assert (cluster / "dump/debug/units/test/log/dump_units.1.log").read_text() == first_log
    stage_log = (cluster / "exp/debug/logs/stage3.log").read_text()
    assert "1 of 2 jobs were up to date (not run again)" in stage_log
    assert tree(cluster / "dump" / "debug") == units
    check_training_on_two_slurm_tasks(local, cluster, env, on_slurm)


def check_training_on_two_slurm_tasks(local: Path, cluster: Path, env, on_slurm) -> None:
    """Stage 7 as one srun step of 2 gloo processes equals stage 7 on one local process."""
    shutil.copytree(local / "dump" / "debug", cluster / "dump" / "debug", dirs_exist_ok=True)
    shutil.copytree(local / "exp" / "debug" / "unit_lm", cluster / "exp" / "debug" / "unit_lm")
    short = (
        "--train_args",
        "--max_epoch 2 --keep_nbest_models 2 --backbone_precision float32",
        "--stage",
        "6",
        "--stop_stage",
        "7",
    )
    recipe_run(local, env, *short)
    recipe_run(cluster, on_slurm, *short, "--nproc_per_node", "2")
    exp = Path("exp/debug/speechprompt_train_debug")
    train_log = (cluster / exp / "logs" / "train.log").read_text()
    assert "srun" in train_log.splitlines()[0] and ":0/2]" in train_log
    for name in ("1epoch.pth", "2epoch.pth"):
        alone = torch.load(local / exp / name, weights_only=True)
        ranks = torch.load(cluster / exp / name, weights_only=True)
        assert alone.keys() == ranks.keys()
        for key in alone:
            torch.testing.assert_close(ranks[key], alone[key], atol=1e-5, rtol=1e-5)
