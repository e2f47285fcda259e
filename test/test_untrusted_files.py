"""A file planted with an ``os.system`` payload is refused in one line by every reader; the
payload never runs. Damaged resume files get one line saying what to do."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch

from espnet2_speechprompt.bin import make_results, pretrain_unit_lm, speechprompt_inference
from espnet2_speechprompt.checkpoints.hubert import load_hubert
from espnet2_speechprompt.checkpoints.safe_pickle import safe_torch_load
from espnet2_speechprompt.checkpoints.unit_lm import load_unit_lm, save_unit_lm
from espnet2_speechprompt.errors import CheckpointError
from espnet2_speechprompt.safe_load import load_torch_file
from espnet2_speechprompt.units.errors import KMeansError
from espnet2_speechprompt.units.kmeans import load_centres
from espnet2_speechprompt.vocab import Dictionary
from espnet2_speechprompt.vocoder.loading import load_vocoder
from test.factories.hubert import save_native_as_fairseq, tiny_hubert
from test.factories.unit_lm import tiny_decoder
from test.factories.vocoder import native_state, save_released, tiny_config

pytest.importorskip("espnet2", reason="espnet (the task layer's dependency) is not installed")

from espnet2_speechprompt.bin import speechprompt_train  # noqa: E402
from espnet2_speechprompt.tasks.trainer import load_training_checkpoint  # noqa: E402
from test.tasks.test_speechprompt_task import common_args  # noqa: E402


class Payload:
    """Unpickling this runs ``touch <marker>``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def marker(tmp_path) -> Path:
    path = tmp_path / "payload-ran"
    yield path
    assert not path.exists(), "the planted payload ran"


def plant(path: Path, state: dict, marker: Path) -> Path:
    torch.save({**state, "hook": Payload(marker)}, path)
    return path


def one_error_line(capsys, exit_info) -> str:
    """The single ``error:`` line of a command that exited 1 (no traceback, no advice to load
    with ``weights_only=False``)."""
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err and "weights_only" not in err, err
    return errors[0]


def test_the_payload_is_live(tmp_path):
    """Control: the same file read with an unrestricted unpickler runs the payload."""
    path = plant(tmp_path / "f.pt", {}, tmp_path / "ran")
    torch.load(path, weights_only=False)
    assert (tmp_path / "ran").exists()


def test_unit_lm_checkpoint(tmp_path, marker):
    path = save_unit_lm(tiny_decoder(vocab_size=20), Dictionary(list("0123456789abcdef")), tmp_path)
    plant(path, safe_torch_load(path), marker)
    with pytest.raises(CheckpointError, match=r"checkpoint_best.pt refers to posix.system: not a"):
        load_unit_lm(path)


def test_hubert_checkpoint(tmp_path, marker):
    path = Path(save_native_as_fairseq(tiny_hubert(), os.fspath(tmp_path / "hubert.pt")))
    plant(path, safe_torch_load(path), marker)
    with pytest.raises(CheckpointError, match="hubert.pt refers to posix.system"):
        load_hubert(path)


def test_kmeans_joblib_file(tmp_path, marker):
    """(Payloads in object arrays and plain pickles: test/units/test_kmeans.py.)"""
    km = argparse.Namespace(cluster_centers_=np.zeros((4, 3), dtype=np.float32))
    km.hook = Payload(marker)
    joblib.dump(km, tmp_path / "km.bin")
    with pytest.raises(KMeansError, match="km.bin refers to posix.system: not a k-means file"):
        load_centres(tmp_path / "km.bin")


def test_vocoder_checkpoint(tmp_path, marker):
    cfg = tiny_config(dur=True)
    checkpoint, _ = save_released(tmp_path / "voc", native_state(cfg), cfg)
    plant(Path(checkpoint), safe_torch_load(checkpoint), marker)
    with pytest.raises(CheckpointError, match="g_00000100 refers to posix.system"):
        load_vocoder(checkpoint)


def test_unit_lm_pretraining_state(tmp_path, marker, capsys):
    (tmp_path / "units").write_text("".join(f"u{i} {i % 6} {(i + 1) % 6} 3\n" for i in range(8)))
    args = ["--train_units", str(tmp_path / "units"), "--output_dir", str(tmp_path / "lm"),
            "--embed_dim", "8", "--num_layers", "1", "--num_heads", "2", "--ffn_dim", "16"]  # fmt: skip
    pretrain_unit_lm.main([*args, "--max_epoch", "1"])
    state_file = tmp_path / "lm" / "train_state.pt"
    state = load_torch_file(state_file)  # the state is tensors and plain values only
    plant(state_file, state, marker)
    with pytest.raises(SystemExit) as info:
        pretrain_unit_lm.main([*args, "--max_epoch", "2"])
    assert "train_state.pt refers to posix.system" in one_error_line(capsys, info)
    state_file.write_bytes(state_file.read_bytes()[:300])
    with pytest.raises(SystemExit) as info:
        pretrain_unit_lm.main([*args, "--max_epoch", "2"])
    line = one_error_line(capsys, info)
    assert "train_state.pt: not a readable PyTorch training state" in line
    assert "delete it to start the pre-training over" in line


@pytest.fixture(scope="module")
def trained(unit_task_data, tmp_path_factory) -> Path:
    """One epoch of prompt tuning: ``config.yaml``, ``checkpoint.pth``, ``1epoch.pth`` ..."""
    exp = tmp_path_factory.mktemp("untrusted") / "exp"
    speechprompt_train.main(common_args(unit_task_data, exp) + ["--max_epoch", "1"])
    return exp


@pytest.fixture
def exp(trained, tmp_path) -> Path:
    """A private copy of the trained experiment directory (tests plant files in it)."""
    return Path(shutil.copytree(trained, tmp_path / "exp", symlinks=True))


def test_prompt_model_file(exp, tmp_path, marker, capsys):
    model_file = plant(tmp_path / "prompt.pth", torch.load(exp / "1epoch.pth"), marker)
    with pytest.raises(CheckpointError, match="prompt.pth refers to posix.system"):
        speechprompt_inference.SpeechPrompt(exp / "config.yaml", model_file)
    units = tmp_path / "units"
    units.write_text("u1 1 2 3\n")
    for bad in (model_file, tmp_path / "garbage.pth", tmp_path / "garbage.safetensors"):
        if bad != model_file:
            bad.write_bytes(b"\x80\x04garbage")
        with pytest.raises(SystemExit) as info:
            speechprompt_inference.main(
                ["--output_dir", str(tmp_path / "decode"), "--data_path_and_name_and_type",
                 f"{units},units,text_int", "--speechprompt_train_config",
                 str(exp / "config.yaml"), "--speechprompt_model_file", str(bad)]
            )  # fmt: skip
        assert str(bad) in one_error_line(capsys, info)


def resume(unit_task_data: Path, exp: Path) -> list[str]:
    return common_args(unit_task_data, exp) + ["--max_epoch", "2", "--resume", "true"]


def test_resumed_training_checkpoint(unit_task_data, exp, marker, capsys):
    plant(exp / "checkpoint.pth", load_training_checkpoint(exp / "checkpoint.pth"), marker)
    with pytest.raises(SystemExit) as info:
        speechprompt_train.main(resume(unit_task_data, exp))
    assert "checkpoint.pth refers to posix.system" in one_error_line(capsys, info)
    assert not (exp / "2epoch.pth").exists()


def test_resume_checks_the_epoch_files_espnet_averages(unit_task_data, exp, marker, capsys):
    plant(exp / "1epoch.pth", torch.load(exp / "1epoch.pth"), marker)
    with pytest.raises(SystemExit) as info:
        speechprompt_train.main(resume(unit_task_data, exp))
    assert "1epoch.pth refers to posix.system" in one_error_line(capsys, info)


def test_truncated_training_checkpoint(unit_task_data, exp, capsys):
    data = (exp / "checkpoint.pth").read_bytes()
    (exp / "checkpoint.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(SystemExit) as info:
        speechprompt_train.main(resume(unit_task_data, exp))
    line = one_error_line(capsys, info)
    assert f"{exp / 'checkpoint.pth'}: not a readable PyTorch training checkpoint" in line
    assert "(or run with --resume false) to start the training over" in line


def test_training_curves_of_make_results(exp, tmp_path, marker, capsys):
    plant(exp / "checkpoint.pth", load_training_checkpoint(exp / "checkpoint.pth"), marker)
    with pytest.raises(SystemExit) as info:
        make_results.main(
            ["--expdir", str(exp), "--dumpdir", str(tmp_path / "dump"),
             "--test_sets", "test", "--model_file", "1epoch.pth",
             "--inference_tag", "decode", "--output", str(tmp_path / "RESULTS.md")]
        )  # fmt: skip
    assert "checkpoint.pth refers to posix.system" in one_error_line(capsys, info)


def test_init_param_is_read_weights_only(unit_task_data, exp, tmp_path, marker, capsys):
    planted = plant(tmp_path / "init.pth", torch.load(exp / "1epoch.pth"), marker)
    cmd = common_args(unit_task_data, tmp_path / "new") + ["--max_epoch", "1"]
    with pytest.raises(SystemExit) as info:
        speechprompt_train.main([*cmd, "--init_param", str(planted)])
    assert "init.pth refers to posix.system" in one_error_line(capsys, info)


def test_init_param_starts_from_the_given_prompts(unit_task_data, exp, tmp_path):
    init = {k: torch.randn_like(v) for k, v in torch.load(exp / "1epoch.pth").items()}
    torch.save(init, tmp_path / "init.pth")
    out = tmp_path / "new"
    frozen = [
        "--max_epoch",
        "1",
        "--optim_conf",
        "lr=0.0",
        "--init_param",
        str(tmp_path / "init.pth"),
    ]
    speechprompt_train.main(common_args(unit_task_data, out) + frozen)
    after = torch.load(out / "1epoch.pth")  # no step moved them (lr 0)
    assert set(after) == set(init)
    assert all(torch.equal(after[k], init[k]) for k in init)
