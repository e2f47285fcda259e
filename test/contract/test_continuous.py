"""Iteration-level batching (``prompt.continuous.ContinuousDecoder``): for every backbone, a
bank of tasks of every prompt configuration decodes requests of mixed tasks, greedy and
sampled (one and two samples), with rows leaving and joining the running batch at every few
steps; each request gets the hypotheses (1e-5) it gets alone from its task's own model."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from espnet2_speechprompt.errors import SpeechPromptError
from espnet2_speechprompt.prompt.continuous import ContinuousDecoder, GenerationRequest
from espnet2_speechprompt.prompt.multitask import TaskBank
from espnet2_speechprompt.speechlm.sampling import SamplingConfig
from test.contract.cases import BACKBONES, Backbone
from test.contract.test_mixed_tasks import bank_tasks, mixed_rows
from test.recompute import assert_same_nbest

ATOL = 1e-5
pytestmark = pytest.mark.usefixtures("one_thread")


def requests_of(backbone: Backbone, names: list[str]) -> list[GenerationRequest]:
    """Every third request greedy, the others sampled (one or two samples); limits vary."""
    source, lengths, task_ids = mixed_rows(backbone, len(names))
    requests = []
    for r, task in enumerate(task_ids.tolist()):
        sampling = None if r % 3 == 0 else SamplingConfig(0.9, top_k=5, num_samples=1 + r % 2)
        row = source[r, : int(lengths[r])]
        requests.append(GenerationRequest(names[task], row, 0.5, 1 + r % 4, sampling, seed=r))
    return requests


def alone(model, request: GenerationRequest):
    row = (request.source[None], torch.tensor([len(request.source)]))
    limits = {"max_len_a": request.max_len_a, "max_len_b": request.max_len_b}
    if request.sampling is None:
        return model.search(*row, beam_size=1, **limits)[0]
    samples = model.sample(*row, [request.seed], request.sampling, **limits)[0]
    return sorted(samples, key=lambda h: -h.score)


@pytest.mark.parametrize("backbone", BACKBONES, ids=[b.name for b in BACKBONES])
@pytest.mark.parametrize("max_rows", [3, 64])
def test_rows_joining_a_running_batch_decode_as_alone(backbone: Backbone, max_rows: int):
    tasks = bank_tasks(backbone)
    decoder = ContinuousDecoder(TaskBank({name: m for name, (m, _) in tasks.items()}), max_rows)
    requests = requests_of(backbone, list(tasks))
    rows_seen = set()
    handles = [decoder.submit(request) for request in requests]
    finished = {}
    while decoder.busy:
        finished.update(decoder.step())
        rows_seen.add(len(decoder.rows))
    assert max(rows_seen) <= max_rows
    for handle, request in zip(handles, requests, strict=True):
        assert_same_nbest([finished[handle]], [alone(tasks[request.task][0], request)], ATOL)


def test_bad_requests_and_settings():
    tasks = bank_tasks(BACKBONES[0])
    bank = TaskBank({name: m for name, (m, _) in tasks.items()})
    with pytest.raises(SpeechPromptError, match="unknown task 'nope'"):
        ContinuousDecoder(bank).submit(GenerationRequest("nope", torch.tensor([5, 6])))
    with pytest.raises(ValueError, match="max_rows"):
        ContinuousDecoder(bank, 0)


def test_a_batch_that_rows_keep_joining_stays_as_long_as_its_rows_need():
    """Keys of rows long gone are dropped: with requests streaming through three rows (up to
    40 labels each, so the batch never empties), the running keys stay within a few requests'
    worth instead of growing with the stream."""
    backbone = BACKBONES[0]
    tasks = bank_tasks(backbone)
    decoder = ContinuousDecoder(TaskBank({name: m for name, (m, _) in tasks.items()}), 3)
    requests = [replace(r, max_len_a=0.0, max_len_b=40) for r in requests_of(backbone, list(tasks))]
    for request in requests * 10:
        decoder.submit(request)
    longest = 0
    while decoder.busy:
        decoder.step()
        if decoder.state is not None:
            longest = max(longest, decoder.state.key_allowed.shape[1])
    most = max(len(r.source) for r in requests) + 40 + 40  # source, labels, prompts
    assert longest <= 4 * most + 16
