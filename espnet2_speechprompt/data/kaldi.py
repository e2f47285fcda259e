"""Kaldi-style data dirs: utterance records, the writer, corpus-path checks, label formats.

A data dir holds, one line per utterance and sorted by utterance id (byte order, as ``LC_ALL=C
sort``): ``wav.scp`` (``utt path`` or ``utt command |``), ``utt2spk``, ``spk2utt``, and where the
corpus has them ``label`` (the task's target tokens, space-separated), ``text`` (the plain
transcript) and extra per-utterance files (``tgt_wav.scp``, ``tgt_text``, ...). Utterance ids
start with their speaker id, so both sort orders agree.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SpeechPromptError
from ..fileio import atomic_open

logger = logging.getLogger(__name__)

WORD_BOUNDARY = "|"  # the word-boundary token of character labels (the space of the text)
_ID_CHARS = re.compile(r"[^A-Za-z0-9_.+=@,-]")


class DataPrepError(SpeechPromptError):
    """A corpus path or file the data preparation cannot use; names it and what to do."""


@dataclass
class Utterance:
    utt: str
    speaker: str
    audio: str  # a wav.scp entry: a file path or "command |"
    label: str | None = None  # target tokens, space-separated
    text: str | None = None  # plain transcript
    extra: dict[str, str] = field(default_factory=dict)  # file name -> value (tgt_text, ...)


def safe_id(text: str) -> str:
    """``text`` with every character that is not safe in a Kaldi id replaced by ``_``."""
    return _ID_CHARS.sub("_", text)


def ascii_id(text: str) -> str:
    """``text`` as a Kaldi id in ASCII: accents dropped (``ačiū`` -> ``aciu``), then
    :func:`safe_id`."""
    decomposed = unicodedata.normalize("NFKD", text)
    return safe_id("".join(c for c in decomposed if not unicodedata.combining(c)))


def require_dir(path: str | os.PathLike | None, variable: str, what: str) -> Path:
    """The corpus dir given by db.sh's ``variable``; a one-line error naming it otherwise."""
    if path is None or not str(path).strip():
        raise DataPrepError(
            f"{variable} is not set: set {variable}=<dir> in db.sh (or the environment) to {what}"
        )
    if not os.path.isdir(path):
        raise DataPrepError(
            f"{variable}={path}: no such directory; set {variable} in db.sh to {what}"
        )
    return Path(path)


def require_file(path: Path, variable: str, what: str) -> Path:
    """A file the corpus must have under ``variable``'s dir; a one-line error otherwise."""
    if not path.is_file():
        raise DataPrepError(f"{path}: no such file ({what}); is {variable} in db.sh right?")
    return path


def audio_entry(path: str | os.PathLike, mp3_pipe: bool = False) -> str:
    """A wav.scp entry for an audio file. soundfile (libsndfile >= 1.1) reads wav, flac and mp3
    directly; with ``mp3_pipe`` an mp3 is decoded by ffmpeg instead (older libsndfile)."""
    path = os.fspath(path)
    if mp3_pipe and path.lower().endswith(".mp3"):
        return ffmpeg_entry(path)
    if any(c.isspace() for c in path):
        return f"cat {shlex.quote(path)} |"  # wav.scp entries cannot hold whitespace
    return path


def ffmpeg_entry(path: str | os.PathLike) -> str:
    """A wav.scp pipe that decodes any audio or video file with ffmpeg to 16 kHz mono wav."""
    quoted = shlex.quote(os.fspath(path))
    return f"ffmpeg -nostdin -loglevel error -i {quoted} -vn -ac 1 -ar 16000 -f wav - |"


def to_char_label(text: str, boundary: str = WORD_BOUNDARY, keep: Iterable[str] = ()) -> str:
    """Character tokens of ``text``, words separated by ``boundary``; words in ``keep`` (e.g.
    slot tags) stay whole tokens. ``"HI B-x YOU E-x"`` -> ``"H I | B-x | Y O U | E-x"``."""
    keep = set(keep)
    words = []
    for word in text.split():
        words.append(word if word in keep else " ".join(word))
    return f" {boundary} ".join(words)


def label_to_text(label: str, boundary: str = WORD_BOUNDARY) -> str:
    """The text of a character label: characters joined, ``boundary`` a space, longer tokens
    (slot tags) separate words. ``"H I | B-x | Y O U | E-x"`` -> ``"HI B-x YOU E-x"``."""
    parts: list[str] = []
    for token in label.split():
        if token == boundary:
            parts.append(" ")
        elif len(token) > 1:
            parts.append(f" {token} ")
        else:
            parts.append(token)
    return " ".join("".join(parts).split())


def _sorted(utts: Iterable[Utterance]) -> list[Utterance]:
    return sorted(utts, key=lambda u: u.utt.encode("utf-8"))


def check_utterances(utts: Sequence[Utterance], where: str) -> None:
    """Ids without whitespace, unique, prefixed by their speaker; labels not empty."""
    seen: set[str] = set()
    for u in utts:
        for name, value in (("utterance id", u.utt), ("speaker id", u.speaker)):
            if not value or any(c.isspace() for c in value):
                raise DataPrepError(f"{where}: bad {name} {value!r} (empty or has whitespace)")
        if u.utt in seen:
            raise DataPrepError(f"{where}: utterance id {u.utt} appears twice")
        seen.add(u.utt)
        if not u.utt.startswith(u.speaker):
            raise DataPrepError(f"{where}: utterance id {u.utt} does not start with {u.speaker}")
        if u.label is not None and not u.label.strip():
            raise DataPrepError(f"{where}: utterance {u.utt} has an empty label")
        if "\n" in u.audio or not u.audio.strip():
            raise DataPrepError(f"{where}: utterance {u.utt} has a bad audio entry {u.audio!r}")


def _write(path: Path, lines: Iterable[str]) -> None:
    with atomic_open(path) as f:
        f.writelines(f"{line}\n" for line in lines)


def write_data_dir(directory: str | os.PathLike, utts: Sequence[Utterance]) -> Path:
    """Write one Kaldi-style data dir (files replaced atomically; stale optional files removed)."""
    directory = Path(directory)
    if not utts:
        raise DataPrepError(f"{directory}: no utterances to write (is the corpus complete?)")
    utts = _sorted(utts)
    check_utterances(utts, str(directory))
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[str]] = {"wav.scp": [], "utt2spk": []}
    optional = {"label": [u.label for u in utts], "text": [u.text for u in utts]}
    for name, values in optional.items():
        present = [v is not None for v in values]
        if any(present) and not all(present):
            missing = utts[present.index(False)].utt
            raise DataPrepError(f"{directory}: utterance {missing} has no {name}")
    extra_names = sorted({name for u in utts for name in u.extra})
    spk2utt: dict[str, list[str]] = {}
    for u in utts:
        files["wav.scp"].append(f"{u.utt} {u.audio}")
        files["utt2spk"].append(f"{u.utt} {u.speaker}")
        spk2utt.setdefault(u.speaker, []).append(u.utt)
        for name, value in (("label", u.label), ("text", u.text)):
            if value is not None:
                files.setdefault(name, []).append(f"{u.utt} {' '.join(value.split())}")
        for name in extra_names:
            if name not in u.extra:
                raise DataPrepError(f"{directory}: utterance {u.utt} has no {name}")
            files.setdefault(name, []).append(f"{u.utt} {' '.join(u.extra[name].split())}")
    files["spk2utt"] = [
        f"{spk} {' '.join(ids)}" for spk, ids in sorted(spk2utt.items(), key=lambda kv: kv[0])
    ]
    for name in ("label", "text"):
        if name not in files and (directory / name).exists():
            (directory / name).unlink()
    for name, lines in files.items():
        _write(directory / name, lines)
    return directory


def speaker_overlap(sets: Mapping[str, Sequence[Utterance]], ignore: Iterable[str] = ()) -> dict:
    """``{(set_a, set_b): speakers in both}`` for every pair of sets that share speakers."""
    ignore = set(ignore)
    speakers = {name: {u.speaker for u in utts} - ignore for name, utts in sets.items()}
    names = sorted(speakers)
    overlap = {}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            common = speakers[a] & speakers[b]
            if common:
                overlap[(a, b)] = sorted(common)
    return overlap


def warn_speaker_overlap(sets: Mapping[str, Sequence[Utterance]], ignore: Iterable[str] = ()):
    """Log a warning for sets that share speakers (where the corpus defines them disjoint)."""
    for (a, b), common in speaker_overlap(sets, ignore).items():
        logger.warning(
            "sets %s and %s share %d speaker(s) (e.g. %s): the corpus's split should be "
            "speaker-disjoint; check the split files",
            a,
            b,
            len(common),
            common[0],
        )
