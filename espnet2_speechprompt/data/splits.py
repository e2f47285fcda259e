"""Train/valid/test splits shared by the small corpora: the Speech Commands hash rule, seeded
group splits, and the split lists of earlier work (``filename<TAB>label`` with a header line,
paths from another machine, matched here by their tail under the corpus root)."""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Hashable, Sequence
from pathlib import Path, PurePosixPath
from typing import TypeVar

from .kaldi import DataPrepError, require_dir

K = TypeVar("K", bound=Hashable)
SPLITS = ("train", "valid", "test")
_MAX_PER_CLASS = 2**27 - 1  # the Speech Commands README's constant
_NOHASH = re.compile(r"_nohash_.*$")


def hash_split(file_name: str, valid_percent: float = 10.0, test_percent: float = 10.0) -> str:
    """The Speech Commands rule: the split of a ``<speaker>_nohash_<n>.wav`` file from the SHA-1
    of its speaker part, so a speaker's files share a split whatever else is in the corpus."""
    speaker = _NOHASH.sub("", file_name)
    digest = int(hashlib.sha1(speaker.encode("utf-8")).hexdigest(), 16)
    percent = (digest % (_MAX_PER_CLASS + 1)) * (100.0 / _MAX_PER_CLASS)
    if percent < valid_percent:
        return "valid"
    if percent < valid_percent + test_percent:
        return "test"
    return "train"


def group_split(groups: Sequence[K], fractions: Sequence[float], seed: int) -> dict[K, str]:
    """Each distinct group to ``train``/``valid``/``test``: the sorted groups shuffled with
    ``seed``, then cut by ``fractions`` (valid, test) of the group count; train keeps >= 1."""
    distinct = sorted(set(groups), key=str)
    random.Random(seed).shuffle(distinct)
    n = len(distinct)
    n_valid, n_test = (int(round(f * n)) for f in fractions)
    if n_valid + n_test >= n:
        raise DataPrepError(f"{n} group(s) are too few for valid/test fractions {tuple(fractions)}")
    names = ["valid"] * n_valid + ["test"] * n_test + ["train"] * (n - n_valid - n_test)
    return dict(zip(distinct, names, strict=True))


def read_split_list(path: Path, variable: str) -> list[tuple[PurePosixPath, str]]:
    """``(path, label)`` rows of a ``filename<TAB>label`` list (first line: the header)."""
    if not path.is_file():
        raise DataPrepError(f"{path}: no such file (a split list); is {variable} in db.sh right?")
    rows = []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        if header[:2] != ["filename", "label"]:
            raise DataPrepError(f"{path}:1: expected the header 'filename<TAB>label'")
        for number, line in enumerate(f, 2):
            fields = line.rstrip("\r\n").split("\t")
            if fields == [""]:
                continue
            if len(fields) != 2 or not fields[0] or not fields[1]:
                raise DataPrepError(f"{path}:{number}: expected 'filename<TAB>label'")
            rows.append((PurePosixPath(fields[0]), fields[1]))
    return rows


def tail_after(path: PurePosixPath, anchor: str, where: str) -> PurePosixPath:
    """The part of ``path`` after its last ``anchor`` component (``/x/lt/dataset/a/b.wav``,
    ``dataset`` -> ``a/b.wav``)."""
    parts = path.parts
    if anchor not in parts:
        raise DataPrepError(f"{where}: path {path} has no '{anchor}' component")
    index = len(parts) - 1 - parts[::-1].index(anchor)
    return PurePosixPath(*parts[index + 1 :])


def find_listed(root: Path, relative: PurePosixPath, where: str, variable: str) -> Path:
    """The corpus file a split list names; a one-line error when it is missing."""
    path = root.joinpath(*relative.parts)
    if not path.is_file():
        raise DataPrepError(
            f"{where}: {path} is listed but missing; is {variable} the complete corpus?"
        )
    return path


def list_dir(split_lists: str, corpus: str) -> Path:
    """``<split_lists>/<corpus>`` or ``<split_lists>/Datasets/<corpus>`` (a repository clone)."""
    root = require_dir(split_lists, "SCR_SPLIT_LISTS", "the dir of the split lists")
    for candidate in (root / corpus, root / "Datasets" / corpus):
        if candidate.is_dir():
            return candidate
    raise DataPrepError(f"{root}: no {corpus} or Datasets/{corpus} dir of split lists")
