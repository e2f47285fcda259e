"""Every recipe's prompt-tuning config (``egs2/*/speechprompt1/conf/train*.yaml``) is accepted
by ``speechprompt_train --dry_run`` (builds the model from the config, no training)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytest.importorskip("espnet2", reason="espnet (the task layer's dependency) is not installed")

from espnet2_speechprompt.bin import speechprompt_train  # noqa: E402

EGS2 = Path(__file__).resolve().parents[2] / "egs2"
CONFS = sorted(EGS2.glob("*/speechprompt1/conf/train*.yaml"))


def test_recipes_have_training_configs():
    assert any("mini_speechcommands" in str(c) for c in CONFS), CONFS


@pytest.mark.parametrize("conf", CONFS, ids=lambda c: f"{c.parts[-4]}/{c.name}")
def test_conf_dry_run(conf: Path, unit_task_data: Path, tmp_path: Path):
    data = unit_task_data
    cmd = [
        "--config", str(conf), "--dry_run", "true", "--output_dir", str(tmp_path),
        "--backbone_conf", f"checkpoint={data / 'lm' / 'checkpoint_best.pt'}",
        "--label_list", str(data / "label_list"), "--num_workers", "0",
    ]  # fmt: skip
    for split in ("train", "valid"):
        cmd += [f"--{split}_data_path_and_name_and_type", f"{data / split / 'units'},units,text_int"]
        cmd += [f"--{split}_data_path_and_name_and_type", f"{data / split / 'label'},label,text"]
        cmd += [f"--{split}_shape_file", str(data / split / "units")]
    speechprompt_train.main(cmd)
    written = yaml.safe_load((tmp_path / "config.yaml").read_text())
    expected = yaml.safe_load(conf.read_text())
    for key in ("verbalizer", "max_epoch", "optim"):
        if key in expected:
            assert written[key] == expected[key], key
