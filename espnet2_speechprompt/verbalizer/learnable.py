"""Learnable verbalizer (SpeechPrompt v2): a linear map from backbone logits to labels.

``W`` is ``[4 + C, V]`` without bias; the 4 specials stay so ``</s>`` remains predictable. It
starts as a fixed verbalizer (one-hot rows, specials on themselves) unless ``init="random"``.
A predicted label is fed back as ``softmax(W[label] / temperature) @ E`` (``feedback="soft"``) or
as the embedding of its most weighted unit (``feedback="argmax"``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..vocab import NUM_SPECIALS
from .base import Verbalizer


class LearnableVerbalizer(Verbalizer):
    def __init__(
        self,
        vocab_size: int,
        num_labels: int,
        init_tokens: Sequence[int] | None = None,
        temperature: float = 0.1,
        feedback: str = "soft",
    ):
        super().__init__()
        if feedback not in ("soft", "argmax"):
            raise ValueError(f"feedback must be 'soft' or 'argmax', not {feedback!r}")
        self.num_labels, self.temperature, self.feedback = num_labels, temperature, feedback
        self.linear = nn.Linear(vocab_size, NUM_SPECIALS + num_labels, bias=False)
        if init_tokens is not None:
            weight = torch.zeros(NUM_SPECIALS + num_labels, vocab_size)
            rows = torch.arange(NUM_SPECIALS + num_labels)
            weight[rows, torch.tensor(list(range(NUM_SPECIALS)) + list(init_tokens))] = 1.0
            self.linear.weight.data.copy_(weight)

    def forward(self, lm_logits: torch.Tensor) -> torch.Tensor:
        return self.linear(lm_logits)

    def embedding_table(self, token_embeddings: torch.Tensor) -> torch.Tensor:
        weight = self.linear.weight
        if self.feedback == "argmax":
            return token_embeddings.index_select(0, weight.argmax(dim=1))
        return torch.softmax(weight / self.temperature, dim=1) @ token_embeddings

    def label_tokens(self) -> torch.Tensor:
        return self.linear.weight[NUM_SPECIALS:].argmax(dim=1)

    def explain(
        self, top_k: int = 5, symbols: Sequence[str] | None = None
    ) -> list[list[tuple[int | str, float]]]:
        """Per label, the ``top_k`` backbone tokens it weighs most (as ``symbols`` if given)."""
        weight = self.linear.weight.detach()[NUM_SPECIALS:]
        values, indices = weight.topk(min(top_k, weight.shape[1]), dim=1)
        name = (lambda i: symbols[i]) if symbols is not None else (lambda i: i)
        return [
            [(name(int(i)), float(v)) for i, v in zip(row_i, row_v, strict=True)]
            for row_i, row_v in zip(indices, values, strict=True)
        ]
