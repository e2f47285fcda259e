"""The mini in-context-learning recipe end to end (local/run_debug.sh: every stage of icl.sh
for real on the small synthesized corpus, in a copy of the recipe under tmp), and icl.sh's
option checks. The debug run's numbers are not checked (a tiny LM, one short epoch): the
table, the experiment layout, the package and the stage logs are."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from test.factories.recipes import copy_recipe

RECIPE = Path(__file__).resolve().parents[2] / "egs2" / "mini_icl" / "speechprompt1"
TEST_TASKS = ["background_noise", "commands_ar", "commands_fr", "commands_lt", "voice_gender"]
SEEN_TASKS = ["commands_en", "speaking_rate"]


def icl_sh(recipe: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "./icl.sh", "--python", sys.executable, *args],
        cwd=recipe, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def error_lines(out: subprocess.CompletedProcess) -> list[str]:
    return [line for line in out.stderr.splitlines() if line.startswith("error:")]


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    return copy_recipe(RECIPE, tmp_path / "speechprompt1")


def test_help_lists_the_stages_and_options(recipe):
    out = icl_sh(recipe, "--help")
    assert out.returncode == 0
    for text in ("warm-up episodes", "--train_tasks", "--seen_tasks", "--num_demos", "--seeds"):
        assert text in out.stdout


def test_task_lists_are_checked(recipe):
    data = recipe / "data"
    data.mkdir()
    (data / "train_tasks").write_text("a\nb\n")
    (data / "test_tasks").write_text("c\n")
    out = icl_sh(recipe, "--stage", "2", "--stop_stage", "2", "--seen_tasks", "c")
    assert out.returncode == 1
    assert error_lines(out) == ["error: --seen_tasks c is not a training task (a b)"]
    out = icl_sh(recipe, "--stage", "2", "--test_tasks", "b c")
    assert error_lines(out) == [
        "error: task b is both a training and a test task: warm-up must not see test tasks"
    ]
    out = icl_sh(recipe, "--stage", "2")
    assert error_lines(out) == ["error: stage 2 needs data/a_train/wav.scp: run --stage 1 first"]
    (data / "tasks").write_text("a commands en\nb commands de\nc gender en\n")
    out = icl_sh(recipe, "--stage", "2", "--test_tasks", "d")
    assert error_lines(out) == ["error: unknown task 'd': data/tasks lists a b c"]
    out = icl_sh(recipe, "--stage", "6", "--icl_config", "conf/train_icl.yaml")
    assert error_lines(out) == [
        "error: stage 6 needs dump/icl_episodes/episodes.yaml: run --stage 5 first"
    ]
    assert not (recipe / "exp" / "speechprompt_train_icl").exists()


@pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (tools/install_system_deps.sh; the corpus is synthesized)",
)
def test_debug_run_writes_the_table_the_experiment_and_the_package(tmp_path: Path):
    recipe = copy_recipe(RECIPE, tmp_path / "speechprompt1")
    out = subprocess.run(
        ["bash", "local/run_debug.sh", "--nj", "2", "--python", sys.executable],
        cwd=recipe, env=dict(os.environ), capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    expdir = recipe / "exp" / "debug"
    exp = expdir / "speechprompt_train_icl"  # conf/train_icl.yaml
    results = (exp / "RESULTS.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in results.splitlines() if "|" in line}
    for task in TEST_TASKS:
        assert f"| {task} | unseen |" in rows[task]
        assert (exp / "icl_valid.loss.best" / task / "seed1" / "text").is_file()
    for task in SEEN_TASKS:
        assert f"| {task} | seen |" in rows[task]
    assert "mean (5 tasks)" in rows and "- Git hash: `" in results
    for lm in ("unit_lm_repeats", "unit_lm"):  # stage 4's two parts
        assert (expdir / lm / "checkpoint_best.pt").is_file(), lm
    with zipfile.ZipFile(exp / "speechprompt_train_icl_valid.loss.best.zip") as packed:
        names = set(packed.namelist())
        config = yaml.safe_load(packed.read("config.yaml"))
    assert {"config.yaml", "speechprompt.safetensors", "kmeans/km.npy", "RESULTS.md"} <= names
    extractor = config["unit_extractor_conf"]  # the units of the package's speech input
    assert (extractor["feature"], extractor["smooth"], extractor["trim_db"]) == ("mfcc", 5, 25)
    for stage in range(1, 9):
        logs = expdir / "logs" if stage <= 5 else exp / "logs"
        assert (logs / f"stage{stage}.cmd").is_file(), stage
