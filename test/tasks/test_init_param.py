"""``--init_param`` through the project's weights-only loader: ESPnet's option syntax (source
prefix, target module, excluded prefixes), one-line errors for a wrong key or shape (or a
warning with ``ignore_init_mismatch``), and ESPnet's own loader back after a run."""

from __future__ import annotations

import pytest
import torch
from torch import nn

pytest.importorskip("espnet2", reason="espnet (the task layer's dependency) is not installed")

from espnet2_speechprompt.errors import SpeechPromptError  # noqa: E402
from espnet2_speechprompt.tasks.init_param import (  # noqa: E402
    load_init_param,
    weights_only_init_param,
)


def model() -> nn.Module:
    return nn.ModuleDict({"enc": nn.Linear(2, 3), "dec": nn.Linear(3, 2)})


def saved(tmp_path, state: dict) -> str:
    torch.save(state, tmp_path / "init.pth")
    return str(tmp_path / "init.pth")


def test_the_whole_state_or_a_prefix_into_a_module(tmp_path):
    source = model()
    path = saved(tmp_path, source.state_dict())
    target = model()
    load_init_param(path, target, False)
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in target.state_dict().items())
    target = model()
    before = {k: v.clone() for k, v in target.state_dict().items()}
    load_init_param(f"{path}:enc:enc", target, False)  # enc only; dec kept
    assert torch.equal(target.enc.weight, source.enc.weight)
    assert torch.equal(target.dec.weight, before["dec.weight"])
    target = model()
    load_init_param(f"{path}:::enc.bias", target, False)  # everything but enc.bias
    assert torch.equal(target.dec.bias, source.dec.bias)
    assert not torch.equal(target.enc.bias, source.enc.bias)


def test_a_key_or_shape_the_model_lacks_is_one_line_or_skipped(tmp_path, caplog):
    path = saved(tmp_path, {"enc.weight": torch.zeros(5, 5), "dec.bias": torch.ones(2)})
    target = model()
    with pytest.raises(SpeechPromptError, match="pass --ignore_init_mismatch true"):
        load_init_param(path, target, False)
    load_init_param(path, target, True)
    assert torch.equal(target.dec.bias, torch.ones(2)) and "enc.weight skipped" in caplog.text
    with pytest.raises(SpeechPromptError, match="the model has no module 'missing'"):
        load_init_param(f"{path}::missing", target, True)
    with pytest.raises(SpeechPromptError, match="not a model state"):
        load_init_param(saved(tmp_path, {"epoch": 3}), target, False)


def test_espnets_loader_is_back_after_the_run():
    from espnet2.tasks import abs_task

    original = abs_task.load_pretrained_model
    with weights_only_init_param():
        assert abs_task.load_pretrained_model is load_init_param
    assert abs_task.load_pretrained_model is original
