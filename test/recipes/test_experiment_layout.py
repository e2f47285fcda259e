"""The stage script's experiment layout (ESPnet's conventions): one experiment dir per training
config (exp/speechprompt_<config name>, or --tag), decode dirs named after the inference config
and the model file, each set's decode complete or untouched (and locked while in use), the
pack named after both; RESULTS.md with the git commit; --inference_nj, --gpu_inference and
--skip_upload_hf."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("espnet2", reason="espnet (the task layer's dependency) is not installed")

from espnet2_speechprompt.fileio import directory_lock  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "egs2" / "TEMPLATE" / "speechprompt1"
DECODE = "decode_speechprompt_model_valid.acc.best"  # conf/decode.yaml, valid.acc.best.pth
TRAIN = {
    "verbalizer": "fixed", "verbalizer_conf": {"mode": "random"},
    "prompt_conf": {"input_length": 2, "deep_length": 2, "dropout": 0.0},
    "optim": "adam", "optim_conf": {"lr": 0.01}, "batch_type": "unsorted", "batch_size": 16,
    "max_epoch": 1, "num_workers": 0, "use_tensorboard": False, "use_matplotlib": False,
    "num_att_plot": 0, "keep_nbest_models": 1, "seed": 0,
}  # fmt: skip


def stages(recipe: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = ["bash", "./speechprompt.sh", "--python", sys.executable, "--train_set", "train",
           "--valid_set", "valid", "--kmeans", str(recipe / "km.npy"),
           "--backbone_checkpoint", str(recipe / "lm" / "checkpoint_best.pt"),
           "--inference_config", "conf/decode.yaml", "--nj", "1", *args]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=recipe, capture_output=True, text=True, timeout=900, env=env)


def errors(out: subprocess.CompletedProcess) -> list[str]:
    return [line for line in out.stderr.splitlines() if line.startswith("error:")]


def snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


@pytest.fixture(scope="module")
def recipe(unit_task_data: Path, tmp_path_factory) -> Path:
    """A recipe (setup.sh) with the tiny task's units, trained and decoded with conf/a.yaml
    through stages 4-10."""
    recipe = tmp_path_factory.mktemp("layout") / "speechprompt1"
    out = subprocess.run(["bash", str(TEMPLATE / "setup.sh"), str(recipe)], capture_output=True)
    assert out.returncode == 0, out.stderr
    for split in ("train", "valid"):
        (recipe / "dump" / "units" / split).mkdir(parents=True)
        for name in ("units", "label"):
            (recipe / "dump/units" / split / name).write_bytes(
                (unit_task_data / split / name).read_bytes()
            )
    os.symlink(unit_task_data / "lm", recipe / "lm")
    np.save(recipe / "km.npy", np.zeros((24, 39), dtype=np.float32))
    (recipe / "conf" / "a.yaml").write_text(yaml.safe_dump(TRAIN))
    (recipe / "conf" / "b.yaml").write_text(yaml.safe_dump({**TRAIN, "verbalizer": "learnable"}))
    out = stages(recipe, "--stage", "4", "--stop_stage", "10", "--nj", "2",
                 "--speechprompt_config", "conf/a.yaml")  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return recipe


def test_experiment_and_decode_dirs_are_named_as_espnet_names_them(recipe):
    exp = recipe / "exp" / "speechprompt_a"
    assert sorted(p.name for p in (recipe / "exp").iterdir()) == ["logs", "speechprompt_a"]
    assert (recipe / "exp" / "logs" / "stage4.cmd").is_file()  # stages 1-5: shared logs
    for name in ("config.yaml", "valid.acc.best.pth", "stats/train/units_shape", "RESULTS.md",
                 f"{DECODE}/valid/result.json", "speechprompt_a_valid.acc.best.zip",
                 "logs/stage6.cmd", "logs/stage10.cmd", "logs/timings"):  # fmt: skip
        assert (exp / name).exists(), name
    assert sorted(p.name for p in (exp / DECODE / "valid").iterdir()) == [
        "log", "result.json", "score", "text", "token",
    ]  # fmt: skip
    assert not list((exp / DECODE).glob(".*"))  # no work dir left
    results = (exp / "RESULTS.md").read_text()
    assert f"|{DECODE}/valid|48|" in results
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip()  # fmt: skip
    if head:
        assert f"- Git hash: `{head}" in results and "  - Commit date: `" in results


def test_another_config_gets_its_own_dir_and_a_tag_clash_is_refused(recipe):
    exp = recipe / "exp" / "speechprompt_a"
    before = snapshot(exp)
    out = stages(recipe, "--stage", "7", "--stop_stage", "7", "--speechprompt_config",
                 "conf/b.yaml", "--tag", "a")  # fmt: skip
    assert out.returncode == 1
    error = next(line.strip() for line in out.stderr.splitlines() if "holds an" in line)
    assert (
        error.startswith(  # the training's own error, at the end of the stage's log
            "error: exp/speechprompt_a holds an experiment of another config (conf/a.yaml; this "
            "run: conf/b.yaml): verbalizer: 'fixed' -> 'learnable'"
        )
        and "--tag" in error
    ), out.stderr
    after = snapshot(exp)
    assert {k: v for k, v in after.items() if not k.startswith("logs/")} == {
        k: v for k, v in before.items() if not k.startswith("logs/")
    }
    out = stages(recipe, "--stage", "6", "--stop_stage", "6", "--speechprompt_config",
                 "conf/b.yaml")  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert (recipe / "exp" / "speechprompt_b" / "stats" / "config.yaml").is_file()
    out = stages(recipe, "--stage", "8", "--stop_stage", "8")
    assert errors(out) == [
        "error: stage 8 needs --speechprompt_config <yaml> (its experiment is "
        "exp/speechprompt_<config name>) or --tag <name>"
    ]


def test_two_models_decode_side_by_side(recipe):
    exp = recipe / "exp" / "speechprompt_a"
    best = snapshot(exp / DECODE)
    out = stages(recipe, "--stage", "8", "--stop_stage", "9", "--speechprompt_config",
                 "conf/a.yaml", "--inference_model", "1epoch.pth")  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert (exp / "decode_speechprompt_model_1epoch" / "valid" / "result.json").is_file()
    assert {k: v for k, v in snapshot(exp / DECODE).items() if not k.startswith("valid/log")} == {
        k: v for k, v in best.items() if not k.startswith("valid/log")
    }
    results = (exp / "RESULTS.md").read_text()  # this decode first, then the other one
    assert results.index("|decode_speechprompt_model_1epoch/valid|48|") < results.index(
        f"|{DECODE}/valid|48|"
    )


def test_a_failed_decode_leaves_the_earlier_one_and_a_busy_one_refuses(recipe):
    exp = recipe / "exp" / "speechprompt_a"
    decode = exp / DECODE / "valid"
    before = snapshot(decode)
    common = ["--stage", "8", "--stop_stage", "8", "--speechprompt_config", "conf/a.yaml"]
    out = stages(recipe, *common, "--inference_tag", DECODE, "--inference_args", "--decoding no")
    assert out.returncode == 1 and "stage 8 failed" in out.stderr
    assert snapshot(decode) == before
    work = exp / DECODE / ".valid.work"  # the failed run's jobs, for the next run to resume
    assert list(work.glob("log/inference.*.log"))
    with directory_lock(decode):
        out = stages(recipe, *common)
    assert errors(out) == [
        f"error: {decode.relative_to(recipe)} is in use by another run (lock "
        f"{decode.relative_to(recipe)}.lock): wait for it to finish or decode into another "
        "--inference_tag"
    ]
    assert snapshot(decode) == before
    # jobs: --inference_nj (not --nj); device: --gpu_inference (not --ngpu)
    out = stages(recipe, *common, "--nj", "1", "--inference_nj", "2", "--ngpu", "1")
    assert out.returncode == 0, out.stderr[-3000:]
    assert sorted(p.name for p in (decode / "log").glob("inference.*.log")) == [
        f"inference.{job}.log" for job in (1, 2)
    ]
    assert not work.exists()  # the work dir became the decode
    assert "--device cuda" not in (exp / "logs" / "stage8.cmd").read_text()
    stages(recipe, *common, "--gpu_inference", "true")  # fails where there is no GPU
    assert "--device cuda" in (exp / "logs" / "stage8.cmd").read_text()


def test_skip_upload_hf(recipe):
    common = ["--stage", "11", "--speechprompt_config", "conf/a.yaml", "--hf_repo", "u/x"]
    out = stages(recipe, *common, "--skip_upload_hf", "true")
    assert out.returncode == 0 and "stage 11: skipped (--skip_upload_hf true)" in out.stderr
    out = stages(recipe, *common, "--inference_model", "none.pth")
    assert errors(out) == [
        "error: stage 11 needs exp/speechprompt_a/speechprompt_a_none.zip: run --stage 10 first"
    ]
