"""Masked source units (speech inpainting): a units file's -1 becomes the dictionary's
``<mask>``, or with ``prompt_conf.mask_vector`` a placeholder whose embedding a trainable mask
vector replaces, in the decoder-only and the encoder-decoder prompted models, and per row in a
task bank; no ``<mask>`` and no mask vector is one error."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from espnet2_speechprompt.api.inputs import SpeechPromptDataError
from espnet2_speechprompt.api.preprocess import UnitEncoder
from espnet2_speechprompt.prompt.builders import build_prompted
from espnet2_speechprompt.prompt.multitask import TaskBank
from espnet2_speechprompt.prompt.prompts import PromptConfig
from espnet2_speechprompt.verbalizer.fixed import FixedVerbalizer
from espnet2_speechprompt.vocab import PAD, UNK, Dictionary
from test.factories.encdec import tiny_encdec
from test.factories.unit_lm import tiny_decoder

VOCAB = 20
CONFIG = PromptConfig(input_length=2, deep_length=2, separator=False, dropout=0.0, mask_vector=True)
pytestmark = pytest.mark.usefixtures("one_thread")


def test_masked_units_map_to_mask_or_the_placeholder():
    units = np.array([3, -1, -1, 5])
    plain = Dictionary(str(u) for u in range(10))
    with pytest.raises(SpeechPromptDataError, match="utterance u1: masked units .* no <mask>"):
        UnitEncoder(plain, "dict.txt").encode(units, "u1")
    tokens = UnitEncoder(plain, "dict.txt", mask_vector=True).encode(units, "u1")
    assert tokens.tolist() == [plain.index("3"), UNK, UNK, plain.index("5")]
    with_mask = Dictionary([*(str(u) for u in range(10)), "<mask>"])
    tokens = UnitEncoder(with_mask, "dict.txt").encode(units, "u1")
    mask = with_mask.index("<mask>")
    assert tokens.tolist() == [with_mask.index("3"), mask, mask, with_mask.index("5")]


def models():
    torch.manual_seed(0)
    verbalizer = FixedVerbalizer([5, 6, 7])
    yield "gslm", build_prompted(tiny_decoder(VOCAB), verbalizer, CONFIG)
    torch.manual_seed(0)
    yield "unit_mbart", build_prompted(tiny_encdec(VOCAB, dim=16, heads=2), verbalizer, CONFIG)


@pytest.mark.parametrize(
    "name, model", list(models()), ids=lambda x: x if isinstance(x, str) else ""
)
def test_the_mask_vector_is_trained_only_through_masked_units(name, model):
    model.eval()
    mask = model.prompts.mask if name == "gslm" else model.encoder_prompts.mask
    source = torch.tensor([[8, UNK, UNK, 9, 10], [8, 9, 10, PAD, PAD]])
    lengths = torch.tensor([5, 3])
    labels, label_lengths = torch.tensor([[4], [5]]), torch.tensor([1, 1])
    model(source[1:], lengths[1:], labels[1:], label_lengths[1:])["loss"].backward()
    assert mask.grad is None or not mask.grad.any()
    model(source, lengths, labels, label_lengths)["loss"].backward()
    assert mask.grad is not None and mask.grad.any()
    candidates = torch.tensor([[4], [5], [6]])
    batched = model.score_candidates(source, lengths, candidates)
    for r in range(2):
        alone = model.score_candidates(
            source[r : r + 1, : lengths[r]], lengths[r : r + 1], candidates
        )
        torch.testing.assert_close(batched[r : r + 1], alone, atol=1e-5, rtol=0)
    with torch.no_grad():  # (not a constant shift: layer norms would remove it)
        mask.add_(torch.randn(mask.shape, generator=torch.Generator().manual_seed(1)))
    moved = model.score_candidates(source, lengths, candidates)
    assert not torch.allclose(moved[0], batched[0]) and torch.allclose(moved[1], batched[1])


@pytest.mark.parametrize(
    "name, model", list(models()), ids=lambda x: x if isinstance(x, str) else ""
)
def test_a_bank_gives_each_row_its_own_tasks_mask_vector(name, model):
    """Two inpainting tasks (their own mask vectors) and a task without one on one backbone:
    a mixed batch of masked sources scores as each task alone."""
    model.eval()
    other = build_prompted(model.backbone, FixedVerbalizer([5, 6, 7]), CONFIG).eval()
    plain = build_prompted(
        model.backbone, FixedVerbalizer([6, 7, 8]), replace(CONFIG, mask_vector=False)
    ).eval()
    tasks = {"inpaint": model, "inpaint2": other, "plain": plain}
    source = torch.tensor([[8, UNK, UNK, 9, 10], [8, UNK, 10, 9, PAD], [UNK, 9, 10, 11, 8]])
    lengths, candidates = torch.tensor([5, 4, 5]), torch.tensor([[4], [5], [6]])
    task_ids = torch.tensor([0, 1, 2])
    bank = TaskBank(tasks)
    mixed = bank.rows(task_ids).score_each(source, lengths, [candidates] * 3)
    for r, task in enumerate(tasks.values()):
        row = (source[r : r + 1, : lengths[r]], lengths[r : r + 1])
        torch.testing.assert_close(
            mixed[r], task.score_candidates(*row, candidates)[0], atol=1e-5, rtol=0
        )
    assert not torch.allclose(
        mixed[0],
        bank.rows(torch.tensor([1, 1, 1])).score_each(source, lengths, [candidates] * 3)[0],
    )
