"""Audio in: ``wav.scp`` entries (file or ``command |``) and the 16 kHz mono contract."""

from __future__ import annotations

import io
import logging
import os
import subprocess

import numpy as np
import soundfile
import torch
import torchaudio

from espnet2_speechprompt.kaldi_text import read_entries
from espnet2_speechprompt.units.errors import AudioError, UnitsError

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000


def read_wav_scp(path: str | os.PathLike) -> list[tuple[str, str]]:
    """``(utt, entry)`` pairs in file order; an entry is a path or a ``command |`` pipe."""
    pairs = []
    for entry in read_entries(path, "wav.scp file"):
        if not entry.value:
            raise UnitsError(f"{entry.where}: expected 'utt path' or 'utt command |'")
        pairs.append((entry.key, entry.value))
    return pairs


def audio_rate(utt: str, path: str) -> int:
    """The sample rate in the header of an audio file (no samples are read)."""
    try:
        return int(soundfile.info(path).samplerate)
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError, TypeError ...
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AudioError(
            f"utterance {utt}: cannot read audio from {path} (corrupt or not audio: {reason})"
        ) from None


def read_audio(utt: str, entry: str) -> tuple[np.ndarray, int]:
    """Samples (``[N]`` or ``[N, C]`` float32) and rate for one ``wav.scp`` entry."""
    if entry.endswith("|"):
        command = entry[:-1].strip()
        proc = subprocess.run(command, shell=True, capture_output=True)  # a Kaldi pipe entry
        if proc.returncode != 0:
            detail = proc.stderr.decode(errors="replace").strip().splitlines()
            raise AudioError(
                f"utterance {utt}: command {command!r} failed with exit code {proc.returncode}"
                + (f" ({detail[-1]})" if detail else "")
            )
        source: io.BytesIO | str = io.BytesIO(proc.stdout)
        where = f"the output of {command!r}"
    else:
        if not os.path.isfile(entry):
            raise AudioError(f"utterance {utt}: audio file not found: {entry}")
        source, where = entry, entry
    try:
        samples, rate = soundfile.read(source, dtype="float32", always_2d=False)
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError, TypeError ...
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AudioError(
            f"utterance {utt}: cannot read audio from {where} (corrupt or not audio: {reason})"
        ) from None
    return samples, int(rate)


def note_resampling(sample_rate: int, utt: str, notes: set[str]) -> None:
    """Log, once per ``notes`` set and rate, that audio at ``sample_rate`` is resampled."""
    if sample_rate != SAMPLE_RATE and f"rate{sample_rate}" not in notes:
        notes.add(f"rate{sample_rate}")
        logger.info("audio at %d Hz (e.g. %s) is resampled to 16 kHz", sample_rate, utt)


def prepare_audio(
    wav: np.ndarray | torch.Tensor,
    sample_rate: int,
    utt: str,
    *,
    min_samples: int,
    notes: set[str] | None = None,
) -> torch.Tensor:
    """The 16 kHz mono float32 waveform ``[N]`` a feature reader expects.

    2-D input is mixed down over its smaller axis (channels); other rates are resampled. Both
    are logged once per ``notes`` set. NaN/Inf audio or fewer than ``min_samples`` samples
    (after resampling) raise :class:`AudioError` naming ``utt``.
    """
    notes = set() if notes is None else notes
    x = torch.as_tensor(np.asarray(wav) if not isinstance(wav, torch.Tensor) else wav)
    if not x.is_floating_point():
        raise AudioError(f"utterance {utt}: expected float samples, got {x.dtype}")
    x = x.float()
    if x.dim() == 2:
        channel_axis = 0 if x.shape[0] < x.shape[1] else 1
        if x.shape[channel_axis] > 1 and "mix" not in notes:
            notes.add("mix")
            logger.info("multi-channel audio (e.g. %s) is mixed down to mono", utt)
        x = x.mean(dim=channel_axis)
    elif x.dim() != 1:
        raise AudioError(f"utterance {utt}: audio must be 1-D or 2-D, got {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise AudioError(f"utterance {utt}: audio contains NaN or Inf samples")
    if sample_rate != SAMPLE_RATE:
        note_resampling(sample_rate, utt, notes)
        x = torchaudio.functional.resample(x, sample_rate, SAMPLE_RATE)
    if x.numel() < min_samples:
        raise AudioError(
            f"utterance {utt}: audio too short ({x.numel()} samples at 16 kHz; the feature "
            f"extractor needs at least {min_samples})"
        )
    return x.contiguous()
