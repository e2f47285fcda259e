"""Prompt tuning a frozen, pre-trained tiny encoder-decoder elicits one of the mappings it
knows (a fixed unit substitution) without the marker it was trained with: held-out token
accuracy of the *generated* sequences (greedy and beam) at least 0.5 above the untuned model's
and 0.8 or more, backbone bit-identical.

Measured 0.997-1.0 (beam 0.985-1.0) tuned from 0.09-0.15 untuned, loss down 300-550 fold, under
1 or 2 threads, ATen's default, AVX2 and AVX-512 kernels and MKL's AVX2 path; the bars leave room
for other CPUs' arithmetic."""

from __future__ import annotations

import torch

from espnet2_speechprompt.prompt.prompted_encdec import PromptedEncoderDecoder
from espnet2_speechprompt.prompt.prompts import PromptConfig
from espnet2_speechprompt.verbalizer.fixed import FixedVerbalizer
from test.factories import seq2seq as toy

MIN_GAIN, MIN_ACCURACY = 0.5, 0.8


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
    beam = toy.generated_token_accuracy(model, test[:64], corpus, beam_size=3)
    ratio = losses[-1] / losses[0]
    print(f"enc-dec prompt tuning: {before:.3f} -> {after:.3f}, beam {beam:.3f}, loss x{ratio:.4f}")
    assert min(after, beam) >= max(before + MIN_GAIN, MIN_ACCURACY), (before, after, beam)
    assert losses[-1] < 0.1 * losses[0]
    assert all(torch.equal(v, frozen[k]) for k, v in backbone.state_dict().items())
