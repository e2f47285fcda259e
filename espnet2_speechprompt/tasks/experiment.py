"""One experiment per output directory: a training (or stats) run refuses a directory whose
``config.yaml`` defines another experiment, before anything in it is rewritten.

What defines an experiment: the backbone, what it reads, the prompts, the episodes (in-context
learning), the verbalizer, the labels, the decoding, the loss weighting, the optimizer and
scheduler, and the training and validation data. What may differ on resume (epochs, patience, workers, GPUs, logging, batch
sizes, ...) is not compared. ``config.yaml`` holds resolved values (the label list itself,
the verbalizer's label->unit map, every prompt setting); the new run's options are resolved
the same way before they are compared.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from ..api.config import OPTION_DEFAULTS, is_icl_config, registered
from ..api.icl_builder import icl_prompt_config
from ..api.preprocess import read_list
from ..checkpoints.backbones import BACKBONES
from ..errors import SpeechPromptError
from ..prompt.icl import EpisodeConfig
from ..prompt.prompts import PromptConfig
from ..verbalizer.builders import VERBALIZERS

# options compared as they are; dict-valued ones on the keys this run gives (a saved config may
# hold keys that training resolved and added)
PLAIN_KEYS = (
    "backbone",
    "backbone_conf",
    "input",
    "verbalizer",
    "verbalizer_conf",
    "prompt_conf",
    "episode_conf",
    "label_list",
    "candidate_list",
    "decoding",
    "label_weighting",
    "label_weights",
    "unit_extractor_conf",
    "optim",
    "optim_conf",
    "scheduler",
    "scheduler_conf",
    "train_data_path_and_name_and_type",
    "valid_data_path_and_name_and_type",
)


class ExperimentMismatchError(SpeechPromptError):
    """The output directory holds another experiment."""


def check_same_experiment(args: argparse.Namespace) -> None:
    """Refuse ``args.output_dir`` when its ``config.yaml`` defines another experiment.

    Each option is compared as ``RESOLVERS`` resolve it in both the saved config and this run's
    (as a dict); an option whose value cannot be resolved is left to the run itself to report."""
    if not getattr(args, "output_dir", None):
        return
    saved_path = Path(args.output_dir) / "config.yaml"
    if not saved_path.is_file():
        return
    with open(saved_path, encoding="utf-8") as f:
        saved = yaml.safe_load(f) or {}
    differences = [line for key in PLAIN_KEYS if (line := _difference(key, saved, vars(args)))]
    if differences:
        raise ExperimentMismatchError(
            f"{args.output_dir} holds an experiment of another config "
            f"({saved.get('config') or 'no --config'}; this run: "
            f"{getattr(args, 'config', None) or 'no --config'}): {'; '.join(differences[:3])}"
            f"{' ...' if len(differences) > 3 else ''}. Train it in another directory "
            "(speechprompt.sh: --tag <name>; speechprompt_train: --output_dir), or remove "
            f"{args.output_dir} to start over"
        )


def _difference(key: str, saved: dict, new: dict) -> str | None:
    resolve = RESOLVERS.get(key, lambda value, config: value)
    try:
        new_value = resolve(new.get(key), new)
        saved_value = resolve(saved.get(key), saved)
    except Exception:  # noqa: BLE001 - a bad option is reported by the run itself
        return None
    if new_value is None and key == "label_weights":
        return None  # resolved from the data when training starts
    if isinstance(new_value, dict) and isinstance(saved_value, dict):
        for name, value in new_value.items():
            if saved_value.get(name) != value:
                return f"{key}.{name}: {_short(saved_value.get(name))} -> {_short(value)}"
        return None
    if new_value != saved_value:
        return f"{key}: {_short(saved_value)} -> {_short(new_value)}"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _resolved_verbalizer_conf(value: dict | None, config: dict) -> dict:
    """Every setting of the verbalizer (a label->unit map only where one was given or saved)."""
    name = config.get("verbalizer", OPTION_DEFAULTS["verbalizer"])
    conf = registered(VERBALIZERS, "verbalizer", name)(**(value or {})).conf()
    return {k: v for k, v in conf.items() if not (k == "label_units" and v is None)}


# how config.yaml stores what the options define
RESOLVERS: dict[str, Callable[[Any, dict], Any]] = {
    "label_list": lambda value, config: read_list(value),
    "candidate_list": lambda value, config: (
        read_list(value) if config.get("decoding", "score") == "score" else None
    ),
    "input": lambda value, config: value or BACKBONES[config["backbone"]].input,
    "verbalizer_conf": _resolved_verbalizer_conf,
    "prompt_conf": lambda value, config: asdict(
        icl_prompt_config(value) if is_icl_config(config) else PromptConfig(**(value or {}))
    ),
    "episode_conf": lambda value, config: asdict(EpisodeConfig(**(value or {}))),
    "train_data_path_and_name_and_type": lambda value, config: [list(x) for x in value or []],
    "valid_data_path_and_name_and_type": lambda value, config: [list(x) for x in value or []],
}
