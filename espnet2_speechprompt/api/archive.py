"""Writing a package archive (.zip, .tgz/.tar.gz or .tar) in the layout that ESPnet's ``unpack``
and espnet_model_zoo read: ``meta.yaml`` first, naming files by key (``files``,
``yaml_files``), then every file under its name relative to the package (a folder file by
file). Links are followed, so the archive holds regular files only."""

from __future__ import annotations

import io
import os
import stat
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path

import torch
import yaml

from .. import __version__
from ..fileio import atomic_path
from .unpacking import META, PackageError

TAR_MODES = {".tgz": "w:gz", ".tar.gz": "w:gz", ".tar": "w"}


def archive_kind(outpath: str | os.PathLike) -> str:
    """``zip`` or the tarfile mode for ``outpath``, by its name."""
    name = Path(outpath).name
    if name.endswith(".zip"):
        return "zip"
    for suffix, mode in TAR_MODES.items():
        if name.endswith(suffix):
            return mode
    raise PackageError(f"--outpath {outpath}: name it .zip, .tgz, .tar.gz or .tar")


def _members(root: Path, names: Iterable[str]) -> list[tuple[str, Path]]:
    """(archive name, path) of each named file and of each file under each named folder."""
    members = []
    for name in names:
        path = root / name
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.is_file())
            members += [(p.relative_to(root).as_posix(), p) for p in inside]
        else:
            members.append((name, path))
    return members


def _write_zip(outpath: Path, members: list[tuple[str, bytes | Path]]) -> None:
    with zipfile.ZipFile(outpath, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members:
            data = content if isinstance(content, bytes) else content.read_bytes()
            info = zipfile.ZipInfo(name, time.localtime()[:6])
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)


def _write_tar(outpath: Path, mode: str, members: list[tuple[str, bytes | Path]]) -> None:
    with tarfile.open(outpath, mode) as archive:
        for name, content in members:
            data = content if isinstance(content, bytes) else content.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            archive.addfile(info, io.BytesIO(data))


def write_archive(
    outpath: str | os.PathLike,
    root: str | os.PathLike,
    files: dict[str, str],
    yaml_files: dict[str, str],
    extra: Iterable[str] = (),
    meta_extra: dict | None = None,
) -> Path:
    """Write ``outpath`` (all or nothing) from the files under ``root``: ``files`` and
    ``yaml_files`` (key -> relative name, listed in ``meta.yaml``, with ``meta_extra``) and
    the ``extra`` files or folders."""
    outpath, root = Path(outpath), Path(root)
    kind = archive_kind(outpath)
    meta = {
        "files": files,
        "yaml_files": yaml_files,
        "timestamp": time.time(),
        "python": sys.version,
        "torch": str(torch.__version__),
        "espnet2_speechprompt": __version__,
        **(meta_extra or {}),
    }
    named = [*yaml_files.values(), *files.values(), *extra]
    members = [(META, yaml.safe_dump(meta).encode()), *_members(root, named)]
    outpath.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(outpath) as tmp:
        if kind == "zip":
            _write_zip(tmp, members)
        else:
            _write_tar(tmp, kind, members)
    return outpath
