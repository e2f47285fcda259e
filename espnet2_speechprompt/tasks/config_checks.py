"""Reading the ``config.yaml`` of a training run for inference: one line, naming the file,
for a file that is missing, not UTF-8, not YAML, not a mapping, holds a key that is not an
option of the task, names an unknown backbone or verbalizer, or has no embedded label list."""

from __future__ import annotations

import argparse
import difflib
import os

import yaml

from ..errors import SpeechPromptError

RUN_KEYS = ("version", "distributed")  # written by ESPnet's task runner, not options


class ConfigError(SpeechPromptError):
    """A training config that inference cannot use; names the file and what to do."""


def _load_yaml(path: str) -> object:
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
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{where}: the training config is not valid YAML ({problem})") from None


def read_train_config(path: str | os.PathLike) -> argparse.Namespace:
    """The options of a training run (``config.yaml`` written by ``speechprompt_train``)."""
    from .speechprompt import SpeechPromptTask, backbone_choices, verbalizer_choices

    path = os.fspath(path)
    config = _load_yaml(path)
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: a training config is a mapping of options, not {config!r}")
    options = vars(SpeechPromptTask.get_parser().parse_args([]))
    unknown = [key for key in config if key not in options and key not in RUN_KEYS]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), list(options), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"{path}: unknown key {unknown[0]!r}{hint}: not an option of speechprompt_train; "
            "remove it, or pass the config.yaml that training wrote"
        )
    if not config.get("label_list") or not isinstance(config["label_list"], list):
        raise ConfigError(
            f"{path}: no label_list: the config.yaml that training writes embeds the label "
            "list; pass that file (exp/<run>/config.yaml), not the training settings you wrote"
        )
    for choices, default in ((backbone_choices, "gslm"), (verbalizer_choices, "learnable")):
        name = config.setdefault(choices.name, default)
        if name not in choices.choices():
            raise ConfigError(
                f"{path}: {choices.name} {name!r} is not one of {', '.join(choices.choices())}"
            )
    return argparse.Namespace(**{**options, **config})
