"""Kaldi-style outputs: job slices, ``units`` text files, kaldiio feature arks."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Sequence

import numpy as np

from espnet2_speechprompt.errors import SpeechPromptError
from espnet2_speechprompt.fileio import atomic_open, temp_sibling
from espnet2_speechprompt.kaldi_text import parse_ints, read_entries
from espnet2_speechprompt.units.errors import UnitsError


def job_slice(n_items: int, nj: int, job: int) -> slice:
    """The ``job``-th (1-based) of ``nj`` contiguous slices; sizes differ by at most one."""
    if nj < 1 or not 1 <= job <= nj:
        raise UnitsError(f"--job must be in 1..{nj} (got {job}) and --nj positive")
    base, extra = divmod(n_items, nj)
    start = (job - 1) * base + min(job - 1, extra)
    return slice(start, start + base + (1 if job <= extra else 0))


def check_job_options(
    nj: int, job: int | None, merge: bool, error: type[SpeechPromptError] = UnitsError
) -> None:
    """``--nj``/``--job``/``--merge`` of a split command: N jobs each given ``--job J``, then one
    ``--merge``; one ``error`` line for anything else."""
    if nj < 1:
        raise error(f"--nj must be positive (got {nj})")
    if merge:
        return
    if nj > 1 and job is None:
        raise error("--nj > 1 needs --job J (1..N), or --merge after the N jobs")
    if job is not None and not 1 <= job <= nj:
        raise error(f"--job must be in 1..{nj} (got {job})")


def part_name(name: str, nj: int, job: int | None) -> str:
    """``units`` for a single job, ``units.J`` for job J of a split run."""
    return name if job is None or nj == 1 else f"{name}.{job}"


def format_units(utt: str, units: Sequence[int]) -> str:
    return " ".join([utt, *map(str, units)]) + "\n"


def read_units(path: str | os.PathLike) -> list[tuple[str, list[int]]]:
    """``(utt, units)`` pairs of a units text file, in file order (ids split from the units as
    ESPnet does; a bad id, byte or repeated utterance is one error naming the file and line)."""
    return [(e.key, parse_ints(e)) for e in read_entries(path, "units file")]


class ArkWriter:
    """kaldiio ark + scp written atomically; the scp names the final ark path."""

    def __init__(self, ark_path: str, scp_path: str):
        import kaldiio

        self._kaldiio = kaldiio
        self.ark_path, self.scp_path = ark_path, scp_path
        self._tmp = temp_sibling(ark_path)
        self._ark = open(self._tmp, "wb")
        self._scp: list[str] = []

    def write(self, utt: str, array: np.ndarray) -> None:
        scp = io.StringIO()
        self._kaldiio.save_ark(self._ark, {utt: np.asarray(array, dtype=np.float32)}, scp=scp)
        offset = scp.getvalue().strip().rsplit(":", 1)[1]
        self._scp.append(f"{utt} {self.ark_path}:{offset}\n")

    def commit(self) -> None:
        self._ark.close()
        os.replace(self._tmp, self.ark_path)
        with atomic_open(self.scp_path) as f:
            f.writelines(self._scp)

    def abort(self) -> None:
        self._ark.close()
        with contextlib.suppress(OSError):
            os.remove(self._tmp)


def merge_parts(directory: str, name: str, nj: int, part_format: str = "{name}.{job}") -> str:
    """Concatenate the parts ``name.1 .. name.N`` (in job order) into ``name``.

    All parts must exist. ``part_format`` names a part (e.g. ``feats.{job}.scp``).
    """
    parts = [
        os.path.join(directory, part_format.format(name=name, job=j)) for j in range(1, nj + 1)
    ]
    missing = [p for p in parts if not os.path.isfile(p)]
    if missing:
        raise UnitsError(f"cannot merge: missing {', '.join(missing[:3])} (did every job finish?)")
    out = os.path.join(directory, name)
    with atomic_open(out) as f:
        for part in parts:
            with open(part, encoding="utf-8") as g:
                f.write(g.read())
    return out
