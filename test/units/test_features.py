"""Feature readers: MFCC and native HuBERT; audio contract; batched == one at a time."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchaudio

from espnet2_speechprompt.checkpoints.hubert import HUBERT_BASE_CONV, parse_conv_layers
from espnet2_speechprompt.speechlm.hubert import ConvFeatureExtractor
from espnet2_speechprompt.units.audio import prepare_audio
from espnet2_speechprompt.units.dedup import dedup
from espnet2_speechprompt.units.errors import AudioError, UnitsError
from espnet2_speechprompt.units.features import HubertReader, MfccReader, build_reader
from test.factories.audio import tone
from test.factories.hubert import tiny_hubert


def test_dedup_tensor_and_list():
    units = torch.tensor([5, 5, 3, 3, 3, 5, 7, 7])
    values, durations = dedup(units, return_durations=True)
    assert values.tolist() == [5, 3, 5, 7] and durations.tolist() == [2, 3, 1, 2]
    assert torch.equal(dedup(units), values)
    assert dedup([1, 1, 2]) == [1, 2]
    assert dedup([], return_durations=True) == ([], [])
    with pytest.raises(ValueError, match="1-D"):
        dedup(torch.zeros(2, 2, dtype=torch.long))


def test_hubert_base_frame_arithmetic():
    extractor = ConvFeatureExtractor(parse_conv_layers(HUBERT_BASE_CONV), "default", False)
    assert (extractor.receptive_field, extractor.hop) == (400, 320)
    lengths = torch.tensor([400, 16000, 48000, 719, 720])
    assert extractor.output_lengths(lengths).tolist() == [1, 49, 149, 1, 2]


def test_mfcc_shape_and_normalisation():
    wav = tone(1.0, 300, 0)
    feats = MfccReader().one(wav)
    assert feats.shape == (1 + (16000 - 400) // 160, 39)
    torch.testing.assert_close(feats.mean(0), torch.zeros(39), atol=1e-4, rtol=0)
    torch.testing.assert_close(feats.std(0, unbiased=False), torch.ones(39), atol=1e-3, rtol=0)
    raw = MfccReader(cmvn=False).one(wav)
    assert raw.shape == feats.shape and raw[:, 0].mean() > 1  # c0 is not normalised


def test_mfcc_smoothing_averages_neighbouring_frames():
    wav = tone(0.5, 300, 0) + tone(0.5, 1200, 1) * np.linspace(0, 1, 8000, dtype=np.float32)
    plain, smooth = MfccReader().one(wav), MfccReader(smooth=3).one(wav)
    assert smooth.shape == plain.shape
    torch.testing.assert_close(smooth[1:-1], (plain[:-2] + plain[1:-1] + plain[2:]) / 3)
    torch.testing.assert_close(smooth[0], (2 * plain[0] + plain[1]) / 3)  # edge repeated


def test_mfcc_trimming_keeps_the_loud_stretch_and_a_frame_either_side():
    silence, sound = np.zeros(4000, np.float32), tone(0.5, 300, 0)  # 0.25 s, 0.5 s
    quiet = 1e-4 * np.random.default_rng(0).standard_normal(4000).astype(np.float32)
    wav = np.concatenate([silence + quiet, sound, silence + quiet])
    full, trimmed = MfccReader().one(wav), MfccReader(trim_db=25).one(wav)
    assert full.shape[0] == 1 + (16000 - 400) // 160
    # frames wholly or partly in the tone: from 4000 - 400 + 160 to 12000 (hop 160), +1 each side
    first, last = (4000 - 400) // 160 + 1, (12000 - 1) // 160
    assert trimmed.shape[0] == last - first + 1 + 2
    assert MfccReader(trim_db=25).one(sound).shape[0] == MfccReader().one(sound).shape[0]


def test_mfcc_options_are_checked():
    for bad in (dict(smooth=2), dict(smooth=0), dict(trim_db=0), dict(trim_db=-3.0)):
        with pytest.raises(UnitsError):
            MfccReader(**bad)
    with pytest.raises(UnitsError, match="options of the mfcc feature"):
        build_reader("hubert", checkpoint="x.pt", layer=1, smooth=5)


@pytest.mark.parametrize(
    "reader",
    [
        lambda: MfccReader(),
        lambda: MfccReader(smooth=5, trim_db=25),
        lambda: HubertReader(tiny_hubert("default"), layer=2, precision="float32"),
        lambda: HubertReader(
            tiny_hubert("layer_norm", layer_norm_first=True), layer=3, precision="float32"
        ),
    ],
    ids=["mfcc", "mfcc-smoothed-trimmed", "hubert-base", "hubert-large"],
)
def test_batched_equals_one_at_a_time(reader):
    reader = reader()
    wavs = [tone(s, 100 + 300 * i, i) for i, s in enumerate([0.5, 0.0251, 1.3, 0.9])]
    feats, lengths = reader(wavs)
    assert feats.shape == (4, int(lengths.max()), reader.dim)
    for i, wav in enumerate(wavs):
        single = reader.one(wav)
        assert single.shape[0] == lengths[i]
        torch.testing.assert_close(feats[i, : lengths[i]], single, atol=1e-5, rtol=1e-5)
        assert not feats[i, lengths[i] :].any()  # padding frames are zero


def test_resampling_and_channel_mixdown(caplog):
    reader = HubertReader(tiny_hubert(), layer=1, precision="float32")
    mono = torch.from_numpy(tone(0.5, 440, 0))
    at_8k = torchaudio.functional.resample(mono, 16000, 8000)
    with caplog.at_level("INFO"):
        resampled = reader.one(at_8k.numpy(), 8000, "utt8k")
        reader.one(at_8k.numpy(), 8000, "again")
    expected = reader.one(torchaudio.functional.resample(at_8k, 8000, 16000))
    torch.testing.assert_close(resampled, expected)
    assert sum("resampled" in r.message for r in caplog.records) == 1  # logged once
    stereo = torch.stack([mono, mono], dim=1).numpy()  # soundfile layout [N, C]
    torch.testing.assert_close(reader.one(stereo), reader.one(mono))
    torch.testing.assert_close(reader.one(stereo.T), reader.one(mono))  # [C, N] too
    mixed = prepare_audio(np.stack([mono, -mono], 1), 16000, "u", min_samples=1)
    assert torch.equal(mixed, torch.zeros_like(mono))


def test_audio_contract_errors():
    reader = MfccReader()
    bad = tone(0.5, 300, 0)
    bad[100] = np.nan
    with pytest.raises(AudioError, match="utterance u1: audio contains NaN or Inf"):
        reader([tone(0.5, 300, 0), bad], utts=["u0", "u1"])
    inf = tone(0.5, 300, 0)
    inf[3] = np.inf
    with pytest.raises(AudioError, match="utterance u2: audio contains NaN or Inf"):
        reader.one(inf, utt="u2")
    with pytest.raises(AudioError, match=r"utterance short: audio too short \(399 samples"):
        HubertReader(tiny_hubert(), 1).one(np.zeros(399, np.float32), utt="short")
    with pytest.raises(UnitsError, match="layer 4 is out of range: this HuBERT has 3 layers"):
        HubertReader(tiny_hubert(), 4)
    with pytest.raises(UnitsError, match="needs a checkpoint and a layer"):
        build_reader("hubert")


def test_hubert_reader_from_checkpoint(hubert_ckpt):
    reader = build_reader("hubert", checkpoint=hubert_ckpt, layer=2)
    reference = HubertReader(tiny_hubert(), layer=2)
    wav = tone(0.4, 300, 1)
    torch.testing.assert_close(reader.one(wav), reference.one(wav))
    assert len(reader.model.encoder.layers) == 2  # layers above the chosen one are dropped
