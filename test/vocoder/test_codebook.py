"""The unit codebook vocoder (``vocoder.codebook``): learnt from audio whose units are known
(unit 0 a 300 Hz tone, unit 1 a 1.5 kHz tone), it says each unit at its own pitch for its mean
run length, masked units as silence; saved and loaded back exactly; bad files are one error."""

from __future__ import annotations

import pytest
import torch

from espnet2_speechprompt.vocoder.codebook import HOP, SAMPLE_RATE, UnitCodebook
from espnet2_speechprompt.vocoder.errors import VocoderError


def tone(hz: float, frames: int) -> torch.Tensor:
    t = torch.arange(frames * HOP) / SAMPLE_RATE
    return 0.5 * torch.sin(2 * torch.pi * hz * t)


def strongest_hz(wav: torch.Tensor) -> float:
    spectrum = torch.fft.rfft(wav).abs()
    return float(spectrum.argmax()) * SAMPLE_RATE / len(wav)


def codebook() -> UnitCodebook:
    utterances = []
    for _ in range(3):  # unit 0 in runs of 20 frames, unit 1 in runs of 40
        wav = torch.cat([tone(300, 20), tone(1500, 40)])
        utterances.append((wav, [0] * 20 + [1] * 40))
    return UnitCodebook.learn(utterances, num_units=3)


def test_each_unit_sounds_as_learnt_for_its_run_length():
    book = codebook()
    assert book.durations[:2].tolist() == pytest.approx([20, 40], abs=1)
    assert book.durations[2] == 1  # never seen
    low, high = book.synthesize([0]), book.synthesize([1])
    assert abs(strongest_hz(low) - 300) < 60 and abs(strongest_hz(high) - 1500) < 60
    assert abs(len(high) / len(low) - 2) < 0.3
    masked = book.synthesize([0, -1, 1])
    middle = masked[len(low) : len(low) + 10 * HOP]
    assert masked.abs().max() <= 0.9 + 1e-6
    assert len(masked) > len(low) + len(high)  # the masked unit lasts a frame of silence
    assert middle.abs().mean() < masked.abs().mean()
    assert torch.equal(book.synthesize([1, 0]), book.synthesize([1, 0]))  # deterministic


def test_save_load_and_bad_files(tmp_path):
    book = codebook()
    book.save(tmp_path / "codebook.pt")
    loaded = UnitCodebook.load(tmp_path / "codebook.pt")
    assert torch.equal(loaded.frames, book.frames) and torch.equal(loaded.durations, book.durations)
    torch.save({"frames": torch.zeros(3, 5)}, tmp_path / "bad.pt")
    with pytest.raises(VocoderError, match="not a unit codebook"):
        UnitCodebook.load(tmp_path / "bad.pt")
    with pytest.raises(VocoderError, match="beyond the codebook"):
        book.synthesize([7])
