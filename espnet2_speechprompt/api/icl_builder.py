"""In-context learning from a task's options (``config.yaml`` of a warm-up run): the prompted
frozen unit LM (``PromptedICL``), the episode layout, units -> backbone tokens, and the unit
tokens labels are mapped to; episodes as token rows.

Options: ``backbone`` (decoder-only: gslm), ``backbone_conf``, ``prompt_conf`` (default: an
input prompt of 5 vectors, no deep prompt, a trainable separator), ``episode_conf``
(``num_demos`` 4, ``unit_length`` 50) and ``unit_extractor_conf``. Building writes every
resolved setting back, so the saved config rebuilds the same model. ``episode_conf`` marks a
config as one of in-context learning (``config.is_icl_config``).
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import random
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np

from ..checkpoints.backbones import BACKBONES, GSLMBackbone
from ..data.episodes import Episode
from ..errors import SpeechPromptError
from ..options import check_keys
from ..prompt.icl import EpisodeConfig, PromptedICL, episode_tokens, label_mapping
from ..prompt.prompts import PromptConfig
from .config import (
    ConfigError,
    check_extractor_conf,
    check_near_keys,
    is_icl_config,
    load_config,
    registered,
)
from .inputs import SpeechPromptDataError
from .preprocess import UnitEncoder

ICL_BACKBONES = ("gslm",)  # decoder-only: demonstrations and query in one sequence
ICL_PROMPT_DEFAULTS = asdict(PromptConfig(input_length=5, deep_length=0, separator=True))
ICL_OPTION_DEFAULTS = {
    "backbone": "gslm",
    "backbone_conf": {},
    "backbone_precision": "auto",
    "prompt_conf": ICL_PROMPT_DEFAULTS,
    "episode_conf": asdict(EpisodeConfig()),
    "unit_extractor_conf": {},
}
# trainer options that look like one of the above but are not typos of it
ICL_TRAINER_KEYS_NEAR_OPTIONS = frozenset(
    ("adapter_conf", "deepspeed_config", "optim_conf", "print_config", "scheduler_conf")
)
Options = argparse.Namespace | MutableMapping


@dataclass
class BuiltICL:
    """A prompted frozen unit LM for episodes and what feeding it needs."""

    prompted: PromptedICL
    episode: EpisodeConfig
    unit_encoder: UnitEncoder  # k-means id -> backbone token (dict.txt)
    label_tokens: list[int]  # the backbone's unit tokens, which labels are mapped to
    backbone: GSLMBackbone  # its files


def icl_option_values(options: Options) -> MutableMapping:
    """The options as a mapping writing through to ``options``, missing ones at their default."""
    values = vars(options) if isinstance(options, argparse.Namespace) else options
    for key, default in ICL_OPTION_DEFAULTS.items():
        if values.get(key) is None:
            values[key] = copy.deepcopy(default)
    return values


def icl_prompt_config(conf: Mapping | None) -> PromptConfig:
    """``prompt_conf`` over the in-context defaults (no deep prompt unless asked for)."""
    given = check_keys("prompt_conf", conf, [f.name for f in fields(PromptConfig)])
    return PromptConfig(**{**ICL_PROMPT_DEFAULTS, **given})


def icl_backbone(values: Mapping) -> GSLMBackbone:
    """The configured backbone's files (not loaded); only decoder-only backbones take episodes."""
    name = values["backbone"]
    backbone_class = registered(BACKBONES, "backbone", name)
    if name not in ICL_BACKBONES:
        raise SpeechPromptError(
            f"backbone {name!r}: in-context learning needs a decoder-only unit LM "
            f"({', '.join(ICL_BACKBONES)}), which reads demonstrations and query as one sequence"
        )
    return backbone_class.from_conf(values["backbone_conf"])


def unit_tokens(encoder: UnitEncoder) -> list[int]:
    """The backbone tokens of the k-means units (the ``dict.txt`` entries that are numbers)."""
    return sorted(int(token) for token in encoder.table if token >= 0)


def check_icl_settings(values: Mapping) -> None:
    """Every setting is known and valid (nothing is loaded)."""
    icl_backbone(values)
    icl_prompt_config(values["prompt_conf"])
    EpisodeConfig.from_conf(values["episode_conf"])
    check_extractor_conf(values["unit_extractor_conf"])


def check_positions(prompted: PromptedICL, episode: EpisodeConfig, backbone: str) -> None:
    """An episode must fit the backbone's learned positions (sinusoidal ones: warned)."""
    limit, hard = prompted.backbone.position_limit()
    if limit is None or episode.length <= limit:
        return
    message = (
        f"episode_conf: an episode of {episode.num_demos} demonstrations of "
        f"{episode.unit_length} units is {episode.length} tokens, past the {backbone} backbone's "
        f"{limit} {'learned' if hard else 'trained'} positions"
    )
    if hard:
        raise SpeechPromptError(message + ": lower num_demos or unit_length")
    logging.warning(message + "; results may degrade")


def build_icl(options: Options) -> BuiltICL:
    """The model of ``options`` (untrained prompts); resolved settings are written back."""
    values = icl_option_values(options)
    check_icl_settings(values)
    backbone = icl_backbone(values)
    prompt_config = icl_prompt_config(values["prompt_conf"])
    episode = EpisodeConfig.from_conf(values["episode_conf"])
    lm, vocab = backbone.load()
    encoder = UnitEncoder(vocab, backbone.dictionary)
    tokens = unit_tokens(encoder)
    prompted = PromptedICL(lm, tokens, prompt_config)
    check_positions(prompted, episode, values["backbone"])
    values["prompt_conf"], values["episode_conf"] = asdict(prompt_config), asdict(episode)
    trainable, total = prompted.parameter_counts()
    logging.info(
        f"in-context learning: {trainable:,} trainable parameters of {total:,} "
        f"({100 * trainable / total:.3f}%); {episode.num_demos} demonstrations of "
        f"{episode.unit_length} units, labels mapped to {len(tokens)} unit tokens"
    )
    return BuiltICL(prompted, episode, encoder, tokens, backbone)


def read_icl_config(path: str | os.PathLike) -> argparse.Namespace:
    """The options of a warm-up run (its ``config.yaml``), checked, defaults filled in."""
    path = os.fspath(path)
    config = load_config(path)
    if not is_icl_config(config):
        raise ConfigError(
            f"{path}: not an in-context learning config (no episode_conf): load it with "
            "SpeechPrompt"
        )
    check_near_keys(path, config, ICL_OPTION_DEFAULTS, ICL_TRAINER_KEYS_NEAR_OPTIONS)
    values = icl_option_values(copy.deepcopy(config))
    try:
        check_icl_settings(values)
    except SpeechPromptError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return argparse.Namespace(**values)


@dataclass(frozen=True)
class EncodedEpisode:
    """One episode as the model reads it, under the label mapping drawn for it."""

    tokens: list[int]  # x_1 <sep> y_1 ... x_n <sep> y_n x_q <sep>
    labels: list[str]  # the demonstrations' labels, in order of first appearance
    candidates: list[int]  # their tokens
    target: int | None = None  # the query label's token (None: unknown)


def encode_episode(
    demos: Sequence[tuple[Sequence[int], str]],
    query: Sequence[int],
    config: EpisodeConfig,
    label_tokens: Sequence[int],
    rng: random.Random,
    query_label: str | None = None,
) -> EncodedEpisode:
    """``demos`` (backbone tokens, label) and the query's tokens as one episode; the label
    mapping is drawn from ``rng``."""
    labels = list(dict.fromkeys(label for _, label in demos))
    mapping = label_mapping(labels, label_tokens, rng)
    rows = [([int(t) for t in units], mapping[label]) for units, label in demos]
    tokens = episode_tokens(rows, [int(t) for t in query], config)
    target = None if query_label is None else mapping.get(query_label)
    return EncodedEpisode(tokens, labels, [mapping[label] for label in labels], target)


def encode_task_episode(
    episode: Episode,
    units: UnitEncoder,
    config: EpisodeConfig,
    label_tokens: Sequence[int],
    rng: random.Random,
) -> EncodedEpisode:
    """An episode of a task's examples (k-means units) with the query's label token."""
    demos = [(units.encode(d.units, d.utt), d.label) for d in episode.demos]
    query = units.encode(episode.query.units, episode.query.utt)
    return encode_episode(demos, query, config, label_tokens, rng, episode.query.label)


class EpisodeDataCheck:
    """ESPnet preprocessing of warm-up data: each ``episode`` has the length ``episode_conf``
    makes and backbone tokens only; each ``target`` is one unit token."""

    def __init__(self, episode: EpisodeConfig, label_tokens: Sequence[int], vocab_size: int):
        self.episode, self.vocab_size = episode, vocab_size
        self.label_tokens = set(label_tokens)

    def __call__(self, uid: str, data: dict) -> dict:
        if "episode" in data:
            self._check_episode(uid, np.asarray(data["episode"]))
        if "target" in data:
            target = np.asarray(data["target"]).reshape(-1)
            if len(target) != 1 or int(target[0]) not in self.label_tokens:
                raise SpeechPromptDataError(
                    f"episode {uid}: target {target.tolist()} is not one unit token of the "
                    "backbone: write the episodes with the backbone's dict.txt (icl_episodes)"
                )
        return data

    def _check_episode(self, uid: str, tokens: np.ndarray) -> None:
        c = self.episode
        if len(tokens) != c.length:
            raise SpeechPromptDataError(
                f"episode {uid}: {len(tokens)} tokens, but episode_conf (num_demos "
                f"{c.num_demos}, unit_length {c.unit_length}) makes {c.length}: write the "
                "episodes with the same num_demos and unit_length (see their episodes.yaml)"
            )
        if len(tokens) and (tokens.min() < 0 or tokens.max() >= self.vocab_size):
            raise SpeechPromptDataError(
                f"episode {uid}: a token outside the backbone's {self.vocab_size}: write the "
                "episodes with the backbone's dict.txt (icl_episodes)"
            )


def build_episode_check(options: Options) -> EpisodeDataCheck:
    """The data check of ``options`` (reads the backbone's dictionary only)."""
    values = icl_option_values(options)
    backbone = icl_backbone(values)
    vocab = backbone.load_dictionary()
    episode = EpisodeConfig.from_conf(values["episode_conf"])
    return EpisodeDataCheck(episode, unit_tokens(UnitEncoder(vocab)), len(vocab))
