"""The frozen backbone's precision: what ``auto`` picks and says, which tensors go to bf16, and
that a task records the option and its models run with a bf16 backbone."""

from __future__ import annotations

import logging

import pytest
import torch
import yaml

from espnet2_speechprompt import precision
from espnet2_speechprompt.precision import (
    autocast_to,
    low_precision_dtype,
    resolve_backbone_dtype,
    set_frozen_dtype,
)


@pytest.fixture
def cpu_flags(monkeypatch):
    """Set the CPU's bf16 flags as read from /proc/cpuinfo (and forget what was logged)."""
    monkeypatch.setattr(precision, "_reported", set())

    def set_flags(*flags: str) -> None:
        monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: flags)

    return set_flags


def test_explicit_precisions_and_a_bad_name():
    assert resolve_backbone_dtype("float32") == torch.float32
    assert resolve_backbone_dtype("bfloat16") == torch.bfloat16
    with pytest.raises(ValueError, match="one of auto, float32, bfloat16"):
        resolve_backbone_dtype("fp8")


def test_auto_is_bf16_only_with_bf16_matrix_units_and_says_so_once(cpu_flags, caplog):
    cpu_flags("avx512_bf16")
    with caplog.at_level(logging.INFO, logger=precision.__name__):
        assert resolve_backbone_dtype("auto", "cpu") == torch.bfloat16
    assert "bfloat16 (backbone_precision auto: this CPU has avx512_bf16)" in caplog.text
    cpu_flags()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=precision.__name__):
        for _ in range(3):
            assert resolve_backbone_dtype("auto", "cpu") == torch.float32
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "no bf16 matrix units" in warnings[0].message


def test_cpu_flags_are_read_from_cpuinfo():
    flags = precision.cpu_bf16_flags()
    assert set(flags) <= set(precision.CPU_BF16_FLAGS)


def test_frozen_dtype_keeps_norms_fp32_and_autocast_follows_the_weights():
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    x = torch.randn(2, 4)
    assert low_precision_dtype(module) is None
    with autocast_to(module):
        assert module(x).dtype == torch.float32
    expected = module(x)
    set_frozen_dtype(module, torch.bfloat16)
    assert module[0].weight.dtype == torch.bfloat16 and module[1].weight.dtype == torch.float32
    assert low_precision_dtype(module) == torch.bfloat16
    with autocast_to(module):
        got = module(x)
    torch.testing.assert_close(got.float(), expected, atol=0.05, rtol=0.05)


def test_the_task_records_the_option_and_inference_runs_bf16(unit_task_data, tmp_path):
    pytest.importorskip("espnet2", reason="espnet (the task layer's dependency) is not installed")
    from espnet2_speechprompt.api import SpeechPrompt
    from test.factories.random_weights import RANDOM_STATE, dry_run_with_random_state
    from test.factories.task_data import data_args

    data = unit_task_data
    cmd = [
        "--output_dir", str(tmp_path / "exp"), "--label_list", str(data / "label_list"),
        "--backbone_conf", f"checkpoint={data / 'lm' / 'checkpoint_best.pt'}",
        "--prompt_conf", "{input_length: 2, deep_length: 2}", *data_args(data),
    ]  # fmt: skip
    exp = dry_run_with_random_state(cmd)
    assert yaml.safe_load((exp / "config.yaml").read_text())["backbone_precision"] == "auto"
    units = [int(u) for u in (data / "valid" / "units").read_text().split("\n")[0].split()[1:]]
    runs = {}
    for name in ("float32", "bfloat16"):
        runner = SpeechPrompt(exp / "config.yaml", exp / RANDOM_STATE, backbone_precision=name)
        assert runner.backbone_dtype == getattr(torch, name)
        weights = runner.prompted.backbone.embed_tokens.weight
        assert weights.dtype == getattr(torch, name)
        assert runner.prompted.prompts.deep_prompt.dtype == torch.float32
        runs[name] = runner(units)
    assert runs["bfloat16"][0] == runs["float32"][0]  # the same label
    assert runs["bfloat16"][1] == pytest.approx(runs["float32"][1], abs=0.05)


def test_training_keeps_the_backbone_in_bf16_through_espnets_cast(unit_task_data, tmp_path, caplog):
    """ESPnet casts the built model to ``--train_dtype``; the backbone stays as configured."""
    pytest.importorskip("espnet2", reason="espnet (the task layer's dependency) is not installed")
    from espnet2_speechprompt.tasks.speechprompt import SpeechPromptTask
    from test.factories.task_data import data_args

    data = unit_task_data
    cmd = [
        "--output_dir", str(tmp_path / "exp"), "--label_list", str(data / "label_list"),
        "--backbone_conf", f"checkpoint={data / 'lm' / 'checkpoint_best.pt'}",
        "--prompt_conf", "{input_length: 2, deep_length: 2}", "--max_epoch", "1",
        "--batch_type", "unsorted", "--batch_size", "16", "--num_workers", "0",
        "--use_tensorboard", "false", "--num_att_plot", "0", "--backbone_precision", "bfloat16",
        *data_args(data),
    ]  # fmt: skip
    args = SpeechPromptTask.get_parser().parse_args(cmd)
    model = SpeechPromptTask.build_model(args).to(dtype=torch.float32, device="cpu")
    backbone = model.prompted.backbone
    assert backbone.embed_tokens.weight.dtype == torch.bfloat16
    assert model.prompted.prompts.deep_prompt.dtype == torch.float32
    norms = [m for m in backbone.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert norms and all(m.weight.dtype == torch.float32 for m in norms)
    with caplog.at_level(logging.INFO):
        SpeechPromptTask.main(cmd=cmd)
    assert "training with the frozen backbone in bfloat16" in caplog.text
    assert (tmp_path / "exp" / "1epoch.pth").exists()
