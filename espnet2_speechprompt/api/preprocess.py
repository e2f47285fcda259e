"""From data to model inputs: labels to label-space ids, k-means units to backbone tokens, speech
to 16 kHz mono; and what training counts on the data (label and unit frequencies, balanced
label weights)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from ..kaldi_text import parse_ints, read_entries, read_lines
from ..units.audio import SAMPLE_RATE, prepare_audio
from ..verbalizer.builders import TrainStatistics
from ..vocab import MASK_SYMBOL, MASK_UNIT, NUM_SPECIALS, UNK, Dictionary
from .inputs import SpeechPromptDataError

# what was logged about audio in this process (each resampled rate, mixing), so it is said once
NOTES: set[str] = set()
Speech = Callable[[str, np.ndarray], np.ndarray]  # (utterance id, samples) -> 16 kHz mono


def read_list(value: str | Sequence[str] | None) -> list[str] | None:
    """A list given inline (config.yaml) or as a file with one entry per line."""
    if value is None or isinstance(value, list | tuple):
        return None if value is None else list(value)
    return read_lines(value, "label list")


class LabelEncoder:
    """Label tokens <-> label-space ids (``4 + index in the label list``)."""

    def __init__(self, labels: list[str]):
        self.labels = labels
        self.index = {label: NUM_SPECIALS + i for i, label in enumerate(labels)}

    def encode(self, text: str, utt: str = "?") -> np.ndarray:
        ids = []
        for token in text.split():
            if token not in self.index:
                raise SpeechPromptDataError(
                    f"utterance {utt}: label {token!r} is not in the label list "
                    f"({len(self.labels)} labels); rebuild the list from every set you train "
                    "and validate on (stage 4) or add the token to your fixed list"
                )
            ids.append(self.index[token])
        return np.asarray(ids, dtype=np.int64)

    def decode(self, ids) -> list[str]:
        return [self.labels[int(i) - NUM_SPECIALS] for i in ids]


class UnitEncoder:
    """k-means unit ids -> backbone tokens through ``dict.txt`` (never ``unit + 4``). A masked
    unit (``MASK_UNIT``, -1) becomes the dictionary's ``<mask>``, or with ``mask_vector`` the
    placeholder ``<unk>`` whose embedding the prompts' trainable mask vector replaces."""

    def __init__(self, vocab: Dictionary, source: str = "dict.txt", mask_vector: bool = False):
        numeric = {int(s): i for i, s in enumerate(vocab.symbols) if s.isdigit()}
        self.table = np.full(max(numeric, default=-1) + 1, -1, dtype=np.int64)
        for unit, token in numeric.items():
            self.table[unit] = token
        self.source = source
        self.mask_token = None
        if mask_vector:
            self.mask_token = UNK
        elif MASK_SYMBOL in vocab.symbols:
            self.mask_token = vocab.symbols.index(MASK_SYMBOL)

    def encode(self, units: np.ndarray, utt: str = "?") -> np.ndarray:
        units = np.asarray(units, dtype=np.int64)
        masked = units == MASK_UNIT
        if masked.any():
            if self.mask_token is None:
                raise SpeechPromptDataError(
                    f"utterance {utt}: masked units ({MASK_UNIT}) but the backbone dictionary "
                    f"({self.source}) has no {MASK_SYMBOL}: set prompt_conf.mask_vector: true "
                    "to learn a mask vector"
                )
            tokens = np.full(units.shape, self.mask_token, dtype=np.int64)
            if not masked.all():
                tokens[~masked] = self.encode(units[~masked], utt)
            return tokens
        bad = (units < 0) | (units >= len(self.table))
        tokens = np.where(bad, -1, self.table[np.clip(units, 0, len(self.table) - 1)])
        if (tokens < 0).any():
            unit = int(units[np.argmax(tokens < 0)])
            raise SpeechPromptDataError(
                f"utterance {utt}: unit {unit} is outside the backbone vocabulary "
                f"({self.source}: units 0..{len(self.table) - 1}); make the units with the "
                "backbone's own k-means"
            )
        if len(tokens) == 0:
            raise SpeechPromptDataError(f"utterance {utt}: no units")
        return tokens


def to_16k(samples, sample_rate: int, uid: str, min_samples: int = 1) -> torch.Tensor:
    """16 kHz mono float32 samples; each resampled rate (and mixing) is logged once."""
    return prepare_audio(samples, sample_rate, uid, min_samples=min_samples, notes=NOTES)


def speech_at_16k(uid: str, samples: np.ndarray) -> np.ndarray:
    """Samples taken to be at 16 kHz already, channels mixed down."""
    return to_16k(samples, SAMPLE_RATE, uid).numpy()


class SpeechPromptPreprocessor:
    """Labels -> label-space ids; units -> backbone tokens (``units=None``: speech input, the
    waveform goes to the model at 16 kHz through ``speech``)."""

    def __init__(self, labels: LabelEncoder, units: UnitEncoder | None, speech: Speech = None):
        self.labels, self.units = labels, units
        self.speech = speech or speech_at_16k

    def with_speech(self, speech: Speech) -> SpeechPromptPreprocessor:
        """This preprocessor with another speech reader (e.g. one resampling by file)."""
        return SpeechPromptPreprocessor(self.labels, self.units, speech)

    def __call__(self, uid: str, data: dict) -> dict:
        if "units" in data and self.units is not None:
            data["units"] = self.units.encode(data["units"], uid)
        if "speech" in data:
            data["speech"] = self.speech(uid, data["speech"])
        if "label" in data:
            data["label"] = self.labels.encode(str(data["label"]), uid)
        return data


def train_statistics(
    files: Sequence[Sequence[str]] | None, labels: LabelEncoder, units: UnitEncoder | None
) -> TrainStatistics | None:
    """Label and unit counts from the training data ``files`` (``path,name,type`` each), if they
    hold labels and units (no unit counts for speech input: ``units=None``)."""
    paths = {name: path for path, name, _ in files or []}
    if "label" not in paths or (units is not None and "units" not in paths):
        return None
    label_rows = [
        (labels.encode(e.value, e.key) - NUM_SPECIALS).tolist()
        for e in read_entries(paths["label"], "label file")
    ]
    unit_rows = []
    if units is not None:
        for e in read_entries(paths["units"], "units file"):
            unit_rows.append(units.encode(np.asarray(parse_ints(e), np.int64), e.key).tolist())
    return TrainStatistics.from_sequences(label_rows, unit_rows, len(labels.labels))


def balanced_weights(label_counts: list[int]) -> list[float]:
    """``N / (C * count_c)`` over the labels seen in training (1.0 for unseen ones), so the
    expected weight of a training token is 1 (sklearn's "balanced")."""
    seen = [count for count in label_counts if count > 0]
    total = sum(seen)
    return [round(total / (len(seen) * count), 6) if count > 0 else 1.0 for count in label_counts]
