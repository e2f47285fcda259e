"""fairseq as a reference oracle: a skip marker for when it is missing, and fairseq's own
models at the sizes of the tiny native ones."""

from __future__ import annotations

import importlib.util

import pytest

from test.factories.hubert import TINY_CONV

FAIRSEQ_MISSING = importlib.util.find_spec("fairseq") is None
needs_fairseq = pytest.mark.skipif(
    FAIRSEQ_MISSING,
    reason="fairseq is not installed (reference oracle; `pip install -e .[test]` brings ve-fairseq)",
)


def fairseq_tiny_hubert(num_layers: int, normalize: bool = False, **settings):
    """fairseq's own HuBERT at the sizes of ``tiny_hubert`` (needs fairseq; not perturbed):
    ``(cfg, task_cfg, dictionary, model)``; ``settings`` override ``HubertConfig`` fields."""
    from fairseq.data import Dictionary
    from fairseq.models.hubert import hubert as fairseq_hubert
    from fairseq.tasks.hubert_pretraining import HubertPretrainingConfig

    cfg = fairseq_hubert.HubertConfig(
        label_rate=50,
        encoder_layers=num_layers,
        encoder_embed_dim=16,
        encoder_ffn_embed_dim=32,
        encoder_attention_heads=2,
        conv_pos=4,
        conv_pos_groups=2,
        **{"conv_feature_layers": TINY_CONV, **settings},
    )
    dictionary = Dictionary()
    for i in range(5):
        dictionary.add_symbol(str(i))
    task_cfg = HubertPretrainingConfig(label_rate=50, normalize=normalize)
    return cfg, task_cfg, dictionary, fairseq_hubert.HubertModel(cfg, task_cfg, [dictionary])
