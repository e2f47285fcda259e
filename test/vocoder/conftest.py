"""Fixtures of the vocoder tests: a tiny unit HiFi-GAN checkpoint in the released layout."""

from __future__ import annotations

import pytest

from test.factories.vocoder import native_state, save_released, tiny_config


@pytest.fixture
def native_ckpt(tmp_path) -> tuple[str, str]:
    cfg = tiny_config(dur=True)
    return save_released(tmp_path / "voc", native_state(cfg), cfg)
