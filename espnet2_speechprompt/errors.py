"""The one base class of every "bad input" error: entry points print its message and exit 1."""


class SpeechPromptError(ValueError):
    """Input the project cannot use; the message names the file or utterance and what to do."""


class CheckpointError(SpeechPromptError):
    """A checkpoint, dictionary, package or config that cannot be used; the message says why."""
