"""In-context learning: a frozen unit LM reads a task from demonstrations, helped by prompts
trained once on episodes of other tasks ("warm-up").

Every utterance is cut to its first ``unit_length`` units or padded to them with ``</s>`` on
the left, so that its last units sit next to the ``<sep>`` after it; each episode maps
its labels onto backbone unit tokens by a mapping drawn anew for the episode, so the model can
learn the mapping only from the demonstrations. Tokens of an episode with n demonstrations:

    [input prompt] x_1 <sep> y_1 ... x_n <sep> y_n x_q <sep>  ->  y_q

``<sep>`` is the trainable separator (the backbone's ``<s>`` embedding without one); the loss is
the cross-entropy of ``y_q`` over the backbone's unit tokens. Every episode has the same
length, so a batch needs no padding.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SpeechPromptError
from ..options import check_keys
from ..speechlm.transformer_lm import TransformerDecoder
from ..vocab import BOS, EOS, NUM_SPECIALS
from .base import FrozenBackbone
from .prompts import PromptConfig, Prompts


@dataclass
class EpisodeConfig:
    num_demos: int = 4
    unit_length: int = 50

    @classmethod
    def from_conf(cls, conf: dict | None, option: str = "episode_conf") -> EpisodeConfig:
        return cls(**check_keys(option, conf, [f.name for f in fields(cls)]))

    def __post_init__(self):
        for name in ("num_demos", "unit_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SpeechPromptError(
                    f"episode_conf.{name} must be an integer >= 1, not {value!r}"
                )

    @property
    def length(self) -> int:
        """Tokens of an episode: n demonstrations (units, ``<sep>``, label) and the query."""
        return self.num_demos * (self.unit_length + 2) + self.unit_length + 1


def fit_units(tokens: Sequence[int], length: int, pad: int = EOS) -> list[int]:
    """``tokens`` cut to their first ``length``, or padded to it with ``pad`` on the left."""
    return [pad] * max(0, length - len(tokens)) + list(tokens[:length])


def label_mapping(
    labels: Sequence[str], label_tokens: Sequence[int], rng: random.Random
) -> dict[str, int]:
    """Distinct backbone tokens for ``labels``, drawn from ``label_tokens``."""
    if len(labels) > len(label_tokens):
        raise SpeechPromptError(
            f"{len(labels)} labels in an episode but only {len(label_tokens)} unit tokens"
        )
    return dict(zip(labels, rng.sample(list(label_tokens), len(labels)), strict=True))


def episode_tokens(
    demos: Sequence[tuple[Sequence[int], int]],
    query: Sequence[int],
    config: EpisodeConfig,
    sep: int = BOS,
) -> list[int]:
    """Backbone tokens ``x_1 <sep> y_1 ... x_n <sep> y_n x_q <sep>`` of (units, label token)
    demonstrations and the query's units (all backbone token ids)."""
    if len(demos) != config.num_demos:
        raise SpeechPromptError(
            f"{len(demos)} demonstrations given; this model reads {config.num_demos}"
        )
    tokens = []
    for units, label in demos:
        tokens += fit_units(units, config.unit_length) + [sep, label]
    return tokens + fit_units(query, config.unit_length) + [sep]


class PromptedICL(FrozenBackbone, nn.Module):
    """A frozen decoder-only unit LM reading episodes, with trainable prompts (input, deep,
    separator). ``label_tokens``: the backbone tokens labels may be mapped to."""

    def __init__(
        self,
        backbone: TransformerDecoder,
        label_tokens: Sequence[int],
        prompt_config: PromptConfig | None = None,
        sep_index: int = BOS,
    ):
        super().__init__()
        self._set_backbone(backbone)
        c = backbone.config
        self.prompts = Prompts(prompt_config or PromptConfig(), c.num_layers, c.embed_dim)
        self.sep_index = sep_index
        self.register_buffer("label_tokens", torch.as_tensor(list(label_tokens)), persistent=False)

    def query_logits(self, episodes: torch.Tensor) -> torch.Tensor:
        """Backbone logits ``[B, V]`` after each episode's last ``<sep>`` (``[B, T]`` tokens)."""
        embeds = self.backbone.embed(episodes)
        separator = self.prompts.separator
        if separator is not None:
            is_sep = episodes.eq(self.sep_index)[..., None]
            embeds = torch.where(is_sep, separator.to(embeds.dtype), embeds)
        with self.backbone_precision():
            logits = self.backbone(episodes, embeds, self.prompts.vectors(), None, 1)
        return logits[:, -1].float()

    def forward(self, episodes: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        """Cross-entropy of the query labels ``targets`` ``[B]`` over the unit tokens; accuracy
        of the unconstrained prediction."""
        logits = self.unit_logits(self.query_logits(episodes))
        loss = F.cross_entropy(logits, targets - NUM_SPECIALS)
        acc = (logits.argmax(-1) + NUM_SPECIALS).eq(targets).float().mean()
        return {"loss": loss, "acc": acc}

    @staticmethod
    def unit_logits(logits: torch.Tensor) -> torch.Tensor:
        """Logits over the unit tokens (the four specials left out)."""
        return logits[..., NUM_SPECIALS:]

    @torch.no_grad()
    def predict(
        self, episodes: torch.Tensor, candidates: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """For each episode: the candidate index with the highest log-probability
        (``candidates`` ``[B, K]``: the demonstrations' label tokens), all candidate
        log-probabilities ``[B, K]``, and the unconstrained prediction (the most likely unit
        token, for the guessing rate)."""
        logprobs = torch.log_softmax(self.unit_logits(self.query_logits(episodes)).float(), -1)
        scores = logprobs.gather(1, candidates - NUM_SPECIALS)
        free = logprobs.argmax(-1) + NUM_SPECIALS
        return scores.argmax(-1), scores, free

    @torch.no_grad()
    def separator_from_units(
        self, episodes: torch.Tensor, targets: torch.Tensor, batch_size: int = 64
    ) -> int:
        """Start the separator as the backbone's embedding of the unit token under which the
        model, untrained, has the lowest loss on ``episodes`` ``[B, T]`` with query labels
        ``targets`` ``[B]``; returns that token. A unit token the LM has seen before lets its
        own copying find what followed each earlier ``<sep>`` (the demonstrations' labels);
        a random vector does not, and warm-up may then stay near chance for many epochs."""
        if self.prompts.separator is None:
            raise SpeechPromptError("separator_from_units needs a trainable separator")
        was_training = self.training
        self.eval()
        units = self.label_tokens
        embeds = self.backbone.embed(units[None])[0].to(self.prompts.separator.dtype)
        batches = list(zip(episodes.split(batch_size), targets.split(batch_size), strict=True))
        losses = []
        for embed in embeds:
            self.prompts.separator.copy_(embed)
            total = sum(self(rows, labels)["loss"].item() * len(rows) for rows, labels in batches)
            losses.append(total / len(episodes))
        best = min(range(len(losses)), key=losses.__getitem__)
        self.prompts.separator.copy_(embeds[best])
        self.train(was_training)
        return int(units[best])
