"""Frame features for unit extraction: one small interface, an MFCC and a HuBERT reader."""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
import torch
import torchaudio
from torchaudio.compliance import kaldi

from espnet2_speechprompt.checkpoints.hubert import load_hubert
from espnet2_speechprompt.precision import autocast_to, resolve_backbone_dtype, set_frozen_dtype
from espnet2_speechprompt.speechlm.hubert import HubertModel
from espnet2_speechprompt.units.audio import SAMPLE_RATE, prepare_audio
from espnet2_speechprompt.units.errors import UnitsError

logger = logging.getLogger(__name__)

Audio = np.ndarray | torch.Tensor


class FeatureReader(ABC):
    """Features ``[B, T, D]`` (+ frame lengths ``[B]``) for a batch of waveforms.

    Waveforms may have any rate and channel count (see :func:`prepare_audio`); padded frames
    of the batch are zero, and a batch gives the same features as one-at-a-time extraction.
    """

    dim: int  # feature dimension
    hop: int  # samples per frame at 16 kHz
    min_samples: int  # shortest usable audio at 16 kHz

    def __init__(self) -> None:
        self._notes: set[str] = set()

    def prepare(self, wav: Audio, sample_rate: int = SAMPLE_RATE, utt: str = "?") -> torch.Tensor:
        return prepare_audio(wav, sample_rate, utt, min_samples=self.min_samples, notes=self._notes)

    @torch.no_grad()
    def __call__(
        self,
        wavs: Sequence[Audio],
        sample_rates: int | Sequence[int] = SAMPLE_RATE,
        utts: Sequence[str] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        rates = [sample_rates] * len(wavs) if isinstance(sample_rates, int) else sample_rates
        names = utts if utts is not None else [f"#{i}" for i in range(len(wavs))]
        prepared = [self.prepare(w, r, u) for w, r, u in zip(wavs, rates, names, strict=True)]
        return self.extract(prepared)

    def one(self, wav: Audio, sample_rate: int = SAMPLE_RATE, utt: str = "?") -> torch.Tensor:
        """Features ``[T, D]`` of a single waveform."""
        feats, lengths = self([wav], sample_rate, [utt])
        return feats[0, : int(lengths[0])]

    @abstractmethod
    def extract(self, wavs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Features of prepared (16 kHz mono, long enough) waveforms."""


def _pad(frames: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([f.shape[0] for f in frames], dtype=torch.long)
    return torch.nn.utils.rnn.pad_sequence(frames, batch_first=True), lengths


class MfccReader(FeatureReader):
    """Kaldi-style MFCC (13 ceps, 25 ms window, 10 ms hop, no dither) + Δ + ΔΔ = 39 dims.

    Samples are scaled to the 16-bit range first, as Kaldi reads wav files. ``cmvn`` (default
    on) normalises each utterance to zero mean and unit variance per dimension. ``smooth``
    (frames, odd) averages each frame with its neighbours (after CMVN), so that units change
    less from frame to frame and from voice to voice. ``trim_db`` drops the leading and
    trailing frames whose energy is more than ``trim_db`` dB below the utterance's loudest
    frame (one frame of margin kept on each side): the units then start and end with speech.
    """

    dim, hop, min_samples = 39, 160, 400

    def __init__(
        self, cmvn: bool = True, num_ceps: int = 13, smooth: int = 1, trim_db: float | None = None
    ):
        super().__init__()
        if smooth < 1 or smooth % 2 == 0:
            raise UnitsError(f"MFCC smoothing must be an odd number of frames, not {smooth}")
        if trim_db is not None and trim_db <= 0:
            raise UnitsError(f"trim_db must be positive (dB below the loudest frame): {trim_db}")
        self.cmvn, self.num_ceps, self.smooth, self.trim_db = cmvn, num_ceps, smooth, trim_db
        self.dim = 3 * num_ceps

    def _mfcc(self, wav: torch.Tensor) -> torch.Tensor:
        static = kaldi.mfcc(
            wav[None] * 32768.0,
            sample_frequency=SAMPLE_RATE,
            frame_length=25.0,
            frame_shift=10.0,
            num_ceps=self.num_ceps,
            use_energy=False,
            dither=0.0,
        )  # [T, C]
        delta = torchaudio.functional.compute_deltas(static.T)
        delta2 = torchaudio.functional.compute_deltas(delta)
        feats = torch.cat([static.T, delta, delta2], dim=0).T
        if self.cmvn:
            std = feats.std(dim=0, unbiased=False, keepdim=True).clamp_min(1e-5)
            feats = (feats - feats.mean(dim=0, keepdim=True)) / std
        if self.smooth > 1:
            feats = moving_average(feats, self.smooth)
        if self.trim_db is not None:
            first, last = speech_span(wav, feats.shape[0], self.trim_db)
            feats = feats[first:last]
        return feats

    def extract(self, wavs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return _pad([self._mfcc(w) for w in wavs])


def moving_average(frames: torch.Tensor, width: int) -> torch.Tensor:
    """Each frame ``[T, D]`` averaged with its ``width // 2`` neighbours on each side (the edge
    frames repeated beyond the ends)."""
    half = width // 2
    padded = torch.cat([frames[:1].expand(half, -1), frames, frames[-1:].expand(half, -1)])
    return padded.unfold(0, width, 1).mean(dim=-1)


def speech_span(wav: torch.Tensor, num_frames: int, below_db: float) -> tuple[int, int]:
    """Frames ``[first, last)`` from the first to the last 25 ms frame whose energy is within
    ``below_db`` dB of the loudest one, one more frame on each side."""
    frames = wav[: (num_frames - 1) * 160 + 400].unfold(0, 400, 160)[:num_frames]
    energy = 10 * torch.log10(frames.double().pow(2).mean(dim=-1) + 1e-10)
    loud = torch.nonzero(energy > energy.max() - below_db).flatten()
    return max(0, int(loud[0]) - 1), min(num_frames, int(loud[-1]) + 2)


class HubertReader(FeatureReader):
    """Hidden states of layer ``layer`` (1-based, as fairseq's ``output_layer``) of HuBERT;
    ``precision`` (``precision.BACKBONE_PRECISIONS``) as for a prompted backbone: bf16 weights
    and matrix products (norms in fp32), float32 features out."""

    def __init__(
        self,
        model: HubertModel | str | os.PathLike,
        layer: int,
        device: str | torch.device = "cpu",
        normalize: bool | None = None,
        precision: str = "auto",
    ):
        super().__init__()
        if not isinstance(model, HubertModel):
            model = load_hubert(model, normalize=normalize)
        try:
            model.truncate(layer)
        except ValueError as exc:
            raise UnitsError(str(exc)) from None
        self.model, self.layer, self.device = model.eval().to(device), layer, torch.device(device)
        self.dtype = resolve_backbone_dtype(precision, self.device)
        set_frozen_dtype(self.model, self.dtype)
        self.dim = model.cfg.embed_dim
        self.hop = model.feature_extractor.hop
        self.min_samples = model.feature_extractor.receptive_field

    def extract(self, wavs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = torch.tensor([w.numel() for w in wavs], dtype=torch.long)
        batch = torch.nn.utils.rnn.pad_sequence(wavs, batch_first=True).to(self.device)
        with autocast_to(self.model):
            feats, frames = self.model(batch, lengths.to(self.device), output_layer=self.layer)
        feats = feats.float()
        pad = torch.arange(feats.shape[1], device=feats.device)[None] >= frames[:, None]
        return feats.masked_fill(pad[..., None], 0.0).cpu(), frames.cpu()


def build_reader(
    kind: str,
    *,
    checkpoint: str | None = None,
    layer: int | None = None,
    cmvn: bool = True,
    smooth: int = 1,
    trim_db: float | None = None,
    device: str = "cpu",
    precision: str = "auto",
) -> FeatureReader:
    """A reader by name: ``mfcc`` (``cmvn``, ``smooth``, ``trim_db``: see ``MfccReader``) or
    ``hubert`` (needs ``checkpoint`` and ``layer``; runs in ``precision``)."""
    if kind == "mfcc":
        return MfccReader(cmvn=cmvn, smooth=smooth, trim_db=trim_db)
    if smooth != 1 or trim_db is not None:
        raise UnitsError("smoothing and silence trimming are options of the mfcc feature")
    if kind == "hubert":
        if not checkpoint or layer is None:
            raise UnitsError("the hubert feature needs a checkpoint and a layer")
        return HubertReader(checkpoint, layer, device=device, precision=precision)
    raise UnitsError(f"unknown feature type {kind!r} (mfcc | hubert)")
