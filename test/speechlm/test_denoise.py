"""Denoising pre-training of a Unit-mBART-shaped encoder-decoder (``speechlm.denoise``): text
infilling masks about the asked share of units in runs, one ``<mask>`` per run; a short
pre-training on sentences of unit "words" restores masked units far better than the untrained
model; saved in the Unit mBART release layout, the real loader reads it back exactly, with
``<mask>`` appended after dict.txt's units."""

from __future__ import annotations

import random

import pytest
import torch

from espnet2_speechprompt.checkpoints.backbones import UnitMBARTBackbone
from espnet2_speechprompt.checkpoints.encdec import load_unit_mbart, save_unit_mbart
from espnet2_speechprompt.speechlm.denoise import (
    DenoiseConfig,
    evaluate_denoising,
    infill,
    pretrain_denoiser,
    unit_mbart_shaped,
)
from espnet2_speechprompt.vocab import NUM_SPECIALS, Dictionary

pytestmark = pytest.mark.usefixtures("one_thread")
UNITS = 20
MASK = NUM_SPECIALS + UNITS  # after the dictionary's rows


def sentences(count: int, seed: int) -> list[list[int]]:
    """Sentences of 3-6 "words", each word a fixed run of 4 units."""
    rng = random.Random(0)
    words = [[NUM_SPECIALS + rng.randrange(UNITS) for _ in range(4)] for _ in range(8)]
    rng = random.Random(seed)
    return [sum((rng.choice(words) for _ in range(rng.randint(3, 6))), []) for _ in range(count)]


def test_infill_masks_runs_of_about_the_asked_share():
    rows = sentences(50, 1)
    for row in rows:
        noisy = infill(row, MASK, 0.35, 3.5, random.Random(7))
        assert noisy == infill(row, MASK, 0.35, 3.5, random.Random(7))  # seeded
        kept = [u for u in noisy if u != MASK]
        assert 1 <= len(row) - len(kept) <= round(0.35 * len(row))  # (spans may overlap)
        assert all(not (a == b == MASK) for a, b in zip(noisy[:-1], noisy[1:], strict=True))
        it = iter(row)
        assert all(u in it for u in kept)  # the kept units, in order
    assert infill(rows[0], MASK, 0.0, 3.5, random.Random(0)) == rows[0]


def test_pretraining_restores_masked_units_and_saves_as_unit_mbart(tmp_path):
    vocab = Dictionary(str(u) for u in range(UNITS))
    assert len(vocab) == MASK
    config = DenoiseConfig(embed_dim=32, num_layers=1, num_heads=2, ffn_dim=64, max_epoch=12,
                           lr=3e-3, batch_size=16, max_positions=64)  # fmt: skip
    train, valid = sentences(240, 2), sentences(40, 3)
    torch.manual_seed(config.seed)
    untrained = evaluate_denoising(unit_mbart_shaped(MASK + 1, config), valid, MASK, config)
    model = pretrain_denoiser(train, valid, MASK + 1, MASK, config)
    trained = evaluate_denoising(model, valid, MASK, config)
    print(f"denoising NLL: untrained {untrained:.2f}, trained {trained:.2f} nats/unit")
    assert trained < 0.5 * untrained, (trained, untrained)
    path = save_unit_mbart(model, vocab, tmp_path / "mini_mbart")
    loaded, loaded_vocab = load_unit_mbart(path)
    assert loaded_vocab.index("<mask>") == MASK and len(loaded_vocab) == MASK + 1
    source = torch.tensor([[5, MASK, 9, 2], [7, 8, 2, 1]])
    previous = torch.tensor([[2, 5, 6], [2, 7, 8]])
    with torch.no_grad():
        want = model(source, torch.tensor([4, 3]), previous)
        got = loaded(source, torch.tensor([4, 3]), previous)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_the_command_line_writes_a_unit_mbart_release(tmp_path):
    from espnet2_speechprompt.bin import pretrain_unit_lm
    from espnet2_speechprompt.errors import SpeechPromptError

    for split, seed in (("train", 4), ("valid", 5)):
        rows = sentences(20, seed)
        lines = "".join(
            f"u{i} {' '.join(str(u - NUM_SPECIALS) for u in r)}\n" for i, r in enumerate(rows)
        )
        (tmp_path / split).write_text(lines)
    args = ["--train_units", str(tmp_path / "train"), "--valid_units", str(tmp_path / "valid"),
            "--n_units", str(UNITS), "--output_dir", str(tmp_path / "out"), "--embed_dim", "16",
            "--num_layers", "1", "--num_heads", "2", "--ffn_dim", "32", "--max_epoch", "1"]  # fmt: skip
    pretrain_unit_lm.main(["--objective", "denoising", *args])
    model, vocab = load_unit_mbart(tmp_path / "out" / "checkpoint.pt")
    assert vocab.index("<mask>") == MASK and model.encoder.config.embed_dim == 16
    # what preprocessing reads (the dictionary alone, the checkpoint's table shape mapped)
    backbone = UnitMBARTBackbone(str(tmp_path / "out" / "checkpoint.pt"))
    assert backbone.load_dictionary().symbols == vocab.symbols
    with pytest.raises(SystemExit):
        pretrain_unit_lm.main([*args, "--mask_ratio", "0.3"])  # an lm has no masks
    with pytest.raises(SpeechPromptError, match="--mask_ratio is not an option of --objective lm"):
        pretrain_unit_lm.read_config(
            pretrain_unit_lm.get_parser().parse_args([*args, "--mask_ratio", "0.3"])
        )
