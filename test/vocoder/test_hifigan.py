"""The native vocoder without fairseq: lengths, batching, durations, weight norm, errors."""

from __future__ import annotations

import json
import os

import pytest
import torch

from espnet2_speechprompt.errors import CheckpointError, SpeechPromptError
from espnet2_speechprompt.vocoder import (
    UnitInputError,
    VocoderCheckpointError,
    fold_weight_norm,
    load_vocoder,
)
from test.factories.vocoder import native_state, save_released, tiny_config

HOP = 6


def _units(lengths, seed=0, high=7):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randint(0, high, (n,), generator=gen) for n in lengths]


def test_output_is_frames_times_hop(native_ckpt):
    vocoder = load_vocoder(*native_ckpt)
    assert vocoder.hop == HOP and vocoder.sample_rate == 16000
    for n in (1, 4, 17):
        wav = vocoder.synthesize(_units([n]))[0]
        assert wav.shape == (n * HOP,) and wav.abs().max() <= 1.0 and wav.dtype == torch.float32
        assert wav.abs().mean() > 0.05


@pytest.mark.parametrize("dur_prediction", [False, True])
def test_batch_equals_one_at_a_time(native_ckpt, dur_prediction):
    vocoder = load_vocoder(*native_ckpt)
    seqs = _units([9, 1, 23, 5, 23], seed=2)
    batched = vocoder.synthesize(seqs, dur_prediction=dur_prediction)
    for seq, wav in zip(seqs, batched, strict=True):
        alone = vocoder.synthesize([seq], dur_prediction=dur_prediction)[0]
        assert wav.shape == alone.shape
        torch.testing.assert_close(wav, alone, atol=1e-5, rtol=0)


def test_padding_would_leak_without_masks(native_ckpt):
    """The masks matter: a naive padded forward changes the short utterance's audio."""
    vocoder = load_vocoder(*native_ckpt)
    short, long = _units([4, 20], seed=5)
    alone = vocoder.synthesize([short])[0]
    padded = torch.full((2, 20), 3)
    padded[0, :4], padded[1] = short, long
    with torch.no_grad():
        naive = vocoder.generate(vocoder.dict(padded).transpose(1, 2))  # no lengths: no masks
    assert (naive[0, : alone.numel()] - alone).abs().max() > 1e-3


def test_duration_prediction_and_explicit_durations(native_ckpt):
    vocoder = load_vocoder(*native_ckpt)
    units = torch.tensor([2, 5, 1, 6])
    with torch.no_grad():
        d = vocoder.dur_predictor.durations(vocoder.dict(units[None]).transpose(1, 2))[0]
    assert bool((d >= 1).all()) and len(set(d.tolist())) > 1
    predicted = vocoder.synthesize([units], dur_prediction=True)[0]
    assert predicted.numel() == int(d.sum()) * HOP
    given = vocoder.synthesize([units], durations=[d])[0]
    torch.testing.assert_close(given, predicted, atol=1e-6, rtol=0)
    frames = torch.repeat_interleave(units, d)  # explicit durations == pre-expanded frames
    torch.testing.assert_close(vocoder.synthesize([frames])[0], predicted, atol=1e-6, rtol=0)
    zero_dur = vocoder.synthesize([units], durations=[[0, 2, 1, 0]])[0]
    torch.testing.assert_close(zero_dur, vocoder.synthesize([[5, 5, 1]])[0], atol=1e-6, rtol=0)


def test_weight_norm_folding_matches_torch():
    g, v = torch.rand(4, 1, 1) + 0.5, torch.randn(4, 3, 5)
    folded = fold_weight_norm({"ups.0.weight_g": g, "ups.0.weight_v": v, "ups.0.bias": g[:, 0, 0]})
    torch.testing.assert_close(folded["ups.0.weight"], torch._weight_norm(v, g, 0))
    assert set(folded) == {"ups.0.weight", "ups.0.bias"}


def test_parametrizations_layout_loads_the_same(native_ckpt, tmp_path):
    """Newer torch saves weight norm as ``parametrizations.weight.original0/1``."""
    state = torch.load(native_ckpt[0])["generator"]
    renamed = {}
    for key, value in state.items():
        for half, index in (("_g", "0"), ("_v", "1")):
            if key.endswith("weight" + half):
                key = key[: -len("weight" + half)] + "parametrizations.weight.original" + index
        renamed[key] = value
    cfg = json.load(open(native_ckpt[1]))
    ckpt, config = save_released(tmp_path / "param", renamed, cfg)
    units = _units([7])
    torch.testing.assert_close(
        load_vocoder(ckpt, config).synthesize(units)[0],
        load_vocoder(*native_ckpt).synthesize(units)[0],
    )


def test_default_config_is_beside_the_checkpoint(native_ckpt):
    assert load_vocoder(native_ckpt[0]).config.num_embeddings == 7


def test_bad_units(native_ckpt):
    vocoder = load_vocoder(*native_ckpt)
    with pytest.raises(UnitInputError, match=r"^utterance uttB: unit id 7 is outside .* 7 units"):
        vocoder.synthesize([[1, 2], [3, 7, 1]], names=["uttA", "uttB"])
    with pytest.raises(UnitInputError, match=r"^utterance uttA: empty unit sequence"):
        vocoder.synthesize([[], [1]], names=["uttA", "uttB"])
    with pytest.raises(UnitInputError, match=r"unit id -1"):
        vocoder.synthesize([[1, -1]])
    with pytest.raises(UnitInputError, match=r"utterance #0: 2 durations for 3 units"):
        vocoder.synthesize([[1, 2, 3]], durations=[[1, 1]])
    assert issubclass(UnitInputError, SpeechPromptError)


def test_no_duration_predictor(tmp_path):
    cfg = tiny_config(dur=False)
    vocoder = load_vocoder(*save_released(tmp_path, native_state(cfg), cfg))
    assert vocoder.dur_predictor is None
    with pytest.raises(UnitInputError, match="no duration predictor"):
        vocoder.synthesize([[1, 2]], dur_prediction=True)
    assert vocoder.synthesize([[1, 2]])[0].numel() == 2 * HOP


def _write_config(path, cfg) -> str:
    with open(path, "w") as f:
        json.dump(cfg, f)
    return os.fspath(path)


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"upsample_initial_channel": 32},
            r"g_00000100 does not match .*bad\.json: conv_pre\.weight_v has shape \[16, 6, 7\] "
            r"in the checkpoint but the config implies \[32, 6, 7\]",
        ),
        (
            {"num_embeddings": 9},
            r"dict\.weight has shape \[7, 6\] in the checkpoint but the config implies \[9, 6\]",
        ),
        (
            {"upsample_kernel_sizes": [4, 7]},
            r"ups\.1\.weight_v has shape \[8, 4, 5\] .* implies \[8, 4, 7\]",
        ),
        ({"dur_predictor_params": None}, r"unexpected dur_predictor\..*config lacks dur_pred"),
        ({"f0": True}, r"'f0' vocoders .* are not supported"),
        ({"upsample_rates": [2]}, r"upsample_rates and upsample_kernel_sizes differ in length"),
        ({"resblock": "2"}, r"resblock type '2' is not supported"),
    ],
)
def test_config_that_does_not_fit_the_checkpoint(native_ckpt, tmp_path, change, message):
    cfg = {**json.load(open(native_ckpt[1])), **change}
    config = _write_config(tmp_path / "bad.json", cfg)
    with pytest.raises(VocoderCheckpointError, match=message) as info:
        load_vocoder(native_ckpt[0], config)
    assert "\n" not in str(info.value) and isinstance(info.value, CheckpointError)


def test_missing_dur_predictor_in_checkpoint(tmp_path):
    cfg = tiny_config(dur=False)
    ckpt, _ = save_released(tmp_path, native_state(cfg), cfg)
    config = _write_config(tmp_path / "dur.json", tiny_config(dur=True))
    with pytest.raises(VocoderCheckpointError, match=r"missing dur_predictor\.conv1\.0\.weight"):
        load_vocoder(ckpt, config)


def test_missing_and_unreadable_files(native_ckpt, tmp_path):
    ckpt, config = native_ckpt
    with pytest.raises(VocoderCheckpointError, match=r"nowhere\.json: no such vocoder config"):
        load_vocoder(ckpt, tmp_path / "nowhere.json")
    with pytest.raises(CheckpointError, match=r"nowhere\.pt: no such checkpoint file"):
        load_vocoder(tmp_path / "nowhere.pt", config)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"junk\.pt: not a readable PyTorch checkpoint"):
        load_vocoder(tmp_path / "junk.pt", config)
    (tmp_path / "junk.json").write_text("{ nope")
    with pytest.raises(VocoderCheckpointError, match=r"junk\.json: not a readable JSON config"):
        load_vocoder(ckpt, tmp_path / "junk.json")
    torch.save({"model": {}}, tmp_path / "lm.pt")
    with pytest.raises(VocoderCheckpointError, match=r"lm\.pt: not a unit HiFi-GAN checkpoint"):
        load_vocoder(tmp_path / "lm.pt", config)


def test_vocoder_imports_neither_espnet2_nor_fairseq():
    import subprocess
    import sys

    code = (
        "import sys, espnet2_speechprompt.vocoder\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('espnet2', 'espnet', 'fairseq', 'torchaudio')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
