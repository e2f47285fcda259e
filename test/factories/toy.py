"""The demo's synthetic unit-classification corpus, its small pre-trained unit LM and its
prompt tuning, for the tests that check that prompt tuning learns."""

from __future__ import annotations

from espnet2_speechprompt.bin.demo import accuracy, tune_prompts
from espnet2_speechprompt.bin.demo import pretrain_lm as pretrain_unit_lm
from espnet2_speechprompt.data.synthetic import ToyCorpus, frequency_counts, make_toy_corpus

__all__ = [
    "ToyCorpus",
    "accuracy",
    "frequency_counts",
    "make_toy_corpus",
    "pretrain_unit_lm",
    "tune_prompts",
]
