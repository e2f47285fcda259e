"""k-means files: safe loading of scikit-learn/joblib pickles, .npy, assignment, learning."""

from __future__ import annotations

import os
import pickle
import sys
import types

import joblib
import numpy as np
import pytest
import torch
from sklearn.cluster import MiniBatchKMeans

from espnet2_speechprompt.units.errors import KMeansError
from espnet2_speechprompt.units.kmeans import (
    FrameReservoir,
    KMeansQuantizer,
    learn_kmeans,
    load_centres,
    save_centres,
)


@pytest.fixture(scope="module")
def fitted():
    data = np.random.default_rng(0).normal(size=(600, 12)).astype(np.float32)
    model = MiniBatchKMeans(n_clusters=7, n_init=1, random_state=0, batch_size=256)
    return model.fit(data), data


@pytest.mark.parametrize("compress", [0, 3, ("gzip", 3), ("xz", 1)])
def test_joblib_sklearn_model_round_trips(tmp_path, fitted, compress):
    model, data = fitted
    path = os.fspath(tmp_path / "km.bin")
    joblib.dump(model, path, compress=compress)
    centres = load_centres(path)
    np.testing.assert_array_equal(centres, model.cluster_centers_)
    units = KMeansQuantizer.from_file(path)(torch.from_numpy(data))
    np.testing.assert_array_equal(units.numpy(), model.predict(data))


def test_assignment_equals_sklearn_predict_on_new_data(fitted):
    model, _ = fitted
    queries = np.random.default_rng(1).normal(size=(2, 50, 12)).astype(np.float32)
    units = KMeansQuantizer(model.cluster_centers_)(torch.from_numpy(queries))
    assert units.shape == (2, 50)
    np.testing.assert_array_equal(units.reshape(-1).numpy(), model.predict(queries.reshape(-1, 12)))
    chunked = KMeansQuantizer(model.cluster_centers_)(torch.from_numpy(queries), chunk=7)
    assert torch.equal(chunked, units)


def test_legacy_class_path_is_read_without_sklearn(tmp_path, fitted):
    """Old pickles name ``sklearn.cluster.k_means_.MiniBatchKMeans`` and lack new attributes."""
    model, _ = fitted
    legacy = types.ModuleType("sklearn.cluster.k_means_")

    class MiniBatchKMeans:  # a stand-in pickled under the legacy module path
        pass

    MiniBatchKMeans.__module__ = legacy.__name__
    MiniBatchKMeans.__qualname__ = "MiniBatchKMeans"
    legacy.MiniBatchKMeans = MiniBatchKMeans
    old = MiniBatchKMeans()
    old.__dict__.update(n_clusters=7, cluster_centers_=model.cluster_centers_, inertia_=1.5)
    sys.modules[legacy.__name__] = legacy
    try:
        joblib.dump(old, tmp_path / "km_old.bin")
    finally:
        del sys.modules[legacy.__name__]
    np.testing.assert_array_equal(load_centres(tmp_path / "km_old.bin"), model.cluster_centers_)


class _Evil:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("where", ["top", "object_array", "plain_pickle"])
def test_malicious_pickle_does_not_execute(tmp_path, fitted, where):
    marker = tmp_path / "pwned"
    evil = _Evil(os.fspath(marker))
    path = tmp_path / "km.bin"
    if where == "top":
        joblib.dump(evil, path)
    elif where == "object_array":  # joblib pickles object arrays in a nested stream
        model, _ = fitted
        payload = {"cluster_centers_": model.cluster_centers_, "x": np.array([evil], dtype=object)}
        joblib.dump(payload, path)
    else:
        path.write_bytes(pickle.dumps(evil))
    with pytest.raises(KMeansError, match="km.bin refers to posix.system: not a k-means file"):
        load_centres(path)
    assert not marker.exists()


def test_npy_round_trip_and_dim_mismatch(tmp_path):
    centres = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    save_centres(centres, tmp_path / "km.npy")
    quantizer = KMeansQuantizer.from_file(tmp_path / "km.npy")
    assert (quantizer.n_clusters, quantizer.dim) == (5, 3)
    assert torch.equal(quantizer(torch.from_numpy(centres)), torch.arange(5))
    with pytest.raises(
        KMeansError,
        match=r"k-means dimension 3 \(.*km.npy\) does not match the feature dimension 39",
    ):
        quantizer(torch.zeros(4, 39))


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not a readable k-means file"),
        (b"garbage that is not a pickle", "not a readable k-means file"),
        (pickle.dumps({"a": 1}), "no k-means centres found"),
    ],
)
def test_bad_kmeans_files(tmp_path, content, message):
    path = tmp_path / "km.bin"
    path.write_bytes(content)
    with pytest.raises(KMeansError, match=message):
        load_centres(path)
    with pytest.raises(KMeansError, match="no such k-means file"):
        load_centres(tmp_path / "absent.bin")


def test_reservoir_is_bounded_seeded_and_uniform():
    stream = [np.full((100, 2), i, dtype=np.float32) for i in range(50)]  # 5000 frames
    a, b = FrameReservoir(500, seed=3), FrameReservoir(500, seed=3)
    for chunk in stream:
        a.add(chunk)
        b.add(chunk)
    assert a.frames().shape == (500, 2) and a.seen == 5000
    np.testing.assert_array_equal(a.frames(), b.frames())
    counts = np.bincount(a.frames()[:, 0].astype(int), minlength=50)
    assert counts.min() >= 1 and counts.max() <= 25  # ~10 per utterance, not the first 5


def test_learn_kmeans_from_a_stream(tmp_path):
    rng = np.random.default_rng(0)
    means = np.array([[0, 0], [10, 0], [0, 10]], dtype=np.float32)
    chunks = [means[i % 3] + rng.normal(0, 0.3, (40, 2)).astype(np.float32) for i in range(30)]
    quantizer, model = learn_kmeans(iter(chunks), 3, max_frames=300, n_init=2, max_iter=20)
    assert sorted(np.round(quantizer.centres.numpy()).tolist()) == sorted(means.tolist())
    joblib.dump(model, tmp_path / "km.bin")
    np.testing.assert_allclose(load_centres(tmp_path / "km.bin"), quantizer.centres.numpy())
    with pytest.raises(KMeansError, match="need at least 500 frames for 500 clusters, got 300"):
        learn_kmeans(iter(chunks), 500, max_frames=300)
