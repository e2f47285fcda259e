"""Prompt tuning a small frozen LM (pre-trained here on unlabeled synthetic units) learns a
sequence-level label with every verbalizer type that applies: held-out accuracy at least 0.5
above the untuned model's and above chance (0.25).

Measured 0.96-0.99 tuned from 0.06-0.22 untuned, the same under 1 or 2 threads and ATen's
default, AVX2 and AVX-512 kernels; the bars leave room for other CPUs' arithmetic."""

from __future__ import annotations

import pytest
import torch

from espnet2_speechprompt.prompt.prompted_lm import PromptedUnitLM
from espnet2_speechprompt.prompt.prompts import PromptConfig
from espnet2_speechprompt.verbalizer.fixed import FixedVerbalizer, frequency_mapping, random_mapping
from espnet2_speechprompt.verbalizer.learnable import LearnableVerbalizer
from test.factories import toy


@pytest.fixture(scope="module")
def corpus_and_lm():
    corpus = toy.make_toy_corpus(seed=0)
    return corpus, toy.pretrain_unit_lm(corpus, seed=0)


def _verbalizer(kind: str, corpus: toy.ToyCorpus):
    units = corpus.vocab.unit_indices()
    if kind == "random":
        return FixedVerbalizer(random_mapping(corpus.num_classes, units, seed=0))
    if kind == "frequency":
        return FixedVerbalizer(frequency_mapping(*toy.frequency_counts(corpus)))
    init = random_mapping(corpus.num_classes, units, seed=0)
    return LearnableVerbalizer(len(corpus.vocab), corpus.num_classes, init_tokens=init)


CHANCE = 0.25  # 4 classes
MIN_GAIN = 0.5


@pytest.mark.parametrize("kind", ["random", "frequency", "learnable"])
def test_prompt_tuning_learns_far_above_the_untuned_model(corpus_and_lm, kind):
    corpus, lm = corpus_and_lm
    frozen = {k: v.clone() for k, v in lm.state_dict().items()}
    torch.manual_seed(0)
    model = PromptedUnitLM(lm, _verbalizer(kind, corpus), PromptConfig(4, 4, dropout=0.0))
    before = toy.accuracy(model, corpus.test, corpus.num_classes)
    losses = toy.tune_prompts(model, corpus.train, epochs=8, lr=2e-2, seed=0)
    after = toy.accuracy(model, corpus.test, corpus.num_classes)
    print(f"prompt tuning, {kind} verbalizer: accuracy {before:.3f} -> {after:.3f}")
    assert after >= before + MIN_GAIN and after >= CHANCE + MIN_GAIN, (kind, before, after)
    assert losses[-1] < losses[0]
    assert all(torch.equal(v, frozen[k]) for k, v in lm.state_dict().items())
