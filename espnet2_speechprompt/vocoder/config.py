"""The unit HiFi-GAN's JSON config (the ``config.json`` released beside ``g_00500000``)."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

from espnet2_speechprompt.vocoder.errors import VocoderCheckpointError

# The released mHuBERT L11 km1000 LJ vocoder's generator config
# (unit_hifigan_mhubert_vp_en_es_fr_it3_400k_layer11_km1000_lj_dur, its config.json):
# the shapes the benchmark and the fairseq parity test build with random weights.
RELEASED_MHUBERT_KM1000: dict[str, Any] = {
    "resblock": "1",
    "upsample_rates": [5, 4, 4, 2, 2],
    "upsample_kernel_sizes": [11, 8, 8, 4, 4],
    "upsample_initial_channel": 512,
    "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    "num_embeddings": 1000,
    "embedding_dim": 128,
    "model_in_dim": 128,
    "sampling_rate": 16000,
    "f0": False,
    "dur_predictor_params": {
        "encoder_embed_dim": 128,
        "var_pred_hidden_dim": 128,
        "var_pred_kernel_size": 3,
        "var_pred_dropout": 0.5,
    },
}


@dataclass
class DurationPredictorConfig:
    """fairseq ``VariancePredictor`` sizes (``dur_predictor_params``)."""

    encoder_embed_dim: int = 128
    var_pred_hidden_dim: int = 128
    var_pred_kernel_size: int = 3
    var_pred_dropout: float = 0.5


@dataclass
class VocoderConfig:
    """Generator fields of the config; training-only fields are ignored."""

    upsample_rates: list[int] = field(default_factory=lambda: [5, 4, 4, 2, 2])
    upsample_kernel_sizes: list[int] = field(default_factory=lambda: [11, 8, 8, 4, 4])
    upsample_initial_channel: int = 512
    resblock_kernel_sizes: list[int] = field(default_factory=lambda: [3, 7, 11])
    resblock_dilation_sizes: list[list[int]] = field(
        default_factory=lambda: [[1, 3, 5], [1, 3, 5], [1, 3, 5]]
    )
    num_embeddings: int = 1000
    embedding_dim: int = 128
    model_in_dim: int = 128
    sampling_rate: int = 16000
    dur_predictor: DurationPredictorConfig | None = None

    @property
    def hop(self) -> int:
        """Output samples per input frame: the product of the upsampling rates."""
        return math.prod(self.upsample_rates)

    @classmethod
    def from_dict(cls, cfg: dict[str, Any], where: str = "config") -> VocoderConfig:
        """Validate the fields this generator needs; one clear error for anything else."""

        def bad(msg: str) -> VocoderCheckpointError:
            return VocoderCheckpointError(f"{where}: {msg}")

        required = [
            "upsample_rates",
            "upsample_kernel_sizes",
            "upsample_initial_channel",
            "resblock_kernel_sizes",
            "resblock_dilation_sizes",
            "num_embeddings",
            "embedding_dim",
        ]
        missing = [k for k in required if k not in cfg]
        if missing:
            raise bad(f"missing field(s) {', '.join(missing)} (is this a unit HiFi-GAN config?)")
        for flag in ("f0", "multispkr", "multistyle", "embedder_params"):
            if cfg.get(flag):
                raise bad(f"'{flag}' vocoders (F0/speaker/style conditioned) are not supported")
        if str(cfg.get("resblock", "1")) != "1":
            raise bad(f"resblock type {cfg['resblock']!r} is not supported (only \"1\")")
        try:
            config = cls(
                upsample_rates=[int(u) for u in cfg["upsample_rates"]],
                upsample_kernel_sizes=[int(k) for k in cfg["upsample_kernel_sizes"]],
                upsample_initial_channel=int(cfg["upsample_initial_channel"]),
                resblock_kernel_sizes=[int(k) for k in cfg["resblock_kernel_sizes"]],
                resblock_dilation_sizes=[
                    [int(d) for d in ds] for ds in cfg["resblock_dilation_sizes"]
                ],
                num_embeddings=int(cfg["num_embeddings"]),
                embedding_dim=int(cfg["embedding_dim"]),
                model_in_dim=int(cfg.get("model_in_dim", cfg["embedding_dim"])),
                sampling_rate=int(cfg.get("sampling_rate", 16000)),
            )
            dur = cfg.get("dur_predictor_params")
            if dur:
                config.dur_predictor = DurationPredictorConfig(
                    **{k: dur[k] for k in DurationPredictorConfig.__dataclass_fields__ if k in dur}
                )
        except (TypeError, ValueError) as exc:
            raise bad(f"malformed generator field ({exc})") from None
        config._check(bad)
        return config

    def _check(self, bad: Any) -> None:
        if len(self.upsample_rates) != len(self.upsample_kernel_sizes):
            raise bad("upsample_rates and upsample_kernel_sizes differ in length")
        if len(self.resblock_kernel_sizes) != len(self.resblock_dilation_sizes):
            raise bad("resblock_kernel_sizes and resblock_dilation_sizes differ in length")
        for u, k in zip(self.upsample_rates, self.upsample_kernel_sizes, strict=True):
            if u < 1 or k < u or (k - u) % 2:
                raise bad(
                    f"upsample kernel {k} with rate {u}: need kernel >= rate and an even "
                    "difference (else the output is not frames x hop samples)"
                )
        if not all(self.resblock_dilation_sizes) or min(map(min, self.resblock_dilation_sizes)) < 1:
            raise bad("every resblock needs at least one dilation, each >= 1")
        if any(k % 2 == 0 for k in self.resblock_kernel_sizes):
            raise bad(f"resblock_kernel_sizes must be odd (got {self.resblock_kernel_sizes})")
        if self.upsample_initial_channel % 2 ** len(self.upsample_rates):
            raise bad("upsample_initial_channel is not divisible by 2**len(upsample_rates)")
        if self.model_in_dim != self.embedding_dim:
            raise bad(
                f"model_in_dim {self.model_in_dim} != embedding_dim {self.embedding_dim}: "
                "extra conditioning inputs are not supported"
            )
        dur = self.dur_predictor
        if dur is not None:
            if dur.encoder_embed_dim != self.embedding_dim:
                raise bad(
                    f"dur_predictor_params.encoder_embed_dim {dur.encoder_embed_dim} != "
                    f"embedding_dim {self.embedding_dim}"
                )
            if dur.var_pred_kernel_size != 3:  # fairseq hard-codes padding=1 in its 2nd conv
                raise bad("dur_predictor_params.var_pred_kernel_size must be 3 (as in fairseq)")


def read_config(path: str | os.PathLike) -> VocoderConfig:
    """Parse a vocoder ``config.json``."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise VocoderCheckpointError(f"{path}: no such vocoder config file")
    try:
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VocoderCheckpointError(f"{path}: not a readable JSON config ({exc})") from None
    if not isinstance(cfg, dict):
        raise VocoderCheckpointError(f"{path}: expected a JSON object")
    return VocoderConfig.from_dict(cfg, where=path)
