"""Speech input (Wav2Seq) from ESPnet's ``sound`` data: 16 kHz mono waveforms.

ESPnet's sound loaders return the samples without their rate, so the rate of each utterance is
read from the header of its file in ``wav.scp`` (no samples are read twice) and audio at another
rate is resampled to 16 kHz, channels mixed down, as the unit extractors do
(``api.preprocess.to_16k``). Each rate is logged once per run: from the first utterance of
each file when the data is bound (main process), and by a DataLoader worker only for a rate that
was not logged before it started.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..api import preprocess
from ..api.inputs import SpeechPromptDataError
from ..kaldi_text import read_entries, read_table
from ..units.audio import SAMPLE_RATE, audio_rate, note_resampling


def speech_file(files: Sequence[Sequence[str]] | None) -> str | None:
    """The ``wav.scp`` of the ``speech`` data, if it is ESPnet ``sound`` data."""
    for path, name, kind in files or ():
        if name == "speech" and kind == "sound":
            return path
    return None


class SpeechAudio:
    """``(uid, samples)`` -> 16 kHz mono float32 samples, the rate taken from ``wav_scp``
    (``None``: the samples are taken to be at 16 kHz already)."""

    def __init__(self, wav_scp: str | None = None, min_samples: int = 1):
        self.wav_scp, self.min_samples = wav_scp, min_samples
        self._paths: dict[str, str] | None = None

    def announce(self) -> None:
        """Log the rate of the first utterance if it is not 16 kHz (once per rate)."""
        if self.wav_scp is None:
            return
        first = next(iter(read_entries(self.wav_scp, "wav.scp file")), None)
        if first is not None:
            note_resampling(audio_rate(first.key, first.value), first.key, preprocess.NOTES)

    def rate(self, uid: str) -> int:
        if self.wav_scp is None:
            return SAMPLE_RATE
        if self._paths is None:
            self._paths = read_table(self.wav_scp, "wav.scp file")
        if uid not in self._paths:
            raise SpeechPromptDataError(f"utterance {uid} is not in {self.wav_scp}")
        return audio_rate(uid, self._paths[uid])

    def __call__(self, uid: str, samples: np.ndarray) -> np.ndarray:
        return preprocess.to_16k(samples, self.rate(uid), uid, self.min_samples).numpy()


def bind_data(preprocess_fn: Callable | None, files) -> Callable | None:
    """``preprocess_fn`` for one loader's data ``files`` (``path,name,type`` each): speech is
    resampled by the rate in its ``wav.scp`` entries' headers."""
    if not isinstance(preprocess_fn, preprocess.SpeechPromptPreprocessor):
        return preprocess_fn
    speech = SpeechAudio(speech_file(files))
    speech.announce()
    return preprocess_fn.with_speech(speech)
