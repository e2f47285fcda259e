"""One experiment per output directory: training refuses a directory trained with another
config before rewriting anything in it, and resumes one with the same config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("espnet2", reason="espnet (the task layer's dependency) is not installed")

from espnet2_speechprompt.tasks.experiment import ExperimentMismatchError  # noqa: E402
from espnet2_speechprompt.tasks.speechprompt import SpeechPromptTask  # noqa: E402
from test.factories.task_data import data_args  # noqa: E402

LEARNABLE = {
    "verbalizer": "learnable", "verbalizer_conf": {"mode": "frequency"},
    "prompt_conf": {"input_length": 2, "deep_length": 2, "dropout": 0.0},
    "optim": "adam", "optim_conf": {"lr": 0.01}, "batch_type": "unsorted", "batch_size": 16,
    "max_epoch": 2, "num_workers": 0, "use_tensorboard": False, "num_att_plot": 0,
}  # fmt: skip


def write_config(path: Path, **changes) -> Path:
    path.write_text(yaml.safe_dump({**LEARNABLE, **changes}))
    return path


def train_args(data: Path, config: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--config", str(config), "--output_dir", str(out),
        "--backbone_conf", f"checkpoint={data / 'lm' / 'checkpoint_best.pt'}",
        "--label_list", str(data / "label_list"), "--dry_run", "true", *data_args(data), *extra,
    ]  # fmt: skip


@pytest.fixture
def experiment(unit_task_data, tmp_path) -> Path:
    """A directory holding a run of conf/learnable.yaml (its config.yaml, resolved)."""
    config = write_config(tmp_path / "learnable.yaml")
    SpeechPromptTask.main(cmd=train_args(unit_task_data, config, tmp_path / "exp"))
    return tmp_path / "exp"


def test_another_config_is_refused_before_anything_is_rewritten(unit_task_data, experiment):
    saved = (experiment / "config.yaml").read_bytes()
    other = write_config(experiment.parent / "fixed.yaml", verbalizer="fixed")
    with pytest.raises(ExperimentMismatchError) as error:
        SpeechPromptTask.main(cmd=train_args(unit_task_data, other, experiment))
    message = str(error.value)
    assert "learnable.yaml" in message and "fixed.yaml" in message and "--tag" in message
    assert "verbalizer: 'learnable' -> 'fixed'" in message
    assert (experiment / "config.yaml").read_bytes() == saved
    # other prompts, optimizer or training data: another experiment too
    for changes, text in (
        ({"prompt_conf": {"input_length": 3, "deep_length": 2}}, "prompt_conf.input_length"),
        ({"optim_conf": {"lr": 0.1}}, "optim_conf.lr: 0.01 -> 0.1"),
    ):
        config = write_config(experiment.parent / "changed.yaml", **changes)
        with pytest.raises(ExperimentMismatchError, match=text):
            SpeechPromptTask.main(cmd=train_args(unit_task_data, config, experiment))
    args = train_args(unit_task_data, experiment.parent / "learnable.yaml", experiment)
    args[args.index(f"{unit_task_data / 'train' / 'label'},label,text")] = (
        f"{unit_task_data / 'valid' / 'label'},label,text"
    )
    with pytest.raises(ExperimentMismatchError, match="train_data_path_and_name_and_type"):
        SpeechPromptTask.main(cmd=args)
    assert (experiment / "config.yaml").read_bytes() == saved


def test_the_same_experiment_resumes_with_other_run_settings(unit_task_data, experiment):
    """Epochs, workers, batch size may change; a copy of the label list is the same list."""
    copy = experiment.parent / "labels_copy"
    copy.write_text((unit_task_data / "label_list").read_text())
    config = write_config(experiment.parent / "more_epochs.yaml", max_epoch=9, batch_size=8)
    args = train_args(unit_task_data, config, experiment, "--num_workers", "0")
    args[args.index("--label_list") + 1] = str(copy)
    SpeechPromptTask.main(cmd=args)
    assert yaml.safe_load((experiment / "config.yaml").read_text())["max_epoch"] == 9


def test_the_entry_point_says_it_in_one_line(unit_task_data, experiment):
    other = write_config(experiment.parent / "fixed.yaml", verbalizer="fixed")
    cmd = [sys.executable, "-m", "espnet2_speechprompt.bin.speechprompt_train",
           *train_args(unit_task_data, other, experiment)]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {experiment} holds an experiment of another config")
