"""Each bad checkpoint or dictionary gets one clear error; pickled code never runs."""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import types

import pytest
import torch

from espnet2_speechprompt.checkpoints.safe_pickle import safe_torch_load
from espnet2_speechprompt.checkpoints.unit_lm import load_unit_lm, save_unit_lm
from espnet2_speechprompt.errors import CheckpointError
from espnet2_speechprompt.vocab import Dictionary
from test.factories.unit_lm import tiny_decoder


@pytest.fixture
def saved(tmp_path):
    model = tiny_decoder(vocab_size=4 + 16)
    vocab = Dictionary([str(u) for u in range(16)])
    path = save_unit_lm(model, vocab, tmp_path)
    return model, path


def _rewrite(path, edit):
    state = torch.load(path, weights_only=False)
    edit(state)
    torch.save(state, path)


def test_round_trip_in_release_layout(saved):
    model, path = saved
    loaded, vocab = load_unit_lm(path)
    assert (path.parent / "dict.txt").is_file() and len(vocab) == 20
    tokens = torch.tensor([[2, 5, 6, 7]])
    torch.testing.assert_close(loaded(tokens), model(tokens), atol=0, rtol=0)


def test_other_architecture(saved):
    _, path = saved

    def edit(state):
        state["args"].arch = "bart_base"
        state["model"]["encoder.embed_tokens.weight"] = torch.zeros(20, 16)

    _rewrite(path, edit)
    with pytest.raises(CheckpointError, match="'bart_base' checkpoint, not a decoder-only"):
        load_unit_lm(path)


def test_missing_key_is_named_with_its_shape(saved):
    _, path = saved
    _rewrite(path, lambda s: s["model"].pop("decoder.layers.1.fc2.weight"))
    with pytest.raises(
        CheckpointError,
        match=r"missing key 'decoder.layers.1.fc2.weight' \(expected shape \[16, 32\]\)",
    ):
        load_unit_lm(path)


def test_misshaped_key_names_both_shapes(saved):
    _, path = saved

    def edit(state):
        state["model"]["decoder.layers.0.self_attn.k_proj.weight"] = torch.zeros(16, 8)

    _rewrite(path, edit)
    with pytest.raises(
        CheckpointError,
        match=r"'decoder.layers.0.self_attn.k_proj.weight' has shape \[16, 8\], expected \[16, 16\]",
    ):
        load_unit_lm(path)


def test_unexpected_key(saved):
    _, path = saved
    _rewrite(path, lambda s: s["model"].__setitem__("decoder.extra.weight", torch.zeros(2)))
    with pytest.raises(CheckpointError, match="unexpected key 'decoder.extra.weight'"):
        load_unit_lm(path)


@pytest.mark.parametrize("damage", ["truncated", "text", "missing"])
def test_unreadable_file(saved, damage):
    _, path = saved
    if damage == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif damage == "text":
        path.write_text("this is not a checkpoint\n")
    else:
        path.unlink()
    expected = (
        "no such checkpoint file" if damage == "missing" else "not a readable PyTorch checkpoint"
    )
    with pytest.raises(CheckpointError, match=expected) as info:
        load_unit_lm(path)
    assert str(path) in str(info.value)


def test_not_a_fairseq_checkpoint(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not a fairseq checkpoint"):
        load_unit_lm(path)


def test_dictionary_size_disagrees_with_embedding(saved):
    _, path = saved
    (path.parent / "dict.txt").write_text("".join(f"{u} 1\n" for u in range(15)))
    with pytest.raises(
        CheckpointError, match="15 symbols \\+ 4 specials = 19 entries, but .* 20 rows"
    ):
        load_unit_lm(path)


def test_malformed_and_duplicate_dictionary_lines(tmp_path):
    path = tmp_path / "dict.txt"
    path.write_text("1 5\n2\n")
    with pytest.raises(CheckpointError, match=r"dict.txt:2: expected 'SYMBOL COUNT'"):
        Dictionary.load(path)
    path.write_text("1 5\n1 3\n")
    with pytest.raises(CheckpointError, match=r"dict.txt:2: duplicate symbol '1'"):
        Dictionary.load(path)
    path.write_text("1 5\n1 3 #fairseq:overwrite\n")
    assert len(Dictionary.load(path)) == 5


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _save_with_fake_fairseq_class(path, extra: dict, **save_args) -> None:
    fake = types.ModuleType("fairseq_fake_module")

    class Meter:  # stands for fairseq.logging.meters.AverageMeter
        def __init__(self):
            self.val = 3

    Meter.__module__ = "fairseq_fake_module"
    Meter.__qualname__ = "Meter"
    fake.Meter = Meter
    sys.modules["fairseq_fake_module"] = fake
    try:
        state = {
            "args": argparse.Namespace(arch="transformer_lm"),
            "model": {"w": torch.ones(2)},
            "extra_state": {"meter": Meter(), **extra},
        }
        torch.save(state, path, **save_args)
    finally:
        del sys.modules["fairseq_fake_module"]


@pytest.mark.parametrize("legacy", [False, True])
def test_foreign_classes_load_as_inert_stubs(tmp_path, legacy):
    path = tmp_path / "ckpt.pt"
    _save_with_fake_fairseq_class(path, {}, _use_new_zipfile_serialization=not legacy)
    loaded = safe_torch_load(path)
    assert loaded["args"].arch == "transformer_lm"
    assert loaded["extra_state"]["meter"].val == 3  # an inert stub with its state
    torch.testing.assert_close(loaded["model"]["w"], torch.ones(2))


def test_pickled_code_is_never_run(tmp_path):
    """A checkpoint carrying an os.system call is refused in one line; nothing runs."""
    marker = tmp_path / "pwned"
    _save_with_fake_fairseq_class(tmp_path / "ckpt.pt", {"hook": _Exploit(marker)})
    with pytest.raises(CheckpointError, match=r"ckpt.pt refers to posix.system: not a checkpoint"):
        safe_torch_load(tmp_path / "ckpt.pt")
    assert not marker.exists()


def test_other_pickle_protocols_are_refused_in_one_line(tmp_path):
    _save_with_fake_fairseq_class(tmp_path / "ckpt.pt", {}, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(
        CheckpointError, match="Unsupported operand .*default pickle protocol only"
    ) as info:
        safe_torch_load(tmp_path / "ckpt.pt")
    assert "weights_only" not in str(info.value) and "\n" not in str(info.value)
