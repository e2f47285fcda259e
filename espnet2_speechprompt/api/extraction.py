"""Speech to units at inference: the unit extractor a task was trained with (its
``unit_extractor_conf``, a package's k-means file, the caller's overrides), built on first use,
its files checked against the package's ``backbone.yaml``."""

from __future__ import annotations

import os

import numpy as np
import torch

from ..errors import SpeechPromptError
from .packing import verify_backbone


def extractor_conf(
    config_conf: dict | None,
    packaged_kmeans: str | os.PathLike | None = None,
    override: dict | None = None,
    kmeans: str | os.PathLike | None = None,
) -> dict:
    """Unit extractor settings: the config's, the package's k-means file, then the overrides."""
    conf = dict(config_conf or {})
    if packaged_kmeans:
        conf["kmeans"] = os.fspath(packaged_kmeans)
    conf.update(override or {})
    if kmeans:
        conf["kmeans"] = os.fspath(kmeans)
    return conf


class SpeechUnits:
    """``SpeechUnits(conf, backbone_record)(wav, sample_rate)`` -> k-means unit ids."""

    def __init__(
        self, conf: dict, backbone_record: str | os.PathLike | None = None, device: str = "cpu"
    ):
        self.conf, self.backbone_record, self.device = conf, backbone_record, device
        self._extractor = None

    @property
    def extractor(self):
        """The configured ``UnitExtractor``, its files checked against the package's."""
        if self._extractor is None:
            from ..units.extractor import UnitExtractor

            if not self.conf:
                raise SpeechPromptError(
                    "this task has no unit_extractor_conf: pass units, or train with "
                    "--unit_extractor_conf kmeans=...,feature=..."
                )
            if self.backbone_record is not None:
                files = {
                    "kmeans": self.conf.get("kmeans"),
                    "feature_checkpoint": self.conf.get("checkpoint"),
                }
                verify_backbone(self.backbone_record, {k: v for k, v in files.items() if v})
            self._extractor = UnitExtractor(**self.conf, device=self.device)
        return self._extractor

    def __call__(
        self, speech: np.ndarray | torch.Tensor, sample_rate: int = 16000, utt: str = "input"
    ) -> list[int]:
        return self.extractor(speech, sample_rate, utt)
