"""Parity with fairseq's own CodeGenerator / CodeHiFiGANVocoder on released-layout files."""

from __future__ import annotations

import pytest
import torch

from espnet2_speechprompt.vocoder import load_vocoder
from espnet2_speechprompt.vocoder.config import RELEASED_MHUBERT_KM1000
from test.factories.oracles import needs_fairseq
from test.factories.vocoder import randomize_, save_released, tiny_config

pytestmark = needs_fairseq


def _fairseq_files(tmp_path, cfg: dict, seed: int = 0):
    """A fairseq CodeGenerator (weight norm on), randomised and saved as released."""
    from fairseq.models.text_to_speech.codehifigan import CodeGenerator

    generator = CodeGenerator(cfg)
    randomize_(generator, seed)
    assert any(k.endswith("weight_g") for k in generator.state_dict())
    return save_released(tmp_path / "fs", generator.state_dict(), cfg)


def _fairseq_vocoder(ckpt: str, cfg: dict):
    """fairseq's own loading path: torch.load, load_state_dict, remove_weight_norm."""
    from fairseq.models.text_to_speech.vocoder import CodeHiFiGANVocoder

    return CodeHiFiGANVocoder(ckpt, cfg).eval()


@pytest.mark.parametrize("with_dur", [False, True])
def test_waveform_matches_fairseq(tmp_path, with_dur):
    cfg = tiny_config(dur=with_dur)
    ckpt, config = _fairseq_files(tmp_path, cfg)
    ref_model = _fairseq_vocoder(ckpt, cfg)
    ours = load_vocoder(ckpt, config)
    hop = 2 * 3
    gen = torch.Generator().manual_seed(1)
    for length in (1, 2, 9, 31):
        units = torch.randint(0, cfg["num_embeddings"], (length,), generator=gen)
        modes = [False, True] if with_dur else [False]
        for dur in modes:
            with torch.no_grad():
                ref = ref_model({"code": units[None].clone()}, dur_prediction=dur).reshape(-1)
            out = ours.synthesize([units], dur_prediction=dur)[0]
            assert out.shape == ref.shape
            assert (out - ref).abs().max().item() < 1e-4, (length, dur)
            if not dur:
                assert out.numel() == length * hop
            assert ref.abs().mean() > 0.05  # not a silent, degenerate model


def test_predicted_durations_match_fairseq(tmp_path):
    """Same rounding: max(1, round(exp(log d) - 1)); the output is frames x hop long."""
    cfg = tiny_config(dur=True)
    ckpt, config = _fairseq_files(tmp_path, cfg, seed=3)
    ref_model = _fairseq_vocoder(ckpt, cfg).model
    ours = load_vocoder(ckpt, config)
    units = torch.tensor([0, 3, 6, 2, 5, 1, 4, 0, 6])
    with torch.no_grad():
        emb = ref_model.dict(units[None])
        ref_d = torch.clamp(torch.round(torch.exp(ref_model.dur_predictor(emb)) - 1).long(), min=1)
        d = ours.dur_predictor.durations(ours.dict(units[None]).transpose(1, 2))
    assert d.tolist() == ref_d.tolist() and len(set(d[0].tolist())) > 1
    out = ours.synthesize([units], dur_prediction=True)[0]
    assert out.numel() == int(d.sum()) * 6


def test_released_shapes_match_fairseq(tmp_path):
    """The mHuBERT-1000 vocoder's exact shapes (random weights), with the duration predictor."""
    cfg = dict(RELEASED_MHUBERT_KM1000)
    ckpt, config = _fairseq_files(tmp_path, cfg)
    ref_model = _fairseq_vocoder(ckpt, cfg)
    ours = load_vocoder(ckpt, config)
    assert ours.hop == 320 and tuple(ours.ups[0].weight.shape) == (512, 256, 11)
    units = torch.tensor([5, 999, 0, 17, 512, 3])
    for dur in (False, True):
        with torch.no_grad():
            ref = ref_model({"code": units[None].clone()}, dur_prediction=dur).reshape(-1)
        out = ours.synthesize([units], dur_prediction=dur)[0]
        assert out.shape == ref.shape
        assert (out - ref).abs().max().item() < 1e-4
    assert ours.synthesize([units])[0].numel() == 6 * 320
