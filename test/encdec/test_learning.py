"""Prompt tuning a frozen, pre-trained tiny encoder-decoder elicits one of the mappings it
knows (a fixed unit substitution) without the marker it was trained with: >= 0.95 held-out
token accuracy of the *generated* sequences, backbone bit-identical."""

from __future__ import annotations

import torch

from espnet2_speechprompt import toy_seq2seq as toy
from espnet2_speechprompt.prompt.prompted_encdec import PromptedEncoderDecoder
from espnet2_speechprompt.prompt.prompts import PromptConfig
from espnet2_speechprompt.verbalizer.fixed import FixedVerbalizer


def test_prompt_tuning_elicits_a_mapping():
    corpus = toy.make_corpus(seed=0)
    backbone = toy.pretrain(corpus, steps=400, batch_size=32, seed=0)
    frozen = {k: v.clone() for k, v in backbone.state_dict().items()}
    torch.manual_seed(0)
    config = PromptConfig(input_length=4, deep_length=4, separator=False, dropout=0.0)
    model = PromptedEncoderDecoder(backbone, FixedVerbalizer(corpus.unit_tokens()), config)
    train = corpus.pairs("substitute", 600, seed=1)
    test = corpus.pairs("substitute", 200, seed=2)
    before = toy.generated_token_accuracy(model, test, corpus)
    losses = toy.tune(model, train, corpus, epochs=8, lr=2e-2)
    after = toy.generated_token_accuracy(model, test, corpus)
    assert after >= 0.95 and before < 0.5, (before, after)
    assert losses[-1] < 0.1 * losses[0]
    assert toy.generated_token_accuracy(model, test[:64], corpus, beam_size=3) >= 0.95
    assert all(torch.equal(v, frozen[k]) for k, v in backbone.state_dict().items())
