"""Prompt training on two processes (torchrun, gloo, CPU) equals one process with the same
global batch; the frozen backbone stays out of DDP and must be the same on every rank."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

pytest.importorskip("espnet2", reason="espnet (the task layer's dependency) is not installed")

from espnet2_speechprompt.errors import SpeechPromptError  # noqa: E402
from espnet2_speechprompt.tasks.distributed import (  # noqa: E402
    check_same_frozen_state,
    frozen_names,
    prepare_distributed,
)
from test.factories.task_data import data_args, make_task_data  # noqa: E402

CONFIG = {
    "verbalizer": "learnable", "verbalizer_conf": {"mode": "frequency"},
    "prompt_conf": {"input_length": 2, "deep_length": 2, "separator": True, "dropout": 0.0},
    "optim": "adam", "optim_conf": {"lr": 0.01}, "batch_type": "unsorted", "batch_size": 16,
    "max_epoch": 2, "num_workers": 0, "use_tensorboard": False, "use_matplotlib": False,
    "num_att_plot": 0, "seed": 3,
    "backbone_precision": "float32",  # bf16 rounding differs with the batch split
}  # fmt: skip
TRAIN = "espnet2_speechprompt.bin.speechprompt_train"


@pytest.fixture(scope="module")
def random_task_data(tmp_path_factory) -> Path:
    return make_task_data(tmp_path_factory.mktemp("ddp"), random_backbone=True)


def train(data: Path, out: Path, launcher: list[str], *extra: str) -> subprocess.CompletedProcess:
    config = out.parent / "train.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    cmd = [
        *launcher, "-m", TRAIN, "--config", str(config), "--output_dir", str(out),
        "--backbone_conf", f"checkpoint={data / 'lm' / 'checkpoint_best.pt'}",
        "--label_list", str(data / "label_list"), *data_args(data), *extra,
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


def test_two_gloo_processes_train_the_prompts_as_one(random_task_data, tmp_path):
    one = train(random_task_data, tmp_path / "one", [sys.executable])
    assert one.returncode == 0, one.stderr[-2000:]
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
    ]
    two = train(
        random_task_data, tmp_path / "two", torchrun,
        "--ngpu", "0", "--dist_backend", "gloo", "--multiprocessing_distributed", "false",
    )  # fmt: skip
    assert two.returncode == 0, two.stderr[-3000:]
    assert ":0/2]" in two.stderr  # rank 0 of 2 (the other rank logs only errors)
    for name in ("1epoch.pth", "2epoch.pth"):
        alone = torch.load(tmp_path / "one" / name, weights_only=True)
        ranks = torch.load(tmp_path / "two" / name, weights_only=True)
        assert alone.keys() == ranks.keys()
        assert all(not key.startswith("prompted.backbone.") for key in ranks)  # prompts only
        for key in alone:
            torch.testing.assert_close(ranks[key], alone[key], atol=1e-5, rtol=1e-5)
    start = torch.load(tmp_path / "one" / "1epoch.pth", weights_only=True)
    end = torch.load(tmp_path / "one" / "2epoch.pth", weights_only=True)
    assert any(not torch.equal(start[k], end[k]) for k in start)  # training moved them


class Prompted(torch.nn.Module):
    """A frozen 'backbone' (a parameter and a buffer) and a trainable prompt."""

    def __init__(self, backbone_value: float):
        super().__init__()
        self.backbone = torch.nn.Linear(3, 3)
        torch.nn.init.constant_(self.backbone.weight, backbone_value)
        torch.nn.init.zeros_(self.backbone.bias)
        self.backbone.requires_grad_(False)
        self.backbone.register_buffer("table", torch.full((2,), backbone_value))
        self.prompt = torch.nn.Parameter(torch.zeros(3))


def _rank_main(rank: int, init_file: str, results: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    out = {}
    same = Prompted(1.0)
    out["names"] = frozen_names(same)
    check_same_frozen_state(same)  # equal on both ranks: passes
    differing = Prompted(1.0 + rank)
    try:
        check_same_frozen_state(differing)
    except SpeechPromptError as error:
        out["error"] = str(error)
    with torch.no_grad():
        differing.prompt.fill_(rank + 5.0)
    differing._ddp_params_and_buffers_to_ignore = frozen_names(differing)
    torch.nn.parallel.DistributedDataParallel(differing)  # broadcasts only what trains
    out["prompt"] = differing.prompt.tolist()
    out["backbone"] = differing.backbone.weight[0, 0].item()
    torch.save(out, f"{results}.{rank}")
    dist.destroy_process_group()


def test_frozen_tensors_stay_out_of_ddp_and_must_match(tmp_path):
    results = str(tmp_path / "rank")
    torch.multiprocessing.spawn(_rank_main, args=(str(tmp_path / "init"), results), nprocs=2)
    for rank in (0, 1):
        out = torch.load(f"{results}.{rank}", weights_only=True)
        assert out["names"] == ["backbone.weight", "backbone.bias", "backbone.table"]
        assert "the frozen backbone differs between ranks" in out["error"]
        assert out["prompt"] == [5.0, 5.0, 5.0]  # rank 0's trainable state everywhere
        assert out["backbone"] == 1.0 + rank  # the frozen weights were not broadcast
    assert callable(prepare_distributed)
