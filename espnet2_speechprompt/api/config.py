"""The options of a task that the library reads, their defaults, and reading the ``config.yaml``
of a training run without ESPnet.

Reading a config is one line, naming the file, for a file that is missing, not UTF-8, not YAML
or not a mapping; one that has no embedded label list or names an unknown backbone or
verbalizer; an unknown key inside a setting the library reads (``backbone_conf``,
``verbalizer_conf``, ``prompt_conf``, ``unit_extractor_conf``); and an unknown top-level key
that closely matches an option the library reads (a typo). Other top-level keys are the
trainer's and are left alone; ``SpeechPromptTask.read_train_config`` (ESPnet) refuses every key
that is not an option of the task.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import os
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import asdict

import yaml

from ..checkpoints.backbones import BACKBONES
from ..errors import SpeechPromptError
from ..options import check_keys, keyword_names
from ..prompt.prompts import PromptConfig
from ..verbalizer.builders import VERBALIZERS

# every option the library reads, with its default (the task's command line has the same)
OPTION_DEFAULTS = {
    "backbone": "gslm",
    "backbone_conf": {},
    "backbone_precision": "auto",
    "input": None,
    "max_source_length": None,
    "unit_extractor_conf": {},
    "verbalizer": "learnable",
    "verbalizer_conf": {},
    "prompt_conf": asdict(PromptConfig()),
    "label_list": None,
    "candidate_list": None,
    "decoding": "score",
    "label_weighting": "none",
    "label_weights": None,
    "train_data_path_and_name_and_type": [],
    "valid_data_path_and_name_and_type": [],
}
DECODINGS = ("score", "greedy", "beam", "sample")
# trainer options that look like one of the above but are not typos of it
TRAINER_KEYS_NEAR_OPTIONS = frozenset(
    ("adapter_conf", "chunk_max_abs_length", "ngpu", "optim_conf", "print_config", "scheduler_conf")
)
RUN_KEYS = ("version", "distributed")  # written by ESPnet's task runner, not options
KEEP = "remove it, or pass the config.yaml that training wrote"
ICL_KEY = "episode_conf"  # the option only in-context learning configs have


class ConfigError(SpeechPromptError):
    """A training config that cannot be used; names the file and what to do."""


def option_values(options: argparse.Namespace | MutableMapping) -> MutableMapping:
    """The options as a mapping that writes through to ``options``, every missing option set
    to its default."""
    values = vars(options) if isinstance(options, argparse.Namespace) else options
    for key, default in OPTION_DEFAULTS.items():
        if key not in values:
            values[key] = copy.deepcopy(default)
    return values


def registered(registry: Mapping[str, type], kind: str, name: object) -> type:
    """The class registered as ``name``, or one error listing the names."""
    if name not in registry:
        raise SpeechPromptError(f"{kind} {name!r} is not one of {', '.join(registry)}")
    return registry[name]


def unknown_key_error(path: str, key: object, known: Iterable[str], note: str = "") -> ConfigError:
    """The one line for an unknown ``key`` of config ``path`` (with the closest ``known`` one)."""
    close = difflib.get_close_matches(str(key), list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"{path}: unknown key {key!r}{hint}{note}; {KEEP}")


def load_config(path: str | os.PathLike) -> dict:
    """The mapping in YAML file ``path``; one line for a missing, non-UTF-8 or bad file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: no such training config (the config.yaml of a training run)")
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: the training config is not UTF-8 text") from None
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{where}: the training config is not valid YAML ({problem})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: a training config is a mapping of options, not {config!r}")
    return config


def is_icl_config(config: Mapping | argparse.Namespace) -> bool:
    """Whether ``config`` (options or a loaded ``config.yaml``) is of in-context learning."""
    values = vars(config) if isinstance(config, argparse.Namespace) else config
    return ICL_KEY in values


def check_extractor_conf(conf: object) -> None:
    """``unit_extractor_conf`` has only keys ``UnitExtractor`` takes."""
    if conf:
        from ..units.extractor import UnitExtractor

        valid = [name for name in keyword_names(UnitExtractor) if name != "device"]
        check_keys("unit_extractor_conf", conf, valid)


def check_settings(config: Mapping) -> None:
    """The backbone and verbalizer are known, and every setting the library reads has only
    keys it knows."""
    backbone = registered(BACKBONES, "backbone", config.get("backbone"))
    verbalizer = registered(VERBALIZERS, "verbalizer", config.get("verbalizer"))
    backbone.from_conf(config.get("backbone_conf"))
    verbalizer.from_conf(config.get("verbalizer_conf"))
    if PromptConfig.from_conf(config.get("prompt_conf")).separator_init != "random":
        raise ConfigError(
            "prompt_conf.separator_init: 'unit' is chosen on episodes by the in-context "
            "learning warm-up (icl_train) only; prompt tuning starts from 'random'"
        )
    check_extractor_conf(config.get("unit_extractor_conf"))


def check_near_keys(
    path: str,
    config: Mapping,
    options: Iterable[str],
    trainer_keys: Iterable[str] = TRAINER_KEYS_NEAR_OPTIONS,
) -> None:
    """An unknown top-level key of ``config`` that closely matches one of ``options`` (a typo)
    is one error, unless it is one of ``trainer_keys``; other unknown keys are the trainer's
    and are left alone."""
    options, trainer_keys = list(options), set(trainer_keys)
    for key in config:
        if key in options or key in RUN_KEYS or key in trainer_keys:
            continue
        if difflib.get_close_matches(str(key), options, n=1):
            raise unknown_key_error(path, key, options)


def read_options(
    config: str | os.PathLike,
    model_file: str | os.PathLike | None,
    backbone_conf: dict | None,
    read: Callable[[str | os.PathLike], argparse.Namespace] | None = None,
) -> argparse.Namespace:
    """The training options (checked by ``read``, by default ``read_train_config``),
    ``backbone_conf`` applied; a missing model file is one error before anything is loaded."""
    options = (read or read_train_config)(config)
    if model_file is not None and not os.path.isfile(model_file):
        raise SpeechPromptError(f"{model_file}: no such model file")
    if backbone_conf:
        options.backbone_conf = {**(options.backbone_conf or {}), **backbone_conf}
    return options


def read_train_config(path: str | os.PathLike) -> argparse.Namespace:
    """The options of a training run (``config.yaml`` written by training), every option the
    library reads set (to its default where the file has none)."""
    path = os.fspath(path)
    config = load_config(path)
    if is_icl_config(config):
        raise ConfigError(
            f"{path}: an in-context learning config ({ICL_KEY}): load it with "
            "InContextSpeechPrompt or SpeechPrompt.from_pretrained"
        )
    check_near_keys(path, config, OPTION_DEFAULTS)
    if not config.get("label_list") or not isinstance(config["label_list"], list):
        raise ConfigError(
            f"{path}: no label_list: the config.yaml that training writes embeds the label "
            "list; pass that file (exp/<run>/config.yaml), not the training settings you wrote"
        )
    options = option_values(copy.deepcopy(config))
    try:
        check_settings(options)
    except ConfigError:
        raise
    except SpeechPromptError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return argparse.Namespace(**options)
