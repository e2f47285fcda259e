"""k-means units: load (plain ``.npy`` or released joblib pickles, safely), apply, learn.

The released GSLM / S2ST k-means files (``km.bin``, ``*_km1000.bin``) are ``joblib.dump``s of
scikit-learn ``MiniBatchKMeans`` objects. They are read with a restricted unpickler that
rebuilds numpy arrays but turns every class into an inert stub and refuses globals that run
code, so no code from the file runs; only ``cluster_centers_`` is kept. The project's own
format is the centres as a ``.npy``.
"""

from __future__ import annotations

import bz2
import gzip
import importlib
import inspect
import io
import logging
import lzma
import os
import zlib
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from joblib.numpy_pickle import NumpyArrayWrapper, NumpyUnpickler
from torch import nn

from espnet2_speechprompt.fileio import atomic_open
from espnet2_speechprompt.safe_load import PickledStub, check_global, stub_class
from espnet2_speechprompt.units.errors import KMeansError

logger = logging.getLogger(__name__)

_BUILTINS = {"set", "frozenset", "list", "tuple", "dict", "int", "float", "bool", "str", "bytes"}
_BUILTINS |= {"bytearray", "complex", "slice", "range"}
_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")


def _numpy_global(module: str, name: str) -> Any:
    """The few numpy globals an array / scalar / dtype pickle needs, else None."""
    if module == "numpy" and name in {"ndarray", "dtype"}:
        return getattr(np, name)
    if module in _NUMPY_MODULES and name in {"_reconstruct", "scalar"}:
        candidates = _NUMPY_MODULES
    elif module in {"numpy.core.numeric", "numpy._core.numeric"} and name == "_frombuffer":
        candidates = ("numpy._core.numeric", "numpy.core.numeric")
    else:
        return None
    for candidate in candidates:
        try:
            return getattr(importlib.import_module(candidate), name)
        except (ImportError, AttributeError):
            continue
    return None


class SafeJoblibUnpickler(NumpyUnpickler):
    """joblib's unpickler (arrays stored after the pickle stream) with every class stubbed and
    globals that run code refused."""

    def find_class(self, module: str, name: str) -> Any:
        check_global(self.filename, module, name, "k-means file", KMeansError)
        if name == "NumpyArrayWrapper" and module.endswith("joblib.numpy_pickle"):
            return NumpyArrayWrapper
        if module == "builtins" and name in _BUILTINS:
            return getattr(__import__("builtins"), name)
        if module == "_codecs" and name == "encode":
            return __import__("codecs").encode
        real = _numpy_global(module, name) if module.startswith("numpy") else None
        return real if real is not None else stub_class(f"{module}.{name}")


_COMPRESSED = {
    b"\x78": zlib.decompress,  # joblib's 'zlib' compressor
    b"\x1f\x8b": gzip.decompress,
    b"BZh": bz2.decompress,
    b"\xfd7zXZ": lzma.decompress,
    b"]\x00\x00": lzma.decompress,
}


def _safe_joblib_load(path: str) -> Any:
    with open(path, "rb") as f:
        data = f.read()
    for magic, decompress in _COMPRESSED.items():
        if data.startswith(magic):
            data = decompress(data)
            break
    if data.startswith(b"ZF"):
        raise KMeansError(f"{path}: a joblib < 0.10 file; re-save it with a recent joblib")
    handle = io.BytesIO(data)
    kwargs: dict[str, Any] = {}
    if "ensure_native_byte_order" in inspect.signature(NumpyUnpickler.__init__).parameters:
        kwargs["ensure_native_byte_order"] = "auto"
    return SafeJoblibUnpickler(path, handle, **kwargs).load()


def _centres_of(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj
    if isinstance(obj, PickledStub):
        return obj.__dict__.get("cluster_centers_")
    if isinstance(obj, dict):
        return obj.get("cluster_centers_")
    return None


def load_centres(path: str | os.PathLike) -> np.ndarray:
    """Centres ``[K, D]`` (float32) from a ``.npy`` file or a joblib-pickled k-means model."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise KMeansError(f"{path}: no such k-means file")
    with open(path, "rb") as f:
        is_npy = f.read(6) == b"\x93NUMPY"
    try:
        obj = np.load(path, allow_pickle=False) if is_npy else _safe_joblib_load(path)
    except KMeansError:
        raise
    except Exception as exc:  # pickle / numpy raise many types for a corrupt file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise KMeansError(
            f"{path}: not a readable k-means file ({type(exc).__name__}: {reason})"
        ) from None
    centres = _centres_of(obj)
    if not isinstance(centres, np.ndarray) or centres.ndim != 2 or centres.dtype.kind != "f":
        raise KMeansError(
            f"{path}: no k-means centres found (expected a [K, D] float array or a "
            "scikit-learn KMeans/MiniBatchKMeans pickle with cluster_centers_)"
        )
    if not np.isfinite(centres).all():
        raise KMeansError(f"{path}: k-means centres contain NaN or Inf")
    return np.ascontiguousarray(centres)


class KMeansQuantizer(nn.Module):
    """Nearest-centre assignment, as scikit-learn's ``predict``: argmin ‖x − c‖².

    Distances are ``‖x‖² − 2x·C + ‖C‖²`` in the centres' dtype, computed in chunks of frames
    to bound memory.
    """

    def __init__(self, centres: np.ndarray | torch.Tensor, source: str = "k-means"):
        super().__init__()
        centres = torch.as_tensor(
            np.asarray(centres) if isinstance(centres, np.ndarray) else centres
        )
        if centres.dim() != 2:
            raise KMeansError(f"{source}: centres must be [K, D], got {tuple(centres.shape)}")
        self.source = source
        self.register_buffer("centres", centres.clone())
        self.register_buffer("centre_sq", centres.pow(2).sum(dim=1))

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> KMeansQuantizer:
        return cls(load_centres(path), source=os.fspath(path))

    @property
    def n_clusters(self) -> int:
        return int(self.centres.shape[0])

    @property
    def dim(self) -> int:
        return int(self.centres.shape[1])

    def check_dim(self, feature_dim: int) -> None:
        if feature_dim != self.dim:
            raise KMeansError(
                f"k-means dimension {self.dim} ({self.source}) does not match the feature "
                f"dimension {feature_dim}: learn the k-means on the same feature type and layer"
            )

    @torch.no_grad()
    def forward(self, features: torch.Tensor, chunk: int = 16384) -> torch.Tensor:
        """Unit ids (long) for features ``[..., D]``."""
        self.check_dim(int(features.shape[-1]))
        flat = features.reshape(-1, self.dim).to(self.centres)
        out = torch.empty(flat.shape[0], dtype=torch.long, device=flat.device)
        for start in range(0, flat.shape[0], chunk):
            x = flat[start : start + chunk]
            dist = x.pow(2).sum(dim=1, keepdim=True) - 2 * x @ self.centres.T + self.centre_sq
            out[start : start + chunk] = dist.argmin(dim=1)
        return out.reshape(features.shape[:-1])

    def save(self, path: str | os.PathLike) -> None:
        """Write the centres as ``.npy`` (atomically)."""
        save_centres(self.centres.cpu().numpy(), path)


def save_centres(centres: np.ndarray, path: str | os.PathLike) -> None:
    with atomic_open(path, "wb") as f:
        np.save(f, np.asarray(centres, dtype=np.float32))


class FrameReservoir:
    """A seeded uniform sample of at most ``max_frames`` frames from a stream (reservoir)."""

    def __init__(self, max_frames: int, seed: int = 0):
        if max_frames < 1:
            raise KMeansError("max_frames must be positive")
        self.max_frames, self.seen = max_frames, 0
        self.rng = np.random.default_rng(seed)
        self.buffer: np.ndarray | None = None
        self.filled = 0

    def add(self, frames: np.ndarray) -> None:
        frames = np.asarray(frames, dtype=np.float32)
        if self.buffer is None:
            self.buffer = np.empty((self.max_frames, frames.shape[1]), dtype=np.float32)
        elif frames.shape[1] != self.buffer.shape[1]:
            raise KMeansError(f"frame dim {frames.shape[1]} != {self.buffer.shape[1]}")
        take = min(self.max_frames - self.filled, len(frames))
        self.buffer[self.filled : self.filled + take] = frames[:take]
        self.filled += take
        rest = frames[take:]
        if len(rest):  # frame number t (0-based) replaces a random slot with prob. max/(t+1)
            t = self.seen + take + np.arange(len(rest))
            slots = (self.rng.random(len(rest)) * (t + 1)).astype(np.int64)
            for i in np.flatnonzero(slots < self.max_frames):
                self.buffer[slots[i]] = rest[i]
        self.seen += len(frames)

    def frames(self) -> np.ndarray:
        if self.buffer is None:
            return np.empty((0, 0), dtype=np.float32)
        return self.buffer[: self.filled]


def learn_kmeans(
    frames: np.ndarray | Iterable[np.ndarray],
    n_clusters: int,
    *,
    seed: int = 0,
    max_frames: int = 1_000_000,
    batch_size: int = 10000,
    max_iter: int = 100,
    n_init: int = 20,
    max_no_improvement: int = 100,
    init_size: int | None = None,
) -> tuple[KMeansQuantizer, Any]:
    """Fit scikit-learn ``MiniBatchKMeans`` on (a seeded sample of) frames ``[N, D]``.

    ``frames`` may be an iterable of per-utterance arrays: only a reservoir of ``max_frames``
    frames is ever held. Returns the quantizer and the fitted scikit-learn model.
    """
    from sklearn.cluster import MiniBatchKMeans

    reservoir = FrameReservoir(max_frames, seed)
    for chunk in [frames] if isinstance(frames, np.ndarray) else frames:
        reservoir.add(chunk)
    data = reservoir.frames()
    if len(data) < n_clusters:
        raise KMeansError(
            f"need at least {n_clusters} frames for {n_clusters} clusters, got {len(data)}"
        )
    logger.info("k-means: %d clusters on %d of %d frames", n_clusters, len(data), reservoir.seen)
    model = MiniBatchKMeans(
        n_clusters=n_clusters,
        init="k-means++",
        max_iter=max_iter,
        batch_size=batch_size,
        tol=0.0,
        max_no_improvement=max_no_improvement,
        init_size=init_size,
        n_init=n_init,
        reassignment_ratio=0.0,
        random_state=seed,
        compute_labels=False,
    )
    model.fit(data)
    return KMeansQuantizer(model.cluster_centers_, source="learned k-means"), model
