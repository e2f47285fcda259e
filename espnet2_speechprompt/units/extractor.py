"""Speech to units in one configured object: feature reader + k-means (+ dedup)."""

from __future__ import annotations

import os

import numpy as np
import torch

from .dedup import dedup as deduplicate
from .features import SAMPLE_RATE, build_reader
from .kmeans import KMeansQuantizer


class UnitExtractor:
    """``UnitExtractor(kmeans="km.bin", feature="hubert", checkpoint=..., layer=6)(wav)``."""

    def __init__(
        self,
        kmeans: str,
        feature: str = "mfcc",
        checkpoint: str | None = None,
        layer: int | None = None,
        cmvn: bool = True,
        smooth: int = 1,
        trim_db: float | None = None,
        dedup: bool = True,
        device: str = "cpu",
        precision: str = "auto",
    ):
        self.kmeans_path, self.checkpoint, self.dedup = kmeans, checkpoint, dedup
        self.reader = build_reader(
            feature, checkpoint=checkpoint, layer=layer, cmvn=cmvn, smooth=smooth,
            trim_db=trim_db, device=device, precision=precision,
        )  # fmt: skip
        self.quantizer = KMeansQuantizer.from_file(kmeans).to(device)

    def files(self) -> dict[str, str]:
        files = {"kmeans": os.fspath(self.kmeans_path)}
        if self.checkpoint:
            files["feature_checkpoint"] = os.fspath(self.checkpoint)
        return files

    @torch.no_grad()
    def __call__(
        self, wav: np.ndarray | torch.Tensor, sample_rate: int = SAMPLE_RATE, utt: str = "input"
    ) -> list[int]:
        features = self.reader.one(wav, sample_rate, utt)
        self.quantizer.check_dim(features.shape[-1])
        units = self.quantizer(features.to(self.quantizer.centres.device)).cpu()
        return deduplicate(units).tolist() if self.dedup else units.tolist()
