"""Iteration-level ("continuous") batching of generation in a task bank.

A static batch decodes until its longest row is done, and a request that arrives meanwhile
waits for the whole batch. Here every step decodes one label for each running row, of any task
of the bank: rows that finish leave at once and waiting requests join the running batch (their
sources go through the backbone together, then their decoding states are appended to the
running one, ``concat_states``). Each row decodes as it would alone: greedy search, or sampling
from its own seeded generator, within its own length limit.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import torch
from torch.nn.utils.rnn import pad_sequence

from ..speechlm.beam_search import Hypothesis, restrict
from ..speechlm.sampling import SamplingConfig, pick
from ..speechlm.transformer_lm import DecodingState, concat_states
from ..vocab import EOS, PAD
from .base import LENGTH_LIMITS, NOT_PREDICTED
from .multitask import TaskBank


@dataclass
class GenerationRequest:
    """One source to decode by task ``task``: greedily (``sampling`` None), or
    ``sampling.num_samples`` samples drawn from a generator seeded with ``seed``; at most
    ``max_len_a * source length + max_len_b`` labels (``PromptedModel.max_label_lengths``)."""

    task: str
    source: torch.Tensor  # [T] units or samples, as the task's model takes them
    max_len_a: float = 0.0
    max_len_b: int = 200
    sampling: SamplingConfig | None = None
    seed: int = 0
    length_penalty: float = 1.0


@dataclass
class _Row:
    """A running row: its request, the labels so far, where its hypothesis goes."""

    handle: int
    request: GenerationRequest
    generator: torch.Generator | None
    max_length: int = 0
    history: list[int] = field(default_factory=list)


class ContinuousDecoder:
    """``submit`` requests, then call ``step`` (or ``run`` them all): at most ``max_rows``
    rows decode together; finished requests come back with their hypotheses."""

    def __init__(self, bank: TaskBank, max_rows: int = 16):
        if max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, not {max_rows}")
        self.bank, self.max_rows = bank, max_rows
        self.waiting: deque[tuple[int, GenerationRequest]] = deque()
        self.rows: list[_Row] = []
        self.state: DecodingState | None = None
        self.logprobs = self.totals = self.task_ids = None
        self._next_handle = 0
        self._done: dict[int, list[Hypothesis]] = {}
        self._left: dict[int, int] = {}  # rows still running per request

    @property
    def busy(self) -> bool:
        return bool(self.waiting or self.rows)

    def submit(self, request: GenerationRequest) -> int:
        """Queue ``request``; returns its handle."""
        self.bank.task_ids([request.task])  # an unknown task fails here, not mid-batch
        handle, self._next_handle = self._next_handle, self._next_handle + 1
        self.waiting.append((handle, request))
        return handle

    def run(self, requests: list[GenerationRequest]) -> list[list[Hypothesis]]:
        """The hypotheses of every request (best score first), decoded to the end."""
        handles = [self.submit(request) for request in requests]
        finished: dict[int, list[Hypothesis]] = {}
        while self.busy:
            finished.update(self.step())
        return [finished[h] for h in handles]

    @torch.no_grad()
    def step(self) -> dict[int, list[Hypothesis]]:
        """Admit waiting requests into free rows, then choose one label for every running
        row; returns the requests finished by this step (handle -> hypotheses)."""
        self._admit()
        if not self.rows:
            return {}
        tokens = self._choose()
        finished = {}
        going = []
        for r, (row, token) in enumerate(zip(self.rows, tokens.tolist(), strict=True)):
            if token == EOS:
                if (hyps := self._finish(row, float(self.totals[r]))) is not None:
                    finished[row.handle] = hyps
            else:
                row.history.append(token)
                going.append(r)
        self._advance(torch.tensor(going, dtype=torch.long), tokens)
        return finished

    def _choose(self) -> torch.Tensor:
        """Each row's next label: greedy, or drawn by its sampling settings."""
        steps = torch.tensor([len(row.history) for row in self.rows])
        limits = torch.tensor([row.max_length for row in self.rows])
        logprobs = restrict(self.logprobs, EOS, NOT_PREDICTED, (limits <= steps).to(self.device))
        tokens = logprobs.argmax(dim=-1)
        by_config: dict[SamplingConfig, list[int]] = {}
        for r, row in enumerate(self.rows):
            if row.request.sampling is not None:
                by_config.setdefault(row.request.sampling, []).append(r)
        for config, rows in by_config.items():
            index = torch.tensor(rows, device=self.device)
            generators = [self.rows[r].generator for r in rows]
            order = torch.arange(len(rows))
            tokens[index] = pick(logprobs.index_select(0, index), config, order, generators)
        self.totals = self.totals + logprobs.gather(1, tokens[:, None])[:, 0]
        return tokens

    def _finish(self, row: _Row, value: float) -> list[Hypothesis] | None:
        """Record a row's hypothesis; its request's hypotheses once all its rows are done."""
        length = len(row.history) + 1  # </s> counted
        if row.request.sampling is None:
            score = value / length**row.request.length_penalty
        else:
            score = value / length
        self._done[row.handle].append(Hypothesis(list(row.history), score, value))
        self._left[row.handle] -= 1
        if self._left[row.handle]:
            return None
        del self._left[row.handle]
        return sorted(self._done.pop(row.handle), key=lambda h: -h.score)

    def _advance(self, going: torch.Tensor, tokens: torch.Tensor) -> None:
        """Drop finished rows and feed the chosen labels of the others."""
        self.rows = [self.rows[r] for r in going.tolist()]
        if not self.rows:
            self.state = self.logprobs = self.totals = self.task_ids = None
            return
        going = going.to(self.device)
        self._keep(going)
        model = self.bank.rows(self.task_ids)
        labels = tokens.index_select(0, going)[:, None]
        logits = model.next_logits(labels, self.state)[:, -1]
        self.logprobs = torch.log_softmax(logits.float(), dim=-1)

    def _keep(self, index: torch.Tensor) -> None:
        """Keep rows ``index`` of the running batch (state, task ids, totals)."""
        self.state.select(index)
        allowed = self.state.key_allowed
        if allowed.shape[1] - int(allowed.any(dim=0).sum()) >= max(16, allowed.shape[1] // 4):
            self.state.compact()  # else the keys of rows long gone would pile up
        self.state.sources = torch.arange(len(index), device=self.device)
        self.task_ids = self.task_ids.index_select(0, index)
        self.totals = self.totals.index_select(0, index)

    def _admit(self) -> None:
        """Start the waiting requests that fit into free rows, as one batch."""
        joining: list[_Row] = []
        while self.waiting:
            handle, request = self.waiting[0]
            copies = 1 if request.sampling is None else request.sampling.num_samples
            if len(self.rows) + len(joining) + copies > self.max_rows and (self.rows or joining):
                break
            self.waiting.popleft()
            generator = None
            if request.sampling is not None:  # a request's samples share its generator
                generator = torch.Generator().manual_seed(int(request.seed))
            joining += [_Row(handle, request, generator) for _ in range(copies)]
            self._done[handle], self._left[handle] = [], copies
        if joining:
            self._start(joining)

    def _start(self, joining: list[_Row]) -> None:
        """Run the joining requests' sources (once for a request's samples) and append the
        states of their rows to the running batch."""
        by_handle = {row.handle: row.request for row in joining}  # in order, once each
        handles, requests = list(by_handle), list(by_handle.values())
        pad = 0.0 if requests[0].source.is_floating_point() else PAD
        source = pad_sequence([q.source for q in requests], True, pad).to(self.device)
        lengths = torch.tensor([len(q.source) for q in requests], device=self.device)
        model = self.bank.rows(self.bank.task_ids([q.task for q in requests]))
        state, first = model.start_decoding(source, lengths)
        limits = {key: torch.tensor([getattr(q, key) for q in requests], device=self.device)
                  for key in LENGTH_LIMITS}  # fmt: skip
        max_lengths = model.max_label_lengths(source, lengths, **limits).tolist()
        index = torch.tensor([handles.index(row.handle) for row in joining])
        for row, i in zip(joining, index.tolist(), strict=True):
            row.max_length = max_lengths[i]
        index = index.to(self.device)
        state.select(index)
        task_ids = model.task_ids.index_select(0, index)
        logprobs = torch.log_softmax(first[:, -1].float(), dim=-1).index_select(0, index)
        totals = torch.zeros(len(joining), device=self.device)
        if self.rows:
            state = concat_states([self.state, state])
            logprobs = torch.cat([self.logprobs, logprobs])
            task_ids, totals = torch.cat([self.task_ids, task_ids]), torch.cat(
                [self.totals, totals]
            )
        state.sources = torch.arange(len(task_ids), device=self.device)
        self.state, self.logprobs, self.task_ids, self.totals = state, logprobs, task_ids, totals
        self.rows += joining

    @property
    def device(self) -> torch.device:
        return self.bank.device
