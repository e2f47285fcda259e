"""Settings given as a mapping (``prompt_conf``, ``verbalizer_conf``, ``backbone_conf``): an
unknown key is one error that names it and lists the valid keys."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .errors import SpeechPromptError


def keyword_names(function: Callable) -> list[str]:
    """The names of the keyword parameters of ``function`` (a class: of its ``__init__``)."""
    signature = inspect.signature(function)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in signature.parameters.values() if p.kind in kinds and p.name != "self"]


def check_keys(option: str, given: Any, valid: Iterable[str]) -> dict:
    """``given`` as a dict when it is a mapping whose keys are all in ``valid``; else one error
    naming ``option``, the first unknown key (and the closest valid one) and the valid keys."""
    valid = list(valid)
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise SpeechPromptError(f"{option} must be a mapping of {', '.join(valid)}, not {given!r}")
    unknown = [key for key in given if key not in valid]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), valid, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SpeechPromptError(
            f"{option}: unknown key {unknown[0]!r}{hint}; valid keys: {', '.join(valid)}"
        )
    return dict(given)


def str2bool(text: str) -> bool:
    """A command-line boolean: true/false, yes/no, 1/0 (any case)."""
    value = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
    if text.lower() not in value:
        raise ValueError(f"{text!r} is not true or false")
    return value[text.lower()]
