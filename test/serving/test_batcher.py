"""The dynamic batcher: batches up to ``max_batch`` across tasks, waits at most ``max_wait``,
refuses past ``max_queue`` and after shutdown began (still answering what it accepted), and a
bad request fails alone."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from espnet2_speechprompt.errors import SpeechPromptError
from espnet2_speechprompt.serving.batcher import DynamicBatcher, QueueFull, ShuttingDown


class Recorder:
    """A predict function that records its batches; it can be held until released."""

    def __init__(self, hold: bool = False):
        self.batches: list[list[str]] = []
        self.release = threading.Event()
        self.entered = threading.Event()
        if not hold:
            self.release.set()

    def __call__(self, tasks, sources):
        self.entered.set()
        self.release.wait(10)
        self.batches.append(list(tasks))
        if any(int(s[0]) < 0 for s in sources):
            raise SpeechPromptError("a negative unit")
        return [f"{t}:{int(s.sum())}" for t, s in zip(tasks, sources, strict=True)]


def test_requests_of_different_tasks_share_batches_up_to_the_limit():
    predict = Recorder(hold=True)
    batcher = DynamicBatcher(predict, max_batch=3, max_wait=0.05, max_queue=16)
    first = batcher.submit("a", torch.tensor([1]))
    assert predict.entered.wait(5)  # the worker holds a batch of one
    futures = [batcher.submit(t, torch.tensor([i])) for i, t in enumerate("abcab")]
    predict.release.set()
    assert first.result(5) == "a:1"
    assert [f.result(5) for f in futures] == ["a:0", "b:1", "c:2", "a:3", "b:4"]
    assert predict.batches == [["a"], ["a", "b", "c"], ["a", "b"]]
    assert batcher.stats.batch_sizes == {1: 1, 3: 1, 2: 1} and batcher.stats.answered == 6
    batcher.close()


def test_a_lone_request_waits_at_most_max_wait():
    batcher = DynamicBatcher(Recorder(), max_batch=8, max_wait=0.02)
    start = time.perf_counter()
    assert batcher.submit("a", torch.tensor([2])).result(5) == "a:2"
    assert time.perf_counter() - start < 2.0
    batcher.close()


def test_full_queue_and_shutdown_refuse_while_accepted_requests_are_answered():
    predict = Recorder(hold=True)
    batcher = DynamicBatcher(predict, max_batch=1, max_wait=0.0, max_queue=1)
    running = batcher.submit("a", torch.tensor([1]))
    assert predict.entered.wait(5)
    queued = batcher.submit("b", torch.tensor([2]))
    with pytest.raises(QueueFull, match="1 requests are queued"):
        batcher.submit("c", torch.tensor([3]))
    batcher.begin_shutdown()
    with pytest.raises(ShuttingDown):
        batcher.submit("d", torch.tensor([4]))
    predict.release.set()
    batcher.close(5)
    assert (running.result(0), queued.result(0)) == ("a:1", "b:2")


def test_a_bad_request_fails_alone():
    predict = Recorder(hold=True)
    batcher = DynamicBatcher(predict, max_batch=4, max_wait=0.05)
    blocker = batcher.submit("a", torch.tensor([0]))
    assert predict.entered.wait(5)
    good, bad = batcher.submit("a", torch.tensor([5])), batcher.submit("b", torch.tensor([-1]))
    predict.release.set()
    assert blocker.result(5) == "a:0" and good.result(5) == "a:5"
    with pytest.raises(SpeechPromptError, match="negative unit"):
        bad.result(5)
    assert batcher.stats.failed == 1
    batcher.close()


def test_bad_settings_are_one_error():
    with pytest.raises(SpeechPromptError, match="max_batch >= 1"):
        DynamicBatcher(Recorder(), max_batch=0)


class Countdown:
    """A streaming decoder for task "gen": a request of source ``[n]`` needs ``n`` steps and
    answers its step count; ``[-1]`` fails at submit, ``[0]`` makes the next step fail."""

    def __init__(self):
        self.left: dict[int, int] = {}
        self.steps, self.handles = 0, 0

    @property
    def busy(self) -> bool:
        return bool(self.left)

    def accepts(self, task: str) -> bool:
        return task == "gen"

    def submit(self, task: str, source: torch.Tensor) -> int:
        if int(source[0]) < 0:
            raise SpeechPromptError("a negative unit")
        self.handles += 1
        self.left[self.handles] = int(source[0])
        return self.handles

    def step(self) -> dict[int, list]:
        self.steps += 1
        if 0 in self.left.values():
            raise SpeechPromptError("a step failed")
        time.sleep(0.002)
        self.left = {h: n - 1 for h, n in self.left.items()}
        done = [h for h, n in self.left.items() if n == 0]
        for handle in done:
            del self.left[handle]
        return {handle: f"gen@{self.steps}" for handle in done}

    def reset(self) -> list[int]:
        handles, self.left = list(self.left), {}
        return handles


def test_streamed_requests_join_a_running_decoder_and_others_still_batch():
    streaming = Countdown()
    batcher = DynamicBatcher(Recorder(), max_batch=4, max_wait=0.01, streaming=streaming)
    long = batcher.submit("gen", torch.tensor([400]))
    time.sleep(0.05)  # decoding has started
    short = batcher.submit("gen", torch.tensor([3]))
    static = batcher.submit("a", torch.tensor([7]))
    assert short.result(10).startswith("gen@") and static.result(10) == "a:7"
    assert not long.done()  # the short request did not wait for the long one
    with pytest.raises(SpeechPromptError, match="negative unit"):
        batcher.submit("gen", torch.tensor([-1])).result(10)
    batcher.close(30)  # shutdown finishes the request still decoding
    assert long.result(0) == "gen@400" and batcher.stats.answered == 3
    assert batcher.stats.step_requests[2] >= 1


def test_a_failed_step_fails_the_requests_decoding_and_the_worker_goes_on():
    batcher = DynamicBatcher(Recorder(), max_batch=4, max_wait=0.0, streaming=Countdown())
    doomed = [batcher.submit("gen", torch.tensor([n])) for n in (5, 0)]
    for future in doomed:
        with pytest.raises(SpeechPromptError, match="a step failed"):
            future.result(10)
    assert batcher.submit("gen", torch.tensor([2])).result(10).startswith("gen@")
    assert batcher.submit("a", torch.tensor([1])).result(10) == "a:1"
    batcher.close(10)
