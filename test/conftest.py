"""Shared fixtures; the tiny models and data they build come from ``test.factories``."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def one_thread():
    """Tiny models: one intra-op thread avoids OpenMP spin-waits on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True, scope="session")
def _package_cache(tmp_path_factory):
    """Packed tasks unpack into a temporary cache, never the user's (also in subprocesses)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SPEECHPROMPT_CACHE_DIR", str(tmp_path_factory.mktemp("package_cache")))
        yield


@pytest.fixture(scope="session")
def unit_task_data(tmp_path_factory):
    """The tiny unit LM + units/label files of ``make_task_data`` (made once per session)."""
    from test.factories.task_data import make_task_data

    return make_task_data(tmp_path_factory.mktemp("task"))


@pytest.fixture(scope="session")
def icl_task_data(tmp_path_factory):
    """Toy tasks and a tiny random unit LM of ``make_icl_data``, with warm-up episodes written
    by ``icl_episodes`` in ``episodes/`` (made once per session)."""
    from espnet2_speechprompt.bin import icl_episodes
    from test.factories.icl_data import episode_args, make_icl_data

    root = make_icl_data(tmp_path_factory.mktemp("icl"))
    icl_episodes.main(episode_args(root, root / "episodes"))
    return root
