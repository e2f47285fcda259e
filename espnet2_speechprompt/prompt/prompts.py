"""The trainable prompt vectors of one task.

- input prompt: ``L_in`` vectors in the layer-input space, put before the sequence (no positions);
- deep prompt: per layer, ``L_deep`` key and ``L_deep`` value vectors in the hidden space, passed
  through that layer's frozen k/v projections and prepended to its keys/values;
- separator: one vector (layer-input space) replacing the embedding of the ``<sep>`` token;
- mask (``mask_vector``, speech inpainting): one vector replacing the embedding of masked
  source units (the placeholder ``<unk>``), for a dictionary without ``<mask>``.

Trainable parameters: ``L_in*d + 2*layers*L_deep*d + d`` (+ ``d`` for the mask vector).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import nn

from ..errors import SpeechPromptError
from ..options import check_keys
from ..speechlm.layers import PromptVectors
from ..vocab import UNK

SEPARATOR_INITS = ("random", "unit")


@dataclass
class PromptConfig:
    input_length: int = 5
    deep_length: int = 5
    separator: bool = True
    dropout: float = 0.1
    init_std: float = 1.0  # the official code's nn.Embedding default N(0, 1)
    # encoder-decoder backbones: deep prompt length in the decoder (None: deep_length);
    # deep_length then applies to the encoder, input_length to the encoder input
    decoder_deep_length: int | None = None
    # a trainable vector for masked source units (speech inpainting), instead of the
    # dictionary's <mask>; the source's placeholder <unk> tokens take it
    mask_vector: bool = False
    # the deep prompt's own init std (None: init_std); small values leave the frozen LM's
    # attention much as it was at the start of training
    deep_init_std: float | None = None
    # the separator's start: "random" (N(0, init_std)) or "unit": the backbone's embedding of
    # a unit token, the one under which the untrained model does best on training data (chosen
    # by the in-context-learning warm-up before it trains: prompt.icl.separator_from_units)
    separator_init: str = "random"

    @classmethod
    def from_conf(cls, conf: dict | None, option: str = "prompt_conf") -> PromptConfig:
        """From a ``prompt_conf`` mapping; an unknown key is one error listing the valid ones."""
        return cls(**check_keys(option, conf, [f.name for f in fields(cls)]))

    def __post_init__(self):
        names = ("input_length", "deep_length")
        if self.decoder_deep_length is not None:
            names += ("decoder_deep_length",)
        for name in names:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise SpeechPromptError(
                    f"prompt_conf.{name} must be an integer >= 0, not {value!r}"
                )
        if not 0.0 <= float(self.dropout) < 1.0:
            raise SpeechPromptError(f"prompt_conf.dropout must be in [0, 1), not {self.dropout!r}")
        for name in ("init_std", "deep_init_std"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and value >= 0):
                raise SpeechPromptError(f"prompt_conf.{name} must be a number >= 0, not {value!r}")
        if self.separator_init not in SEPARATOR_INITS:
            raise SpeechPromptError(
                f"prompt_conf.separator_init must be one of {', '.join(SEPARATOR_INITS)}, not "
                f"{self.separator_init!r}"
            )
        if self.separator_init == "unit" and not self.separator:
            raise SpeechPromptError("prompt_conf.separator_init: unit needs separator: true")


def masked_embeds(
    stack: nn.Module,
    tokens: torch.Tensor,
    mask: torch.Tensor | None,
    masked_rows: torch.Tensor | None = None,
) -> torch.Tensor:
    """``stack.embed(tokens)`` with the placeholder ``<unk>`` of masked units replaced by the
    trainable ``mask`` vector (in the space of scaled embeddings, as the separator), if any.
    ``mask`` ``[B, E]`` with ``masked_rows`` ``[B]``: each row its own vector, in the rows
    that have one (the others keep ``<unk>``: a mixed-task batch)."""
    embeds = stack.embed(tokens)
    if mask is None:
        return embeds
    replaced = tokens.eq(UNK)
    if masked_rows is not None:
        replaced, mask = replaced & masked_rows[:, None], mask[:, None]
    return torch.where(replaced[..., None], mask.to(embeds.dtype), embeds)


class Prompts(nn.Module):
    def __init__(self, config: PromptConfig, num_layers: int, dim: int):
        super().__init__()
        self.config = config
        std = config.init_std
        self.input_prompt = (
            nn.Parameter(torch.randn(config.input_length, dim) * std)
            if config.input_length > 0
            else None
        )
        deep_std = std if config.deep_init_std is None else config.deep_init_std
        self.deep_prompt = (
            nn.Parameter(torch.randn(num_layers, 2, config.deep_length, dim) * deep_std)
            if config.deep_length > 0
            else None
        )
        self.separator = nn.Parameter(torch.randn(dim) * std) if config.separator else None
        self.mask = nn.Parameter(torch.randn(dim) * std) if config.mask_vector else None
        self.dropout = nn.Dropout(config.dropout)

    def input(self) -> torch.Tensor | None:
        return None if self.input_prompt is None else self.dropout(self.input_prompt)

    def deep(self) -> torch.Tensor | None:
        return None if self.deep_prompt is None else self.dropout(self.deep_prompt)

    def vectors(self) -> PromptVectors:
        """Input and deep prompt (after dropout), as a backbone takes them."""
        return PromptVectors(self.input(), self.deep())

    @staticmethod
    def expected_num_parameters(config: PromptConfig, num_layers: int, dim: int) -> int:
        return (
            config.input_length * dim
            + 2 * num_layers * config.deep_length * dim
            + (dim if config.separator else 0)
            + (dim if config.mask_vector else 0)
        )
