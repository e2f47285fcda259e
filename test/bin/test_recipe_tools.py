"""The Python entry points the recipe stages call: label list, unit LM pre-training (with
resume), the GRU baseline and the Hub upload staging."""

from __future__ import annotations

import json
import random
import zipfile

import pytest
import torch

from espnet2_speechprompt.bin import (
    make_label_list,
    pretrain_unit_lm,
    speechprompt_upload,
    train_baseline,
)
from espnet2_speechprompt.checkpoints.unit_lm import load_unit_lm


def write_sets(root, n_units: int = 12, seed: int = 0):
    """Units whose class shows in which unit range dominates; labels yes/no/up."""
    rng = random.Random(seed)
    labels = ["yes", "no", "up"]
    for split, count in (("train", 120), ("valid", 30), ("test", 30)):
        d = root / split
        d.mkdir(parents=True)
        with open(d / "units", "w") as units, open(d / "label", "w") as lab:
            for i in range(count):
                c = rng.randrange(3)
                seq = [rng.randrange(c * 4, c * 4 + 4) if rng.random() < 0.8 else rng.randrange(n_units)
                       for _ in range(rng.randint(5, 12))]  # fmt: skip
                units.write(f"{split}{i:03d} {' '.join(map(str, seq))}\n")
                lab.write(f"{split}{i:03d} {labels[c]}\n")


def test_make_label_list(tmp_path, capsys):
    label = tmp_path / "label"
    label.write_text("a turn_on lights\nb turn_off lights\nc turn_on lights\n")
    make_label_list.main(["--label", str(label), "--output", str(tmp_path / "labels"),
                          "--candidates", str(tmp_path / "cands")])  # fmt: skip
    assert (tmp_path / "labels").read_text().split() == ["lights", "turn_off", "turn_on"]
    assert (tmp_path / "cands").read_text().splitlines() == ["turn_off lights", "turn_on lights"]
    label.write_text("a yes\nb\n")
    with pytest.raises(SystemExit):
        make_label_list.main(["--label", str(label), "--output", str(tmp_path / "x")])
    assert "label:2: utterance b has no label" in capsys.readouterr().err


def test_pretrain_unit_lm_saves_gslm_layout_and_resumes(tmp_path):
    write_sets(tmp_path)
    common = ["--train_units", str(tmp_path / "train" / "units"), "--valid_units",
              str(tmp_path / "valid" / "units"), "--n_units", "12", "--embed_dim", "16",
              "--num_layers", "1", "--num_heads", "2", "--ffn_dim", "32"]  # fmt: skip
    pretrain_unit_lm.main([*common, "--output_dir", str(tmp_path / "a"), "--max_epoch", "3"])
    pretrain_unit_lm.main([*common, "--output_dir", str(tmp_path / "b"), "--max_epoch", "1"])
    pretrain_unit_lm.main([*common, "--output_dir", str(tmp_path / "b"), "--max_epoch", "3"])
    model_a, vocab = load_unit_lm(tmp_path / "a" / "checkpoint_best.pt")
    model_b, _ = load_unit_lm(tmp_path / "b" / "checkpoint_best.pt")
    assert vocab.symbols[4:] == [str(u) for u in range(12)]
    for key, value in model_a.state_dict().items():
        torch.testing.assert_close(value, model_b.state_dict()[key], atol=1e-6, rtol=0)


def test_pretrain_unit_lm_does_not_continue_a_run_on_other_units(tmp_path, capsys):
    write_sets(tmp_path)
    common = ["--valid_units", str(tmp_path / "valid" / "units"), "--n_units", "12",
              "--embed_dim", "16", "--num_layers", "1", "--num_heads", "2", "--ffn_dim", "32",
              "--output_dir", str(tmp_path / "lm"), "--max_epoch", "1"]  # fmt: skip
    pretrain_unit_lm.main(["--train_units", str(tmp_path / "train" / "units"), *common])
    with pytest.raises(SystemExit):  # another training set: the saved state is not its run's
        pretrain_unit_lm.main(["--train_units", str(tmp_path / "test" / "units"), *common])
    error = capsys.readouterr().err.strip().splitlines()
    assert error == [f"error: {tmp_path / 'lm' / 'train_state.pt'}: saved by a run on other "
                     "data or settings, which this one does not continue; delete it to start "
                     "the pre-training over"]  # fmt: skip


def test_pretrain_unit_lm_continues_a_saved_lm(tmp_path, capsys):
    write_sets(tmp_path)
    data = ["--train_units", str(tmp_path / "train" / "units"), "--valid_units",
            str(tmp_path / "valid" / "units")]  # fmt: skip
    shape = ["--n_units", "12", "--embed_dim", "16", "--num_layers", "1", "--num_heads", "2",
             "--ffn_dim", "32", "--max_epoch", "1"]  # fmt: skip
    pretrain_unit_lm.main([*data, *shape, "--output_dir", str(tmp_path / "first")])
    first, vocab = load_unit_lm(tmp_path / "first" / "checkpoint_best.pt")
    again = [*data, "--init_from", str(tmp_path / "first"), "--max_epoch", "1"]
    pretrain_unit_lm.main([*again, "--lr", "0", "--output_dir", str(tmp_path / "still")])
    still, still_vocab = load_unit_lm(tmp_path / "still" / "checkpoint_best.pt")
    assert still_vocab.symbols == vocab.symbols
    for key, value in first.state_dict().items():  # lr 0: the weights it started from
        torch.testing.assert_close(still.state_dict()[key], value, atol=0, rtol=0)
    pretrain_unit_lm.main([*again, "--output_dir", str(tmp_path / "on")])
    on, _ = load_unit_lm(tmp_path / "on" / "checkpoint_best.pt")
    assert on.config == first.config and any(
        not torch.equal(on.state_dict()[k], v) for k, v in first.state_dict().items()
    )
    with pytest.raises(SystemExit):
        pretrain_unit_lm.main([*again, "--objective", "denoising", "--output_dir", str(tmp_path)])
    assert "--init_from continues a unit LM (--objective lm)" in capsys.readouterr().err


def test_gru_baseline_learns_the_units(tmp_path):
    write_sets(tmp_path)
    (tmp_path / "labels").write_text("yes\nno\nup\n")
    out = tmp_path / "baseline.json"
    train_baseline.main(["--label_list", str(tmp_path / "labels"), "--train",
                         str(tmp_path / "train"), "--valid", str(tmp_path / "valid"), "--test",
                         str(tmp_path / "test"), "--output", str(out), "--max_epoch", "8"])  # fmt: skip
    result = json.loads(out.read_text())
    # chance 1/3 (an untrained GRU's level); measured 1.0 under 1 or 2 threads and ATen's
    # default, AVX2 and AVX-512 kernels: the bar leaves room for other CPUs' arithmetic
    assert result["acc"]["test"] >= 1 / 3 + 0.4 and result["parameters"] > 0


def test_upload_dry_run_stages_a_model_card(tmp_path):
    packed = tmp_path / "model.zip"
    with zipfile.ZipFile(packed, "w") as z:
        z.writestr("meta.yaml", "yaml_files: {speechprompt_train_config: config.yaml}\nfiles: {}\n")
        z.writestr("config.yaml", "backbone: gslm\nlabel_list: ['yes', 'no']\n")
        z.writestr("speechprompt.safetensors", b"0123")
        z.writestr("RESULTS.md", "|test|99.0|\n")
    speechprompt_upload.main(["--packed", str(packed), "--hf_repo", "me/kws", "--dry_run"])
    card = (tmp_path / "hf_me_kws" / "README.md").read_text()
    assert "me/kws" in card and "yes, no" in card and "|test|99.0|" in card
