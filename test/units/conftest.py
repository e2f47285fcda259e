"""Fixtures of the unit-pipeline tests: a tiny HuBERT checkpoint and a data dir of tones."""

from __future__ import annotations

import os

import pytest

from test.factories.audio import make_tone_data_dir
from test.factories.hubert import save_native_as_fairseq, tiny_hubert


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every unit-pipeline test on one intra-op thread (``one_thread``)."""


@pytest.fixture
def hubert_ckpt(tmp_path) -> str:
    return save_native_as_fairseq(tiny_hubert(), os.fspath(tmp_path / "hubert_tiny.pt"))


@pytest.fixture
def data_dir(tmp_path) -> str:
    """6 utterances of tones + noise; ``utt3`` is read through a ``cat ... |`` pipe."""
    return make_tone_data_dir(tmp_path)
