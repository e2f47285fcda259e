"""A units-to-audio path for units no vocoder was trained on (the mini recipes' MFCC k-means):
per unit, the mean log-mel frame of the training audio where the unit was chosen, and its mean
run length; units become frames (each repeated by its run length), the frames a magnitude
spectrogram, and Griffin-Lim the waveform. Rough, buzzy speech, but enough to hear what a model
generated. Frames are 10 ms (the units' frame rate), 80 mel bands at 16 kHz.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from ..safe_load import load_state_dict_file
from .errors import VocoderError

SAMPLE_RATE, N_FFT, HOP, N_MELS = 16000, 1024, 160, 80
FLOOR = 1e-5  # of the magnitude, before the log


def _mel():
    import torchaudio

    return torchaudio.transforms.MelSpectrogram(
        SAMPLE_RATE, n_fft=N_FFT, win_length=400, hop_length=HOP, n_mels=N_MELS, power=1.0
    )


def log_mel(wav: torch.Tensor) -> torch.Tensor:
    """``[T, N_MELS]`` log-mel frames of 16 kHz audio ``[N]``."""
    return torch.log(_mel()(wav.float()).clamp(min=FLOOR)).T


def run_lengths(units: Sequence[int]) -> list[tuple[int, int]]:
    """(unit, frames) of each run of a frame-level unit sequence."""
    runs: list[tuple[int, int]] = []
    for unit in units:
        if runs and runs[-1][0] == unit:
            runs[-1] = (unit, runs[-1][1] + 1)
        else:
            runs.append((unit, 1))
    return runs


@dataclass
class UnitCodebook:
    frames: torch.Tensor  # [K, N_MELS] mean log-mel frame of each unit
    durations: torch.Tensor  # [K] mean run length (frames) of each unit, at least 1

    @classmethod
    def learn(cls, utterances: Iterable[tuple[torch.Tensor, Sequence[int]]], num_units: int):
        """From (16 kHz audio, its frame-level units) pairs; a unit never seen gets the mean
        frame of all and one frame."""
        sums, counts = torch.zeros(num_units, N_MELS), torch.zeros(num_units)
        run_sum, run_count = torch.zeros(num_units), torch.zeros(num_units)
        for wav, units in utterances:
            frames = log_mel(wav)
            n = min(len(frames), len(units))
            ids = torch.tensor(list(units[:n]), dtype=torch.long)
            sums.index_add_(0, ids, frames[:n])
            counts.index_add_(0, ids, torch.ones(n))
            for unit, length in run_lengths(units[:n]):
                run_sum[unit] += length
                run_count[unit] += 1
        if not counts.any():
            raise VocoderError("no audio to learn the unit codebook from")
        seen = counts > 0
        frames = sums.sum(0, keepdim=True).expand(num_units, -1) / counts.sum()
        frames = torch.where(seen[:, None], sums / counts.clamp(min=1)[:, None], frames)
        durations = (run_sum / run_count.clamp(min=1)).round().clamp(min=1)
        return cls(frames.contiguous(), durations)

    def spectrogram(self, units: Sequence[int]) -> torch.Tensor:
        """``[N_MELS, T]`` mel magnitudes of deduplicated units (-1: a masked unit, silence)."""
        ids = torch.tensor([max(u, 0) for u in units], dtype=torch.long)
        if len(ids) and int(ids.max()) >= len(self.frames):
            raise VocoderError(f"unit {int(ids.max())} is beyond the codebook's {len(self.frames)}")
        frames = self.frames[ids].clone()
        frames[torch.tensor([u < 0 for u in units], dtype=torch.bool)] = torch.log(
            torch.tensor(FLOOR)
        )
        frames = frames.repeat_interleave(self.durations[ids].long(), dim=0)
        return frames.exp().T

    def synthesize(self, units: Sequence[int], iterations: int = 32) -> torch.Tensor:
        """16 kHz audio ``[N]`` of deduplicated units (Griffin-Lim, seeded: deterministic)."""
        import torchaudio

        if not len(units):
            return torch.zeros(0)
        mel = self.spectrogram(units)
        linear = torchaudio.transforms.InverseMelScale(N_FFT // 2 + 1, N_MELS, SAMPLE_RATE)(mel)
        griffin = torchaudio.transforms.GriffinLim(
            N_FFT, n_iter=iterations, win_length=400, hop_length=HOP, power=1.0, rand_init=False
        )
        wav = griffin(linear.clamp(min=0))
        return 0.9 * wav / wav.abs().max().clamp(min=1e-6)

    def save(self, path: str | os.PathLike) -> None:
        from ..fileio import atomic_path

        with atomic_path(path, ".pt") as tmp:
            torch.save({"frames": self.frames, "durations": self.durations}, tmp)

    @classmethod
    def load(cls, path: str | os.PathLike) -> UnitCodebook:
        state = load_state_dict_file(path, kind="unit codebook", remedy="learn it again")
        if set(state) != {"frames", "durations"} or state["frames"].shape[-1] != N_MELS:
            raise VocoderError(f"{path}: not a unit codebook (frames [K, {N_MELS}], durations)")
        return cls(state["frames"].float(), state["durations"].float())
