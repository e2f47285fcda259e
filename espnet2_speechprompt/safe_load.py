"""Reading pickled files without running code from them.

Every ``torch.save`` file the project reads goes through :func:`load_torch_file`: torch's
weights-only unpickler plus an explicit allow-list of real globals. Files written by other
programs (fairseq checkpoints pickle ``omegaconf`` configs, meters, ...) may also have every
other class replaced by an inert :class:`PickledStub` that only keeps its state. Globals that
run programs or code (``os.system``, ``subprocess.Popen``, ``builtins.eval`` ...) are refused
with one line naming the file and the global.
"""

from __future__ import annotations

import os
import pickle
import pickletools
import re
import zipfile
from collections.abc import Iterable
from typing import Any, BinaryIO

import torch
from torch._utils import IMPORT_MAPPING, NAME_MAPPING

from .errors import SpeechPromptError

# modules whose globals only make sense in a file meant to run code (Python 2 names included)
UNSAFE_MODULES = frozenset(
    {"os", "posix", "nt", "sys", "subprocess", "commands", "importlib", "runpy", "shutil",
     "socket", "pickle", "cPickle", "_pickle", "marshal", "code", "codeop", "ctypes", "pty",
     "webbrowser", "multiprocessing", "signal", "_posixsubprocess", "pdb", "timeit", "nturl2path"}
)  # fmt: skip
UNSAFE_BUILTINS = frozenset(
    {"eval", "exec", "execfile", "compile", "open", "file", "__import__", "getattr", "setattr",
     "delattr", "globals", "locals", "vars", "input", "raw_input", "breakpoint", "exit", "quit",
     "help", "reload", "apply", "memoryview"}
)  # fmt: skip
_LEGACY_PICKLES = 5  # magic number, protocol, sys info, object, storage keys


class PickledStub:
    """Stand-in for a class or function named in a pickle: keeps arguments and state, runs
    nothing."""

    _stub_of = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> PickledStub:
        stub = super().__new__(cls)
        stub.__dict__["_args"] = args
        stub.__dict__.update(kwargs)
        return stub

    def __init__(self, *args: Any, **kwargs: Any):
        pass

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            state = {**(state[0] or {}), **state[1]}  # (dict, slots) form
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__["_state"] = state

    def __repr__(self) -> str:
        return f"<stub of {self._stub_of}>"


_STUBS: dict[str, type] = {}


def stub_class(qualified_name: str) -> type:
    """The (cached) inert stub class standing for ``module.Name``."""
    if qualified_name not in _STUBS:
        name = qualified_name.rsplit(".", 1)[-1]
        body = {"_stub_of": qualified_name, "__module__": __name__}
        _STUBS[qualified_name] = type(name, (PickledStub,), body)
    return _STUBS[qualified_name]


def check_global(
    path: str, module: str, name: str, kind: str, error: type[SpeechPromptError]
) -> None:
    """Refuse a global that can only serve to run programs or code."""
    top = module.split(".")[0]
    if top in UNSAFE_MODULES or (top in {"builtins", "__builtin__"} and name in UNSAFE_BUILTINS):
        raise error(f"{path} refers to {module}.{name}: not a {kind} this project can read safely")


def _globals_in(stream: BinaryIO, pickles: int) -> set[tuple[str, str]]:
    """(module, name) of every GLOBAL/INST opcode in the next ``pickles`` pickles of ``stream``,
    with the Python 2 names mapped as torch maps them."""
    found = set()
    for _ in range(pickles):
        for opcode, arg, _pos in pickletools.genops(stream):
            if opcode.name in {"GLOBAL", "INST"}:
                module, name = arg.split(" ", 1)
                if (module, name) in NAME_MAPPING:
                    module, name = NAME_MAPPING[(module, name)]
                found.add((IMPORT_MAPPING.get(module, module), name))
    return found


def pickle_globals(path: str) -> set[tuple[str, str]]:
    """The globals a ``torch.save`` file (zip or legacy) names; raises on a damaged file."""
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":
            f.seek(0)
            return _globals_in(f, _LEGACY_PICKLES)
    with zipfile.ZipFile(path) as archive:
        records = [n for n in archive.namelist() if re.fullmatch(r"[^/]+/data\.pkl", n)]
        if len(records) != 1:
            raise ValueError("no single data.pkl record")
        with archive.open(records[0]) as data:
            return _globals_in(data, 1)


def _unreadable(path: str, exc: BaseException, kind: str, remedy: str) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    detail = lines[0] if lines and "weights_only" not in lines[0] else "no detail"
    return (
        f"{path}: not a readable PyTorch {kind} ({type(exc).__name__}: {detail}); "
        f"the file may be truncated or not a {kind} — {remedy}"
    )


def _refused(path: str, exc: pickle.UnpicklingError, kind: str) -> str:
    """What torch's weights-only unpickler refused, without its advice to disable it."""
    text = str(exc)
    named = re.search(r"GLOBAL (\S+)", text)
    if named:
        return f"{path} refers to {named.group(1)}: not a {kind} this project can read safely"
    detail = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    reason = detail.group(1).strip().rstrip(".") if detail else "an object it refuses"
    if reason.startswith("Unsupported operand"):
        reason += ", it reads torch.save's default pickle protocol only"
    return (
        f"{path}: the weights-only unpickler stops at '{reason}': not a {kind} this project "
        "can read safely"
    )


def _allowed_name(entry: Any) -> str:
    """The name a ``safe_globals`` entry (object or ``(object, name)``) stands for."""
    return entry[1] if isinstance(entry, tuple) else f"{entry.__module__}.{entry.__qualname__}"


def load_torch_file(
    path: str | os.PathLike,
    *,
    allowed: Iterable[Any] = (),
    stub_unknown: bool = False,
    kind: str = "checkpoint",
    remedy: str = "download it again",
    error: type[SpeechPromptError] = SpeechPromptError,
    mmap: bool = False,
) -> Any:
    """``torch.load`` on CPU with ``weights_only=True`` and the real globals in ``allowed``
    (torch's ``safe_globals`` entries); with ``stub_unknown`` every other global becomes an
    inert stub. A missing, damaged or unsafe file raises ``error`` (one line naming it).
    ``mmap``: tensors mapped from the file, read when used (zip-format files)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise error(f"{path}: no such {kind} file")
    try:
        names = pickle_globals(path)
    except Exception as exc:  # pickletools / zipfile raise many types for a damaged file
        raise error(_unreadable(path, exc, kind, remedy)) from None
    for module, name in sorted(names):
        check_global(path, module, name, kind, error)
    safe_globals = list(allowed)
    if stub_unknown:
        stubbed = {f"{m}.{n}" for m, n in names} - {_allowed_name(g) for g in safe_globals}
        safe_globals += [(stub_class(qualified), qualified) for qualified in sorted(stubbed)]
    try:
        with torch.serialization.safe_globals(safe_globals):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as exc:
        raise error(_refused(path, exc, kind)) from None
    except Exception as exc:  # torch raises many types for a corrupt file
        raise error(_unreadable(path, exc, kind, remedy)) from None


def load_state_dict_file(
    path: str | os.PathLike,
    *,
    kind: str = "model file",
    remedy: str = "download it again",
    error: type[SpeechPromptError] = SpeechPromptError,
) -> dict[str, torch.Tensor]:
    """Named tensors from ``*.safetensors`` or a ``torch.save`` file (a state dict, or a dict
    holding one under ``model``); anything else raises ``error`` naming the file."""
    path = os.fspath(path)
    if not path.endswith(".safetensors"):
        state = load_torch_file(path, kind=kind, remedy=remedy, error=error)
    elif not os.path.isfile(path):
        raise error(f"{path}: no such {kind} file")
    else:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(path)
        except SafetensorError as exc:
            raise error(_unreadable(path, exc, kind, remedy)) from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise error(f"{path}: not a {kind} (expected a dict of named tensors); {remedy}")
    return state
