"""A prompted model from a task's options (an ``argparse.Namespace`` or a mapping, as written in
``config.yaml``), and its trained state from a model file.

Building resolves what the options leave open and writes it back into them, so that the saved
config rebuilds the same model anywhere: the label list itself, the input, the verbalizer's
label->unit map, every prompt setting, balanced label weights and ``max_source_length``.
Model files hold the trainable state only, under the ``prompted.`` prefix of the ESPnet
model's keys (``STATE_PREFIX``).
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import MutableMapping
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..checkpoints.backbones import BACKBONES, GSLMBackbone
from ..checkpoints.trainable_state import load_trainable_state
from ..errors import CheckpointError, SpeechPromptError
from ..precision import resolve_backbone_dtype
from ..prompt.builders import build_prompted
from ..prompt.prompted_encdec import PromptedEncoderDecoder
from ..prompt.prompted_lm import PromptedUnitLM
from ..prompt.prompts import PromptConfig
from ..verbalizer.builders import VERBALIZERS, FixedVerbalizerConfig, TrainStatistics
from ..vocab import Dictionary
from .config import option_values, registered
from .inputs import SpeechPromptDataError, check_data_names, check_verbalizer, resolve_input
from .preprocess import (
    LabelEncoder,
    SpeechPromptPreprocessor,
    UnitEncoder,
    balanced_weights,
    read_list,
    train_statistics,
)

STATE_PREFIX = "prompted."  # model files: the keys of the ESPnet model's ``prompted`` module
Options = argparse.Namespace | MutableMapping
Prompted = PromptedUnitLM | PromptedEncoderDecoder


@dataclass
class BuiltSpeechPrompt:
    """A prompted frozen backbone and what running it needs."""

    prompted: Prompted
    input: str  # what the backbone reads: "units" or "speech"
    max_source_length: int | None
    backbone: GSLMBackbone  # its files
    preprocessor: SpeechPromptPreprocessor


def backbone_of(values: MutableMapping) -> tuple[GSLMBackbone, str]:
    """The configured backbone (its files, not loaded) and its resolved input (written back)."""
    name = values["backbone"]
    backbone_class = registered(BACKBONES, "backbone", name)
    values["input"] = resolve_input(values["input"], name, backbone_class)
    return backbone_class.from_conf(values["backbone_conf"]), values["input"]


def _preprocessor(
    labels: list[str],
    backbone: GSLMBackbone,
    vocab: Dictionary | None,
    source: str,
    prompt_conf: dict | None = None,
) -> SpeechPromptPreprocessor:
    mask_vector = bool((prompt_conf or {}).get("mask_vector"))
    if mask_vector and source != "units":
        raise SpeechPromptDataError(
            "prompt_conf.mask_vector masks source units: this backbone reads speech"
        )
    units = UnitEncoder(vocab, backbone.dictionary, mask_vector) if source == "units" else None
    return SpeechPromptPreprocessor(LabelEncoder(labels), units)


def build_preprocessor(options: Options) -> SpeechPromptPreprocessor:
    """Labels and units (or speech) of the task's data as the model takes them."""
    values = option_values(options)
    backbone, source = backbone_of(values)
    vocab = backbone.load_dictionary() if source == "units" else None
    labels = read_list(values["label_list"])
    return _preprocessor(labels, backbone, vocab, source, values["prompt_conf"])


def _resolve_labels(values: MutableMapping) -> list[str]:
    """The label list (embedded, written back) and the candidates (none when generating)."""
    labels = read_list(values["label_list"])
    if not labels:
        raise SpeechPromptDataError(f"the label list {values['label_list']} is empty")
    values["label_list"] = labels
    scoring = values["decoding"] == "score"
    values["candidate_list"] = read_list(values["candidate_list"]) if scoring else None
    return labels


def _label_weights(
    values: MutableMapping,
    spec: FixedVerbalizerConfig,
    labels: list[str],
    vocab: Dictionary,
    backbone: GSLMBackbone,
    source: str,
) -> tuple[list[float] | None, TrainStatistics | None]:
    """Balanced label weights (resolved from the training labels, written back) and the
    training statistics the verbalizer or the weights need (``None`` if neither does)."""
    balanced = values["label_weighting"] == "balanced"
    weights = values["label_weights"] if balanced else None
    stats = None
    if (spec.label_units is None and spec.mode == "frequency") or (balanced and weights is None):
        mask_vector = bool((values["prompt_conf"] or {}).get("mask_vector"))
        units = UnitEncoder(vocab, backbone.dictionary, mask_vector) if source == "units" else None
        files = values["train_data_path_and_name_and_type"]
        stats = train_statistics(files, LabelEncoder(labels), units)
    if balanced and weights is None:
        if stats is None:
            raise SpeechPromptDataError(
                f"--label_weighting balanced needs the training {source} and label files"
            )
        weights = values["label_weights"] = balanced_weights(stats.label_counts)
    if weights is not None and len(weights) != len(labels):
        raise SpeechPromptDataError(
            f"label_weights has {len(weights)} entries for {len(labels)} labels"
        )
    return weights, stats


def build_speechprompt(
    options: Options, loaded: tuple[torch.nn.Module, Dictionary] | None = None
) -> BuiltSpeechPrompt:
    """The prompted model of ``options`` (untrained prompts); resolved options are written
    back into ``options``. ``loaded``: the backbone and its dictionary, already loaded from
    the configured files, to put the prompts on (shared by several tasks)."""
    values = option_values(options)
    labels = _resolve_labels(values)
    backbone, source = backbone_of(values)
    check_data_names(values, source, values["backbone"])
    verbalizer_class = registered(VERBALIZERS, "verbalizer", values["verbalizer"])
    spec = verbalizer_class.from_conf(values["verbalizer_conf"])
    check_verbalizer(spec, source)
    prompt_config = PromptConfig.from_conf(values["prompt_conf"])
    lm, vocab = loaded or backbone.load()
    weights, stats = _label_weights(values, spec, labels, vocab, backbone, source)
    verbalizer = spec.build(labels, vocab, stats)
    values["verbalizer_conf"] = spec.conf()  # the resolved mapping, for config.yaml
    values["prompt_conf"] = asdict(prompt_config)  # every field, for config.yaml
    prompted = build_prompted(lm, verbalizer, prompt_config)
    if weights is not None:
        prompted.set_label_weights(weights)
    values["max_source_length"] = resolve_max_source_length(values, prompted)
    trainable, total = prompted.parameter_counts()
    logging.info(
        f"SpeechPrompt: {trainable:,} trainable parameters of {total:,} "
        f"({100 * trainable / total:.3f}%); backbone {Path(backbone.checkpoint).name} frozen"
    )
    preprocessor = _preprocessor(labels, backbone, vocab, source, values["prompt_conf"])
    return BuiltSpeechPrompt(prompted, source, values["max_source_length"], backbone, preprocessor)


def apply_backbone_precision(
    prompted: Prompted, requested: str, device: str | torch.device = "cpu"
) -> torch.dtype:
    """Put the frozen backbone in the dtype ``backbone_precision`` asks for on ``device``
    (``auto``: bf16 where the hardware has fast bf16 matrix products); returns it."""
    dtype = resolve_backbone_dtype(requested, device)
    if dtype != torch.float32:
        prompted.set_backbone_dtype(dtype)
    return dtype


def resolve_max_source_length(values: MutableMapping, prompted: Prompted) -> int | None:
    """``max_source_length``, by default the backbone's trained context for the source (no
    labels); one past the backbone's learned positions is refused."""
    context, hard = prompted.source_context(torch.zeros(1, dtype=torch.long))
    context = None if context is None else int(context[0])
    wanted = values.get("max_source_length")
    if wanted is None:
        return context
    if wanted < 1:
        raise SpeechPromptDataError(f"--max_source_length must be positive, not {wanted}")
    if context is not None and wanted > context:
        if hard:
            raise SpeechPromptDataError(
                f"--max_source_length {wanted} is past the {values['backbone']} backbone's "
                f"learned positions ({context} for the source): use at most {context}"
            )
        logging.warning(
            f"--max_source_length {wanted} is past the {values['backbone']} backbone's trained "
            f"context ({context}): longer sources may give worse results"
        )
    return wanted


def trainable_state(prompted: Prompted) -> dict[str, torch.Tensor]:
    """The trainable state of ``prompted`` with the keys of a model file."""
    return {STATE_PREFIX + k: v for k, v in prompted.trainable_state_dict().items()}


def read_trainable_state(model_file: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The prompt-only weights of ``model_file``, or one line saying why they cannot be read."""
    if not Path(model_file).is_file():
        raise CheckpointError(f"model file {model_file}: no such file")
    try:
        return load_trainable_state(model_file)
    except SpeechPromptError:
        raise
    except Exception as exc:  # torch / safetensors raise many types for a bad file
        raise CheckpointError(
            f"{model_file}: not a readable model file ({type(exc).__name__}): give the .pth "
            "or .safetensors file that training wrote"
        ) from None


def _mismatch(expected: dict[str, torch.Tensor], state: dict) -> str:
    def listed(what: str, keys: list[str]) -> list[str]:
        more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
        return [f"{what} {', '.join(keys[:3])}{more}"] if keys else []

    shapes = [
        f"{key} {tuple(getattr(state[key], 'shape', ()))} vs {tuple(expected[key].shape)}"
        for key in sorted(expected.keys() & state.keys())
        if getattr(state[key], "shape", None) != expected[key].shape
    ]
    return "; ".join(
        listed("missing", sorted(expected.keys() - state.keys()))
        + listed("unexpected", sorted(state.keys() - expected.keys()))
        + listed("shape of", shapes)
    )


def load_state(
    prompted: Prompted,
    model_file: str | os.PathLike,
    config_file: str | os.PathLike | None = None,
) -> dict[str, torch.Tensor]:
    """The weights of ``model_file`` loaded into ``prompted`` (strictly: every trainable tensor,
    same shapes); returns them as read."""
    state = read_trainable_state(model_file)
    detail = _mismatch(trainable_state(prompted), state)
    try:
        if not detail:
            own = {k.removeprefix(STATE_PREFIX): v for k, v in state.items()}
            prompted.load_state_dict(own, strict=False)
    except RuntimeError as exc:
        detail = str(exc).splitlines()[0]
    if detail:
        raise CheckpointError(
            f"model file {model_file} does not match the training config {config_file} "
            f"({detail}): give the config.yaml of the run that wrote this model file"
        )
    return state
