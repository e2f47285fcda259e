"""One clear line for bad input instead of a stack trace, in every entry point."""

from __future__ import annotations

import contextlib
import sys

from ..errors import SpeechPromptError


@contextlib.contextmanager
def exit_on_user_error():
    """Print ``error: <message>`` and exit 1 for a ``SpeechPromptError`` (also one re-raised
    by a DataLoader worker, which keeps only the type's name in its message)."""
    try:
        yield
    except Exception as exc:
        if not isinstance(exc, SpeechPromptError) and "SpeechPrompt" not in str(exc)[:200]:
            raise
        lines = [line for line in str(exc).splitlines() if line.strip()]
        print(f"error: {lines[-1] if lines else type(exc).__name__}", file=sys.stderr)
        sys.exit(1)
