"""Writing outputs safely: a temporary name unique to the process, then one rename.

A reader never sees a half-written file or directory, two processes writing the same output
never share a temporary name, and a failure leaves the earlier complete output as it was.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from .errors import SpeechPromptError


def temp_sibling(path: str | os.PathLike, suffix: str = ".tmp") -> Path:
    """A new name beside ``path``, unique to this process and call (hidden, ends in ``suffix``)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}{suffix}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path to write; it is renamed onto ``path`` when the block succeeds
    and removed when it fails (``suffix`` keeps an extension some writers need)."""
    tmp = temp_sibling(path, suffix)
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    os.replace(tmp, path)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[io.IOBase]:
    """``open(path, mode)`` whose content appears at ``path`` only when the block succeeds."""
    kwargs = {"encoding": "utf-8"} if "b" not in mode else {}
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as f:
            yield f


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path) as f:
        f.write(text)


def write_wav(path: str | os.PathLike, samples, rate: int, subtype: str = "PCM_16") -> None:
    """A wav file (``samples``: numpy array or CPU tensor) that is complete once it exists."""
    import numpy as np
    import soundfile

    with atomic_path(path, ".wav") as tmp:
        soundfile.write(tmp, np.asarray(samples), rate, subtype=subtype, format="WAV")


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary directory; when the block succeeds it replaces ``path`` (an
    earlier ``path`` is removed only then), when it fails ``path`` is left untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(path, ".tmpdir")
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    old = temp_sibling(path, ".old")
    if path.exists() or path.is_symlink():
        os.replace(path, old)
    os.replace(tmp, path)
    _remove(old)


@contextlib.contextmanager
def directory_lock(path: str | os.PathLike, what: str = "output directory") -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (through ``<path>.lock``) or refuse at once: a
    second process writing the same output gets one clear error instead of mixed results."""
    import fcntl

    lock = Path(f"{os.fspath(path).rstrip(os.sep)}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            raise SpeechPromptError(
                f"{what} {path} is in use by another process (lock {lock}): wait for it to "
                "finish or choose another directory"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
