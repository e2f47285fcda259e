"""Several tasks on one frozen backbone, run together in mixed-task batches.

A ``TaskBank`` holds the prompted models of several tasks that share one backbone object: the
backbone is held once, each task adds its prompts and verbalizer. When the bank is made (and
on ``refresh``) every task's deep prompt goes through the backbone's frozen key/value
projections once, and all tasks' prompts are padded and stacked. ``TaskBank.rows(task_ids)``
is then a prompted model whose row ``r`` is task ``task_ids[r]``: it gathers each row's input
prompt, deep-prompt keys/values (padding masked), separator or decoder start and mask vector
(inpainting tasks), and runs its verbalizer and label embeddings per row, so one forward pass
serves every task of the batch.
Label spaces of different sizes are padded with ``-inf``; label ids stay each task's own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SpeechPromptError
from ..precision import autocast_to
from ..speechlm.layers import ProjectedPrefix, PromptVectors, project_deep_prompt
from ..speechlm.transformer_lm import DecodingState
from ..vocab import PAD, UNK
from .base import PromptedModel
from .prompted_encdec import PromptedEncoderDecoder
from .prompted_lm import PromptedUnitLM
from .prompts import masked_embeds


def pad_stack(
    tensors: Sequence[torch.Tensor | None], dim: int
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Tensors whose size along ``dim`` differs (None: size 0) zero-padded and stacked
    ``[T, ...]``, and ``[T, longest]`` True at their real entries; (None, None) if all empty."""
    present = [t for t in tensors if t is not None and t.shape[dim] > 0]
    if not present:
        return None, None
    longest = max(t.shape[dim] for t in present)
    shape = list(present[0].shape)
    shape[dim] = longest
    stacked = present[0].new_zeros(len(tensors), *shape)
    mask = torch.zeros(len(tensors), longest, dtype=torch.bool, device=stacked.device)
    for i, tensor in enumerate(tensors):
        if tensor is not None and tensor.shape[dim] > 0:
            stacked[i].narrow(dim, 0, tensor.shape[dim]).copy_(tensor)
            mask[i, : tensor.shape[dim]] = True
    return stacked, mask


@dataclass
class StackedPrompts:
    """One side's prompts of every task, padded and stacked: input prompts ``[T, L, E]``,
    deep-prompt keys/values per layer ``[T, H, P, D]``, and their masks ``[T, L]``, ``[T, P]``."""

    input: torch.Tensor | None
    input_mask: torch.Tensor | None
    deep_kv: list[ProjectedPrefix] | None
    deep_mask: torch.Tensor | None

    @classmethod
    def stack(
        cls,
        layers: nn.ModuleList,
        inputs: Sequence[torch.Tensor | None],
        deeps: Sequence[torch.Tensor | None],
    ) -> StackedPrompts:
        """From each task's input prompt ``[L, E]`` and deep prompt ``[layers, 2, P, E]``
        (None: none); the deep prompts go through ``layers``' k/v projections here, once."""
        input, input_mask = pad_stack(inputs, 0)
        projected = [
            None if deep is None or deep.shape[-2] == 0 else project_deep_prompt(layers, deep)
            for deep in deeps
        ]
        deep_kv, deep_mask = None, None
        if any(p is not None for p in projected):
            deep_kv = []
            for i in range(len(layers)):
                keys, deep_mask = pad_stack(
                    [None if p is None else p[i].keys[0] for p in projected], 1
                )
                values, _ = pad_stack([None if p is None else p[i].values[0] for p in projected], 1)
                deep_kv.append(ProjectedPrefix(keys, values))
        return cls(input, input_mask, deep_kv, deep_mask)

    def rows(self, task_ids: torch.Tensor) -> PromptVectors:
        """The prompts of a batch whose row ``r`` is task ``task_ids[r]``."""

        def pick(tensor: torch.Tensor | None) -> torch.Tensor | None:
            return None if tensor is None else tensor.index_select(0, task_ids)

        deep_kv = None
        if self.deep_kv is not None:
            deep_kv = [ProjectedPrefix(pick(k), pick(v)) for k, v in self.deep_kv]
        return PromptVectors(
            input=pick(self.input),
            deep_kv=deep_kv,
            input_mask=pick(self.input_mask),
            deep_mask=pick(self.deep_mask),
        )


class TaskBank:
    """Prompted models of several tasks (by name) on one shared frozen backbone, for mixed-task
    inference. Call ``refresh`` after changing a task's prompts or the backbone's precision."""

    def __init__(self, tasks: Mapping[str, PromptedModel]):
        if not tasks:
            raise SpeechPromptError("a task bank needs at least one task")
        self.names, self.models = list(tasks), list(tasks.values())
        self.backbone = self.models[0].backbone
        kind = type(self.models[0])
        for name, model in tasks.items():
            if not isinstance(model, PromptedUnitLM | PromptedEncoderDecoder):
                raise SpeechPromptError(f"task {name!r}: mixed batches take prompted models of "
                                        f"classification or sequence tasks, not {type(model).__name__}")  # fmt: skip
            if type(model) is not kind or model.backbone is not self.backbone:
                raise SpeechPromptError(
                    f"task {name!r} is not on the backbone of task {self.names[0]!r}: every "
                    "task of a bank shares one backbone object"
                )
        self.encoder_decoder = kind is PromptedEncoderDecoder
        self.sep_index = self.separator = self.decoder_start = None
        self.label_space = max(m.verbalizer.label_space_size for m in self.models)
        self.refresh()

    def task_ids(self, names: Sequence[str]) -> torch.Tensor:
        """Task indices of ``names``; an unknown name is one error listing the known ones."""
        index = {name: i for i, name in enumerate(self.names)}
        unknown = [name for name in names if name not in index]
        if unknown:
            raise SpeechPromptError(
                f"unknown task {unknown[0]!r}: this bank has {', '.join(self.names)}"
            )
        return torch.tensor([index[n] for n in names], device=self.device)

    @property
    def device(self) -> torch.device:
        return next(self.backbone.parameters()).device

    @torch.no_grad()
    def refresh(self) -> None:
        """Stack every task's prompts (deep prompts projected once) and label embeddings."""
        models, backbone = self.models, self.backbone
        with autocast_to(backbone):
            if self.encoder_decoder:
                self.encoder = StackedPrompts.stack(
                    backbone.encoder.layers,
                    [m.encoder_prompts.input_prompt for m in models],
                    [m.encoder_prompts.deep_prompt for m in models],
                )
                self.decoder = StackedPrompts.stack(
                    backbone.decoder.layers,
                    [None] * len(models),
                    [m.decoder_prompts.deep_prompt for m in models],
                )
                self.decoder_start = torch.tensor([m.decoder_start for m in models])
            else:
                self.prompts = StackedPrompts.stack(
                    backbone.layers,
                    [m.prompts.input_prompt for m in models],
                    [m.prompts.deep_prompt for m in models],
                )
                self.sep_index = torch.tensor([m.sep_index for m in models])
                self.separator = torch.stack([self._separator(m) for m in models])
            self._stack_mask_vectors()
            label_decoder = models[0]._label_decoder
            weights = label_decoder.embed_tokens.weight
            self.label_tables = [m.verbalizer.embedding_table(weights) for m in models]
        self._to_device()

    def _stack_mask_vectors(self) -> None:
        """Each task's mask vector (inpainting; zeros where a task has none) and which tasks
        have one; None when no task has."""
        masks = [m.encoder_prompts.mask if self.encoder_decoder else m.prompts.mask
                 for m in self.models]  # fmt: skip
        self.mask_vectors = self.has_mask = None
        if any(mask is not None for mask in masks):
            dim = next(mask for mask in masks if mask is not None).shape[-1]
            zeros = torch.zeros(dim, device=self.device)
            self.mask_vectors = torch.stack([zeros if m is None else m.float() for m in masks])
            self.has_mask = torch.tensor([m is not None for m in masks], device=self.device)

    def masked_source_embeds(
        self, stack: nn.Module, tokens: torch.Tensor, task_ids: torch.Tensor
    ) -> torch.Tensor | None:
        """Source embeddings with each row's task's mask vector at masked units (None: no
        task of the bank has one)."""
        if self.mask_vectors is None:
            return None
        rows = self.mask_vectors.index_select(0, task_ids)
        return masked_embeds(stack, tokens, rows, self.has_mask.index_select(0, task_ids))

    def _separator(self, model: PromptedUnitLM) -> torch.Tensor:
        """A task's separator vector, or the embedding of its ``<sep>`` token (float32)."""
        if model.prompts.separator is not None:
            return model.prompts.separator.float()
        index = torch.tensor([model.sep_index], device=self.device)
        return model.backbone.embed(index)[0].float()

    def _to_device(self) -> None:
        device = self.device
        for name in ("sep_index", "separator", "decoder_start"):
            if getattr(self, name) is not None:
                setattr(self, name, getattr(self, name).to(device))

    def rows(self, task_ids: torch.Tensor) -> PromptedModel:
        """A prompted model (inference) whose row ``r`` is task ``task_ids[r]``."""
        mixed = MixedEncoderDecoder if self.encoder_decoder else MixedUnitLM
        return mixed(self, task_ids.to(self.device))

    def verbalize(self, lm_logits: torch.Tensor, tasks: torch.Tensor) -> torch.Tensor:
        """Label-space logits ``[N, T, S]`` (float32; ``-inf`` past a row's own label space)
        of backbone logits ``[N, T, V]`` whose row ``n`` is task ``tasks[n]``."""
        shape = (*lm_logits.shape[:-1], self.label_space)
        out = torch.full(shape, float("-inf"), device=lm_logits.device)
        for task in tasks.unique().tolist():
            rows = tasks.eq(task).nonzero()[:, 0]
            logits = self.models[task].verbalizer(lm_logits.index_select(0, rows).float())
            out[rows, ..., : logits.shape[-1]] = logits
        return out

    def label_inputs(
        self, labels: torch.Tensor, tasks: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Placeholder tokens and embeddings of label ids ``[N, M]``, row ``n`` of task
        ``tasks[n]`` (as ``PromptedModel._label_inputs`` gives them for one task)."""
        decoder = self.models[0]._label_decoder
        table = self.label_tables[0]
        embeds = table.new_zeros(*labels.shape, table.shape[-1])
        for task in tasks.unique().tolist():
            rows = tasks.eq(task).nonzero()[:, 0]
            embeds[rows] = F.embedding(labels.index_select(0, rows), self.label_tables[task])
        return torch.where(labels.eq(PAD), PAD, UNK), decoder.embed_scale * embeds


class _RowTasks:
    """What the mixed views share: rows follow their task through ``DecodingState.sources``."""

    bank: TaskBank
    task_ids: torch.Tensor

    def _start_view(self, bank: TaskBank, task_ids: torch.Tensor) -> None:
        nn.Module.__init__(self)
        self._set_backbone(bank.backbone)
        self.bank, self.task_ids = bank, task_ids
        self.eval()

    def _row_tasks(self, state: DecodingState | None) -> torch.Tensor:
        if state is None or state.sources is None:
            return self.task_ids
        return self.task_ids.index_select(0, state.sources)

    def _verbalize(self, lm_logits: torch.Tensor, state: DecodingState | None) -> torch.Tensor:
        return self.bank.verbalize(lm_logits, self._row_tasks(state))

    def _label_inputs(
        self, labels: torch.Tensor, state: DecodingState | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.bank.label_inputs(labels, self._row_tasks(state))


class MixedUnitLM(_RowTasks, PromptedUnitLM):
    """``PromptedUnitLM`` whose rows are tasks of a ``TaskBank``."""

    def __init__(self, bank: TaskBank, task_ids: torch.Tensor):
        self._start_view(bank, task_ids)
        self.sep_index = bank.sep_index.index_select(0, task_ids)
        self._prompts = bank.prompts.rows(task_ids)

    def _prompt_vectors(self) -> PromptVectors:
        return self._prompts

    def _embed_source(self, block: torch.Tensor) -> torch.Tensor:
        """Every row's last position is its task's separator (``source_block``); masked units
        take their task's mask vector, if it has one."""
        embeds = self.bank.masked_source_embeds(self.backbone, block, self.task_ids)
        if embeds is None:
            embeds = self.backbone.embed(block)
        separator = self.bank.separator.index_select(0, self.task_ids)[:, None]
        return torch.cat([embeds[:, :-1], separator.to(embeds.dtype)], dim=1)


class MixedEncoderDecoder(_RowTasks, PromptedEncoderDecoder):
    """``PromptedEncoderDecoder`` whose rows are tasks of a ``TaskBank``."""

    def __init__(self, bank: TaskBank, task_ids: torch.Tensor):
        self._start_view(bank, task_ids)
        self._prompts = {
            "encoder": bank.encoder.rows(task_ids),
            "decoder": bank.decoder.rows(task_ids),
        }

    def _prompt_vectors(self, side: str) -> PromptVectors:
        return self._prompts[side]

    def _masked_source_embeds(self, source: torch.Tensor) -> torch.Tensor | None:
        return self.bank.masked_source_embeds(self.backbone.encoder, source, self.task_ids)

    def _start_inputs(self, batch: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self.bank.decoder_start.index_select(0, self.task_ids)[:, None]
        return tokens, self.backbone.decoder.embed(tokens)
