"""Dynamic batching across tasks: requests wait in a bounded queue; one worker thread takes up
to ``max_batch`` of them (waiting at most ``max_wait`` seconds after the first) and answers
them in one mixed-task batch. With a ``streaming`` decoder (``StreamingTasks``), requests of
the tasks it accepts (greedy or sampled generation) join its running batch instead, and the
worker decodes one label for all of them between looks at the queue (iteration-level
batching: a request neither waits for a batch to finish nor holds one up).
A full queue refuses at once (``QueueFull``); after ``close`` starts, new requests are refused
(``ShuttingDown``) while those queued or decoding are still answered. A batch that fails is
answered again one request at a time, so one bad request fails alone.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

import torch

from ..errors import SpeechPromptError

Predict = Callable[[Sequence[str], list[torch.Tensor]], list]


class Streaming(Protocol):
    """Iteration-level decoding (``api.multitask.StreamingTasks``)."""

    busy: bool

    def accepts(self, task: str) -> bool: ...
    def submit(self, task: str, source: torch.Tensor) -> int: ...
    def step(self) -> dict[int, list]: ...
    def reset(self) -> list[int]: ...


class QueueFull(SpeechPromptError):
    """The request queue is full: retry later."""


class ShuttingDown(SpeechPromptError):
    """The server is shutting down and takes no new requests."""


@dataclass
class Pending:
    task: str
    source: torch.Tensor
    future: Future = field(default_factory=Future)
    queued_at: float = field(default_factory=time.perf_counter)


@dataclass
class BatchStats:
    """What the worker has done: answered requests, failures, batch sizes, latencies (the
    last ``window`` answers, seconds from queueing to answer)."""

    answered: int = 0
    failed: int = 0
    batches: int = 0
    batch_sizes: Counter = field(default_factory=Counter)
    step_requests: Counter = field(default_factory=Counter)  # requests decoding per step
    latencies: deque = field(default_factory=lambda: deque(maxlen=10000))

    def quantile(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class DynamicBatcher:
    """``submit(task, source)`` -> a ``Future`` of ``predict([task], [source])[0]``."""

    def __init__(
        self,
        predict: Predict,
        max_batch: int = 16,
        max_wait: float = 0.01,
        max_queue: int = 256,
        streaming: Streaming | None = None,
    ):
        if max_batch < 1 or max_queue < 1 or max_wait < 0:
            raise SpeechPromptError("need max_batch >= 1, max_queue >= 1 and max_wait >= 0")
        self.predict, self.max_batch, self.max_wait = predict, max_batch, max_wait
        self.max_queue, self.streaming = max_queue, streaming
        self._decoding: dict[int, Pending] = {}
        self.stats = BatchStats()
        self._queue: deque[Pending] = deque()
        self._condition = threading.Condition()
        self._closing = False
        self._worker = threading.Thread(target=self._run, name="speechprompt-batcher", daemon=True)
        self._worker.start()

    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def queued(self) -> int:
        return len(self._queue)

    def submit(self, task: str, source: torch.Tensor) -> Future:
        pending = Pending(task, source)
        with self._condition:
            if self._closing:
                raise ShuttingDown("the server is shutting down: no new requests")
            if len(self._queue) >= self.max_queue:
                raise QueueFull(f"{len(self._queue)} requests are queued (the most): retry later")
            self._queue.append(pending)
            self._condition.notify()
        return pending.future

    def begin_shutdown(self) -> None:
        """Refuse new requests from now on; those queued are still answered."""
        with self._condition:
            self._closing = True
            self._condition.notify_all()

    def close(self, timeout: float | None = None) -> None:
        """``begin_shutdown``, then wait for the queued requests to be answered."""
        self.begin_shutdown()
        self._worker.join(timeout)

    def _next_batch(self, wait: bool) -> list[Pending] | None:
        """Up to ``max_batch`` queued requests ([] at once when not ``wait``-ing and none is
        queued); None once closing with nothing queued."""
        with self._condition:
            while not self._queue:
                if self._closing:
                    return None if wait else []
                if not wait:
                    return []
                self._condition.wait()
            deadline = self._queue[0].queued_at + self.max_wait
            while wait and len(self._queue) < self.max_batch and not self._closing:
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                self._condition.wait(left)
            count = min(self.max_batch, len(self._queue))
            return [self._queue.popleft() for _ in range(count)]

    def _run(self) -> None:
        while True:
            busy = self.streaming is not None and self.streaming.busy
            batch = self._next_batch(wait=not busy)
            if batch is None:
                return
            static = [pending for pending in batch if not self._streamed(pending)]
            if static:
                self._answer(static)
            if self.streaming is not None and self.streaming.busy:
                self._step()

    def _streamed(self, pending: Pending) -> bool:
        """Hand ``pending`` to the streaming decoder if it takes its task."""
        if self.streaming is None or not self.streaming.accepts(pending.task):
            return False
        try:
            self._decoding[self.streaming.submit(pending.task, pending.source)] = pending
        except Exception as exc:  # noqa: BLE001 - a bad request fails alone
            self._fail(pending, exc)
        return True

    def _step(self) -> None:
        """One decoding step of the streaming rows; answers the requests it finished."""
        try:
            finished = self.streaming.step()
        except Exception as exc:  # noqa: BLE001 - the requests decoding fail, the server stays
            for handle in self.streaming.reset():
                self._fail(self._decoding.pop(handle), exc)
            return
        self.stats.step_requests[len(self._decoding)] += 1
        now = time.perf_counter()
        for handle, result in finished.items():
            self._done(self._decoding.pop(handle), result, now)

    def _fail(self, pending: Pending, exc: Exception) -> None:
        self.stats.failed += 1
        pending.future.set_exception(exc)

    def _done(self, pending: Pending, result, now: float) -> None:
        self.stats.answered += 1
        self.stats.latencies.append(now - pending.queued_at)
        pending.future.set_result(result)

    def _answer(self, batch: list[Pending]) -> None:
        try:
            results = self.predict([p.task for p in batch], [p.source for p in batch])
        except Exception as exc:  # noqa: BLE001 - one bad request must not fail the others
            if len(batch) > 1:
                for pending in batch:
                    self._answer([pending])
                return
            self._fail(batch[0], exc)
            return
        now = time.perf_counter()
        self.stats.batches += 1
        self.stats.batch_sizes[len(batch)] += 1
        for pending, result in zip(batch, results, strict=True):
            self._done(pending, result, now)
