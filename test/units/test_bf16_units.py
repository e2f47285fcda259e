"""HuBERT in bfloat16 (weights and matrix products; norms fp32) gives the same k-means units
as float32 on at least 98 % of frames, on the tiny model and on a full-size HuBERT-base."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from espnet2_speechprompt.checkpoints.hubert import HUBERT_BASE_CONV, parse_conv_layers
from espnet2_speechprompt.speechlm.hubert import HubertConfig, HubertModel
from espnet2_speechprompt.units.features import HubertReader
from espnet2_speechprompt.units.kmeans import KMeansQuantizer
from test.factories.audio import tone
from test.factories.hubert import tiny_hubert

UNIT_AGREEMENT_BAR = 0.98


def base_hubert() -> HubertModel:
    torch.manual_seed(0)
    return HubertModel(HubertConfig(parse_conv_layers(HUBERT_BASE_CONV))).eval()


def speech_like(seconds: float, seed: int) -> np.ndarray:
    """Tones whose pitch moves, plus noise: varied frames for k-means."""
    rng = np.random.default_rng(seed)
    parts = [tone(0.25, float(rng.uniform(100, 900)), seed + i) for i in range(int(seconds * 4))]
    wav = np.concatenate(parts)
    return (wav + 0.05 * rng.standard_normal(wav.shape)).astype(np.float32)


def centres_of(feats: torch.Tensor, k: int) -> torch.Tensor:
    """k-means (Lloyd, 10 steps) on fp32 features, seeded from evenly spaced frames."""
    centres = feats[torch.linspace(0, len(feats) - 1, k).long()].clone()
    for _ in range(10):
        nearest = torch.cdist(feats, centres).argmin(1)
        for c in range(k):
            if (nearest == c).any():
                centres[c] = feats[nearest == c].mean(0)
    return centres


@pytest.mark.parametrize(
    ("make", "layer"), [(tiny_hubert, 2), (base_hubert, 6)], ids=["tiny", "hubert-base"]
)
def test_bf16_units_agree_with_fp32_units(make, layer):
    wavs = [speech_like(2.0, seed) for seed in range(3)]
    fp32 = HubertReader(make(), layer, precision="float32")
    bf16 = HubertReader(make(), layer, precision="bfloat16")
    assert bf16.dtype == torch.bfloat16 and fp32.dtype == torch.float32
    feats32 = torch.cat([fp32.one(w) for w in wavs])
    feats16 = torch.cat([bf16.one(w) for w in wavs])
    assert feats16.dtype == torch.float32 and feats16.shape == feats32.shape
    quantizer = KMeansQuantizer(centres_of(feats32, 50))
    agreement = (quantizer(feats32) == quantizer(feats16)).float().mean().item()
    assert agreement >= UNIT_AGREEMENT_BAR, f"units agree on {agreement:.1%} of frames"
