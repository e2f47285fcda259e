"""speechprompt_inference's output directory: written as a whole (a failed re-run leaves the
earlier decode as it was), locked while in use (a second run refuses at once), and never a
directory holding anything but a decode."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("espnet2", reason="espnet (the task layer's dependency) is not installed")

from espnet2_speechprompt.bin.speechprompt_inference import inference  # noqa: E402
from espnet2_speechprompt.errors import SpeechPromptError  # noqa: E402
from espnet2_speechprompt.fileio import directory_lock  # noqa: E402
from espnet2_speechprompt.tasks.speechprompt import SpeechPromptTask  # noqa: E402
from test.factories.task_data import data_args  # noqa: E402


@pytest.fixture(scope="module")
def task_config(unit_task_data: Path, tmp_path_factory) -> Path:
    """The config.yaml of an untrained task (a dry run: prompts at their initial values)."""
    out = tmp_path_factory.mktemp("exp")
    SpeechPromptTask.main(
        cmd=[
            "--output_dir", str(out),
            "--backbone_conf", f"checkpoint={unit_task_data / 'lm' / 'checkpoint_best.pt'}",
            "--label_list", str(unit_task_data / "label_list"),
            "--verbalizer", "fixed", "--verbalizer_conf", "mode=random",
            "--prompt_conf", "{input_length: 2, deep_length: 2, dropout: 0.0}",
            "--dry_run", "true", *data_args(unit_task_data),
        ]  # fmt: skip
    )
    return out / "config.yaml"


def decode(config: Path, units: Path, out: Path) -> None:
    inference(
        output_dir=str(out),
        data_path_and_name_and_type=[(str(units), "units", "text_int")],
        speechprompt_train_config=str(config),
        speechprompt_model_file=None,
        batch_size=1,
    )


def snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


def test_a_failed_rerun_leaves_the_earlier_decode(task_config, unit_task_data, tmp_path):
    units = unit_task_data / "valid" / "units"
    out = tmp_path / "decode" / "test"
    decode(task_config, units, out)
    before = snapshot(out)
    assert sorted(before) == ["score", "text", "token"]
    assert len(before["text"].splitlines()) == len(units.read_text().splitlines())
    # the same utterances, then one with a unit outside the vocabulary: fails after most lines
    bad = tmp_path / "units"
    bad.write_text(units.read_text() + "zz999 1 2 99999\n")
    with pytest.raises(SpeechPromptError, match="zz999"):
        decode(task_config, bad, out)
    assert snapshot(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["test", "test.lock"]  # no temp left


def test_a_second_run_into_a_directory_in_use_refuses_at_once(task_config, tmp_path):
    out = tmp_path / "decode"
    with directory_lock(out):  # another run holds it
        with pytest.raises(SpeechPromptError, match="in use by another process"):
            decode(tmp_path / "no_such_config.yaml", tmp_path / "no_such_units", out)
        cmd = [
            sys.executable, "-m", "espnet2_speechprompt.bin.speechprompt_inference",
            "--output_dir", str(out), "--speechprompt_train_config", str(task_config),
            "--data_path_and_name_and_type", f"{tmp_path / 'units'},units,text_int",
        ]  # fmt: skip
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1
    assert (
        run.stderr.strip()
        .splitlines()[-1]
        .startswith(f"error: inference output directory {out} is in use by another process")
    )
    assert not out.exists()


def test_a_directory_holding_other_files_is_not_replaced(task_config, unit_task_data, tmp_path):
    (tmp_path / "config.yaml").write_text("keep: me\n")
    with pytest.raises(SpeechPromptError, match=r"holds files that are not a decode's \(config"):
        decode(task_config, unit_task_data / "valid" / "units", tmp_path)
    assert (tmp_path / "config.yaml").read_text() == "keep: me\n"
