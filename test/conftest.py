"""Shared fixtures: tiny models, seeded; fairseq only as a reference oracle."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from espnet2_speechprompt.speechlm.transformer_lm import DecoderConfig, TransformerDecoder

FAIRSEQ_MISSING = importlib.util.find_spec("fairseq") is None
needs_fairseq = pytest.mark.skipif(
    FAIRSEQ_MISSING,
    reason="fairseq is not installed (reference oracle; `pip install -e .[test]` brings ve-fairseq)",
)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="session")
def _package_cache(tmp_path_factory):
    """Packed tasks unpack into a temporary cache, never the user's (also in subprocesses)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SPEECHPROMPT_CACHE_DIR", str(tmp_path_factory.mktemp("package_cache")))
        yield


def tiny_decoder(vocab_size: int = 20, **overrides) -> TransformerDecoder:
    config = DecoderConfig(
        vocab_size=vocab_size,
        embed_dim=16,
        ffn_dim=32,
        num_layers=2,
        num_heads=2,
        max_positions=64,
        **overrides,
    )
    return TransformerDecoder(config).eval()


@pytest.fixture(scope="session")
def unit_task_data(tmp_path_factory):
    """The tiny unit LM + units/label files of ``test.task_data`` (made once per session)."""
    from test.task_data import make_task_data

    return make_task_data(tmp_path_factory.mktemp("task"))
