"""One clear line for bad input instead of a stack trace, in every entry point."""

from __future__ import annotations

import contextlib
import re
import sys

from ..errors import SpeechPromptError

# the last line of a traceback: "package.module.ErrorType: message"
_TRACEBACK_TAIL = re.compile(r"^[A-Za-z_][\w.]*: ")


def user_message(exc: SpeechPromptError) -> str:
    """The message of ``exc``; for one re-raised by a DataLoader worker (same type, message =
    the worker's traceback) the original message, which is the traceback's last line."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    if len(lines) > 1 and lines[0].startswith("Caught "):
        return _TRACEBACK_TAIL.sub("", lines[-1], count=1)
    return " ".join(line.strip() for line in lines)


@contextlib.contextmanager
def exit_on_user_error():
    """Print ``error: <message>`` (one line) and exit 1 for a ``SpeechPromptError``."""
    try:
        yield
    except SpeechPromptError as exc:
        print(f"error: {user_message(exc)}", file=sys.stderr)
        sys.exit(1)
