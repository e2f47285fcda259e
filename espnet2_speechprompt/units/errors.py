"""Errors of the unit pipeline: one clear line each, shown by the command-line tools."""

from __future__ import annotations

from espnet2_speechprompt.errors import SpeechPromptError


class UnitsError(SpeechPromptError):
    """Base class: bad audio, k-means file, data dir or option; the message says why."""


class AudioError(UnitsError):
    """Audio that cannot be used (missing, unreadable, NaN/Inf, too short); names the utterance."""


class KMeansError(UnitsError):
    """A k-means file that cannot be read or does not fit the features."""
