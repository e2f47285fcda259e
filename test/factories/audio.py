"""Tiny audio: tones with noise, and a Kaldi-style data dir of them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile


def tone(seconds: float, freq: float, seed: int, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(seed).normal(0, 0.05, t.shape)
    return (0.4 * np.sin(2 * np.pi * freq * t) + noise).astype(np.float32)


def make_tone_data_dir(root: Path) -> str:
    """``root/data/wav.scp`` of 6 utterances of tones + noise (``root/wavs/utt<i>.wav``);
    ``utt3`` is read through a ``cat ... |`` pipe."""
    wavs = root / "wavs"
    wavs.mkdir()
    lines = []
    for i in range(6):
        path = wavs / f"utt{i}.wav"
        soundfile.write(path, tone(0.3 + 0.1 * i, 200 + 150 * i, i), 16000)
        entry = f"cat {path} |" if i == 3 else os.fspath(path)
        lines.append(f"utt{i} {entry}\n")
    data = root / "data"
    data.mkdir()
    (data / "wav.scp").write_text("".join(lines))
    return os.fspath(data)
