"""Mixed-task batches (``prompt.multitask.TaskBank``): for every backbone, tasks of every prompt
configuration and verbalizer kind (one with fewer labels) on one shared backbone; a batch whose
rows belong to different tasks gives the same candidate scores, greedy and beam hypotheses (each
row with its own length limit) and teacher-forced logits (1e-5) as each row run alone by its
own task's model."""

from __future__ import annotations

import pytest
import torch

from espnet2_speechprompt.errors import SpeechPromptError
from espnet2_speechprompt.prompt.multitask import TaskBank
from test.contract.cases import BACKBONES, CANDIDATES, CASES, Backbone
from test.recompute import assert_same_nbest

ATOL = 1e-5
SEARCH = {"max_len_a": 0.5, "max_len_b": 2}
pytestmark = pytest.mark.usefixtures("one_thread")


def bank_tasks(backbone: Backbone) -> dict[str, tuple[torch.nn.Module, torch.Tensor]]:
    """One task per prompt configuration of ``backbone`` (verbalizer kinds in turn) and one
    with 3 labels and another decoder start or ``<sep>`` token, all on one backbone object;
    each with its own candidates."""
    by_prompt: dict[str, list] = {}
    for case in CASES:
        if case.backbone is backbone:
            by_prompt.setdefault(repr(case.prompt), []).append(case)
    picked = [group[j % len(group)] for j, group in enumerate(by_prompt.values())]
    shared = picked[0].build().backbone
    tasks = {}
    for i, case in enumerate(picked + [picked[-1]]):
        few = i == len(picked)
        model = case.build(seed=i, num_labels=3 if few else 4).eval()
        model._set_backbone(shared)
        if few:  # another decoder start (a language tag, say) or another <sep> token
            setattr(model, "decoder_start" if backbone.encoder_decoder else "sep_index", 5)
        candidates = CANDIDATES[:3] if few else CANDIDATES[: 2 + i % 3]
        tasks[f"{case.id}{'-3labels' if few else ''}"] = (model, candidates)
    return tasks


def mixed_rows(backbone: Backbone, num_tasks: int):
    """Sources cycling through the inputs' rows, tasks cycling through the bank's."""
    x = backbone.inputs()
    rows = torch.arange(2 * num_tasks) % len(x.lengths)
    tasks = torch.arange(2 * num_tasks) % num_tasks
    return x.source[rows], x.lengths[rows], tasks


@pytest.mark.parametrize("backbone", BACKBONES, ids=[b.name for b in BACKBONES])
def test_a_mixed_batch_equals_each_task_alone(backbone: Backbone):
    tasks = bank_tasks(backbone)
    bank = TaskBank({name: model for name, (model, _) in tasks.items()})
    models, candidates = zip(*tasks.values(), strict=True)
    source, lengths, task_ids = mixed_rows(backbone, len(tasks))
    mixed = bank.rows(task_ids)
    row_candidates = [candidates[t] for t in task_ids.tolist()]
    scores = mixed.score_each(source, lengths, row_candidates)
    labels = torch.tensor([[4, 5], [6, 1]]).repeat(len(task_ids) // 2, 1)
    with torch.no_grad():
        logits = mixed.sequence_logits(source, lengths, labels)
    # each task its own length limit: one search for all rows, every row with its own limit
    limit_b = 1 + task_ids % 3
    search = {"max_len_a": SEARCH["max_len_a"], "max_len_b": limit_b}
    nbest = {beam: mixed.search(source, lengths, beam_size=beam, **search) for beam in (1, 3)}
    for r, task in enumerate(task_ids.tolist()):
        model, n = models[task], int(lengths[r])
        row = (source[r : r + 1, :n], lengths[r : r + 1])
        alone = model.score_candidates(*row, candidates[task])[0]
        torch.testing.assert_close(scores[r], alone, atol=ATOL, rtol=0)
        with torch.no_grad():
            forced = model.sequence_logits(*row, labels[r : r + 1])[0]
        torch.testing.assert_close(logits[r, :, : forced.shape[-1]], forced, atol=ATOL, rtol=0)
        assert torch.isinf(logits[r, :, forced.shape[-1] :]).all()
        for beam, hyps in nbest.items():
            own = {**SEARCH, "max_len_b": int(limit_b[r])}
            assert_same_nbest([hyps[r]], model.search(*row, beam_size=beam, **own), ATOL)


def test_a_bank_refuses_tasks_on_other_backbones_and_unknown_names():
    tasks = bank_tasks(BACKBONES[0])
    models = {name: model for name, (model, _) in tasks.items()}
    bank = TaskBank(models)
    with pytest.raises(SpeechPromptError, match="unknown task 'nope': this bank has "):
        bank.task_ids(["nope"])
    other = CASES[0].build()
    with pytest.raises(SpeechPromptError, match="is not on the backbone of task"):
        TaskBank({**models, "other": other})
    with pytest.raises(SpeechPromptError, match="at least one task"):
        TaskBank({})


@pytest.mark.parametrize("backbone", BACKBONES[:2], ids=[b.name for b in BACKBONES[:2]])
def test_a_bf16_bank_scores_as_its_tasks_alone(backbone: Backbone):
    """With the backbone in bf16 the bank's keys/values are projected under the same autocast
    as a task's own: a mixed batch equals each task alone up to bf16 rounding."""
    tasks = bank_tasks(backbone)
    models, candidates = zip(*tasks.values(), strict=True)
    models[0].set_backbone_dtype(torch.bfloat16)  # the shared backbone
    bank = TaskBank(dict(zip(tasks, models, strict=True)))
    source, lengths, task_ids = mixed_rows(backbone, len(tasks))
    scores = bank.rows(task_ids).score_each(source, lengths, [candidates[t] for t in task_ids])
    for r, task in enumerate(task_ids.tolist()):
        row = (source[r : r + 1, : int(lengths[r])], lengths[r : r + 1])
        alone = models[task].score_candidates(*row, candidates[task])[0]
        torch.testing.assert_close(scores[r], alone, atol=0.05, rtol=0.01)
