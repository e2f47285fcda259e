"""Opening a packed task without trusting it.

Every archive member and every file name in ``meta.yaml`` is checked before anything is
written: only relative names inside the package, no ``..``, no backslashes or drive letters, no
links or device files; what an archive unpacks to is counted as it is written, and one that
would pass ``$SPEECHPROMPT_MAX_PACKAGE_BYTES`` (default 8 GiB) is refused (a zip bomb). An
archive unpacks once into ``<cache>/<sha256 of the archive>/``, a directory that appears
complete or not at all, and is reused for the same archive.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import yaml

from ..errors import CheckpointError
from ..fileio import atomic_directory, sha256_of

META = "meta.yaml"
CACHE_ENV = "SPEECHPROMPT_CACHE_DIR"
MAX_BYTES_ENV = "SPEECHPROMPT_MAX_PACKAGE_BYTES"
DEFAULT_MAX_BYTES = 8 << 30  # unpacked; a package holds prompts, configs, at most a backbone
DIGEST_LENGTH = 16  # hex digits of the archive's sha256 naming its cache directory
REFUSED = "refusing to open it (get the package from a source you trust)"


class PackageError(CheckpointError):
    """A packed task that cannot be opened safely or is incomplete."""


@dataclass(frozen=True)
class Member:
    name: str  # normalised: relative, "/"-separated, no "." or ".." parts
    is_dir: bool
    open: Callable[[], IO[bytes]]


def default_cache_dir() -> Path:
    """``$SPEECHPROMPT_CACHE_DIR``, else ``~/.cache/espnet2_speechprompt/packages``."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "espnet2_speechprompt" / "packages"


def checked_name(source: str | os.PathLike, name: object, what: str = "member") -> str:
    """``name`` as a relative path inside the package, or a ``PackageError`` naming it."""
    reason = None
    if not isinstance(name, str) or not name.strip("/"):
        reason = "is not a file name"
    elif "\\" in name or "\0" in name:
        reason = "contains a backslash or NUL"
    elif name.startswith("/") or re.match(r"[A-Za-z]:", name):
        reason = "is an absolute path"
    elif ".." in name.split("/"):
        reason = "has a '..' component"
    if reason:
        raise PackageError(
            f"{source}: {what} {name!r} {reason}; a package names only files inside it: {REFUSED}"
        )
    return "/".join(part for part in name.split("/") if part not in ("", "."))


def _refuse(source: str | os.PathLike, name: str, reason: str) -> PackageError:
    return PackageError(f"{source}: member {name!r} {reason}: {REFUSED}")


def _zip_members(source: Path, archive: zipfile.ZipFile) -> Iterator[Member]:
    for info in archive.infolist():
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise _refuse(source, info.filename, "is a link or special file")
        name = checked_name(source, info.filename)
        yield Member(name, info.is_dir(), lambda info=info: archive.open(info))


def _tar_members(source: Path, archive: tarfile.TarFile) -> Iterator[Member]:
    for info in archive.getmembers():
        if not (info.isfile() or info.isdir()):
            raise _refuse(source, info.name, "is a link or special file")
        name = checked_name(source, info.name)
        yield Member(name, info.isdir(), lambda info=info: archive.extractfile(info))


def _check_layout(source: Path, members: list[Member]) -> None:
    """No name twice, and no file where another member needs a folder."""
    files, folders = set(), set()
    for member in members:
        if member.name in files or (not member.is_dir and member.name in folders):
            raise _refuse(source, member.name, "appears twice")
        (folders if member.is_dir else files).add(member.name)
        parts = member.name.split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
    clash = files & folders
    if clash:
        raise _refuse(source, sorted(clash)[0], "is both a file and a folder")


def _unreadable(source: Path, exc: BaseException) -> PackageError:
    return PackageError(f"{source}: unreadable package ({type(exc).__name__}: {exc})")


_ARCHIVE_ERRORS = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error)


def _open_handle(source: Path):
    try:
        if zipfile.is_zipfile(source):
            return zipfile.ZipFile(source), _zip_members
        if tarfile.is_tarfile(source):
            return tarfile.open(source, "r:*"), _tar_members
    except (*_ARCHIVE_ERRORS, OSError) as exc:
        raise _unreadable(source, exc) from None
    raise PackageError(f"{source}: not a packed task (.zip, .tar or .tgz)")


@contextlib.contextmanager
def open_archive(source: str | os.PathLike) -> Iterator[list[Member]]:
    """The checked members of a .zip or .tar/.tgz package (nothing is written)."""
    source = Path(source)
    handle, read = _open_handle(source)
    with handle:
        try:
            members = list(read(source, handle))
        except _ARCHIVE_ERRORS as exc:
            raise _unreadable(source, exc) from None
        _check_layout(source, members)
        try:
            yield members
        except _ARCHIVE_ERRORS as exc:
            raise _unreadable(source, exc) from None


def meta_names(source: str | os.PathLike, meta: object) -> dict[str, str]:
    """Key -> checked name of every file ``meta.yaml`` declares (``yaml_files``, ``files``)."""
    sections = [
        meta.get(key) if isinstance(meta, dict) else None for key in ("yaml_files", "files")
    ]
    if not all(isinstance(section, dict) for section in sections):
        raise PackageError(f"{source}: no 'yaml_files' and 'files' mappings: not a packed task")
    names = {}
    for section in sections:
        for key, name in section.items():
            names[str(key)] = checked_name(source, name, what=f"file {key!r}")
    return names


def _read_meta(source: str | os.PathLike, stream: IO[bytes]) -> object:
    try:
        return yaml.safe_load(stream)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0]
        raise PackageError(f"{source}: unreadable {META} ({reason})") from None


def _check_archive_meta(source: Path, members: list[Member]) -> None:
    by_name = {m.name: m for m in members}
    if META not in by_name or by_name[META].is_dir:
        raise PackageError(f"{source}: no {META} at its top: not a packed task")
    with by_name[META].open() as stream:
        meta = _read_meta(source, stream)
    for key, name in meta_names(f"{source} {META}", meta).items():
        if name not in by_name or by_name[name].is_dir:
            raise PackageError(f"{source}: {META} names {name!r} ({key}), which it does not hold")


def max_unpacked_bytes() -> int:
    """``$SPEECHPROMPT_MAX_PACKAGE_BYTES`` (a positive integer), else 8 GiB."""
    value = os.environ.get(MAX_BYTES_ENV, "").strip()
    if not value:
        return DEFAULT_MAX_BYTES
    if not value.isdigit() or int(value) < 1:
        raise PackageError(f"${MAX_BYTES_ENV}={value!r}: give a positive number of bytes")
    return int(value)


def _write_members(source: Path, members: list[Member], folder: Path) -> None:
    """Write every member under ``folder``, counting the bytes as they come (a member's
    declared size is not trusted)."""
    left = limit = max_unpacked_bytes()
    for member in members:
        target = folder / member.name
        if member.is_dir:
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with member.open() as src, open(target, "xb") as dst:
            while chunk := src.read(min(1 << 20, left + 1)):
                left -= len(chunk)
                if left < 0:
                    raise PackageError(
                        f"{source}: unpacks to more than {limit} bytes (${MAX_BYTES_ENV}); "
                        f"{REFUSED}, or raise the limit"
                    )
                dst.write(chunk)


class _AlreadyUnpacked(Exception):
    """Another process completed the same cache entry first."""


def extract_package(source: str | os.PathLike, folder: str | os.PathLike) -> Path:
    """Check every member and ``meta.yaml`` of ``source``, then write it to ``folder`` (which
    appears complete or not at all; an earlier ``folder`` is replaced)."""
    source, folder = Path(source), Path(folder)
    with open_archive(source) as members:
        _check_archive_meta(source, members)
        with atomic_directory(folder) as tmp:
            _write_members(source, members, tmp)
    return folder


def unpack_package(source: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> Path:
    """The unpacked directory of archive ``source`` in the cache (extracted on first use)."""
    source = Path(source)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    target = cache / sha256_of(source)[:DIGEST_LENGTH]
    if (target / META).is_file():
        return target
    with open_archive(source) as members:
        _check_archive_meta(source, members)
        with contextlib.suppress(_AlreadyUnpacked), atomic_directory(target) as tmp:
            _write_members(source, members, tmp)
            if (target / META).is_file():
                raise _AlreadyUnpacked
    return target


def package_files(root: str | os.PathLike) -> dict[str, str]:
    """Key -> absolute path of each file ``root/meta.yaml`` declares; each must be a file
    inside ``root`` (also through links)."""
    root = Path(root).expanduser().resolve()
    meta_file = root / META
    if not meta_file.is_file():
        raise PackageError(f"{root}: no {META}: not a packed task (pack it with bin.pack)")
    with open(meta_file, "rb") as stream:
        meta = _read_meta(meta_file, stream)
    files = {}
    for key, name in meta_names(meta_file, meta).items():
        path = root / name
        if not path.resolve().is_relative_to(root):
            raise PackageError(f"{meta_file}: {name!r} ({key}) leads outside the package")
        if not path.is_file():
            raise PackageError(f"{meta_file}: {name!r} ({key}) is missing from {root}")
        files[key] = os.fspath(path)
    return files
