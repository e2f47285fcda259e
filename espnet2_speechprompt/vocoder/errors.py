"""Errors of the vocoder: one clear line each, shown by ``units_to_wav``."""

from __future__ import annotations

from espnet2_speechprompt.errors import CheckpointError, SpeechPromptError


class VocoderError(SpeechPromptError):
    """Base class of every vocoder error; the message names the file or utterance."""


class VocoderCheckpointError(VocoderError, CheckpointError):
    """A vocoder checkpoint or config that is missing, unreadable or does not fit together."""


class UnitInputError(VocoderError):
    """Units (or durations) the vocoder cannot synthesize; names the utterance."""
