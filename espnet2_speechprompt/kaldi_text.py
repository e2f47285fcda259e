"""Kaldi-style text files (``utt value`` per line), read the way ESPnet reads them.

ESPnet splits each line once at the first run of whitespace (spaces or tabs): the first field
is the utterance id, the rest, stripped, is the value. Every reader of the project goes through
:func:`read_entries`, so a tab-separated ``label`` or ``units`` file means the same thing to the
training statistics, the scorer, the baseline and ESPnet's loaders. A missing file, bytes that
are not UTF-8, a repeated utterance id and (where asked) a blank line are one-line errors that
name the file and line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from .errors import SpeechPromptError


class KaldiTextError(SpeechPromptError):
    """A Kaldi-style text file that cannot be read; names the file and line."""


@dataclass(frozen=True)
class Entry:
    """One line of a Kaldi-style file: ``key`` (utterance id) and ``value`` ('' if none)."""

    path: str
    number: int
    key: str
    value: str

    @property
    def where(self) -> str:
        return f"{self.path}:{self.number}"


def split_entry(line: str) -> tuple[str, str]:
    """``(key, value)`` of one line: split once at the first whitespace run, value stripped."""
    parts = line.split(maxsplit=1)
    if not parts:
        return "", ""
    return parts[0], parts[1].strip() if len(parts) > 1 else ""


def text_lines(path: str | os.PathLike, what: str = "file") -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of a UTF-8 text file; a missing file or a line that is not
    UTF-8 is a one-line error naming ``what`` (e.g. ``label file``)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise KaldiTextError(f"{path}: no such {what}")
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise KaldiTextError(
                    f"{path}:{number}: the {what} is not UTF-8 text (byte 0x{raw[exc.start]:02x} "
                    f"at column {exc.start + 1}); convert it, e.g. iconv -f latin1 -t utf-8"
                ) from None


def read_entries(
    path: str | os.PathLike, what: str = "file", *, unique: bool = True, blank_ok: bool = True
) -> list[Entry]:
    """The entries of a Kaldi-style file in file order. ``unique``: a repeated utterance id is
    an error (ESPnet refuses one too); ``blank_ok=False``: so is a blank line (ESPnet's loaders
    stop on one)."""
    path = os.fspath(path)
    entries, seen = [], set()
    for number, line in text_lines(path, what):
        key, value = split_entry(line)
        if not key:
            if blank_ok:
                continue
            raise KaldiTextError(f"{path}:{number}: blank line in the {what}; remove it")
        if unique and key in seen:
            raise KaldiTextError(f"{path}:{number}: utterance {key} appears twice")
        seen.add(key)
        entries.append(Entry(path, number, key, value))
    return entries


def read_table(path: str | os.PathLike, what: str = "file") -> dict[str, str]:
    """``{utt: value}`` of a Kaldi-style file with unique utterance ids."""
    return {e.key: e.value for e in read_entries(path, what)}


def read_lines(path: str | os.PathLike, what: str = "list") -> list[str]:
    """The non-blank lines of a list file (e.g. a label list, one entry per line), stripped."""
    return [line.strip() for _, line in text_lines(path, what) if line.strip()]


def parse_ints(entry: Entry, what: str = "unit id") -> list[int]:
    """The whitespace-separated integers of ``entry.value``; one error naming the first bad one."""
    values = []
    for token in entry.value.split():
        try:
            values.append(int(token))
        except ValueError:
            raise KaldiTextError(
                f"{entry.where}: utterance {entry.key}: {token!r} is not an integer {what}"
            ) from None
    return values
