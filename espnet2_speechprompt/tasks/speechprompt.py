"""``SpeechPromptTask``: prompt tuning of a frozen speech LM as an ESPnet2 task.

Data: ``label`` (``text``: label tokens, whitespace-separated, e.g. ``yes`` or ``activate
lights kitchen``) and the backbone's input (``--input``, see ``inputs.py``): ``units``
(``text_int``: k-means ids per utterance; GSLM, Unit mBART) or ``speech`` (``sound``: audio,
resampled to 16 kHz where a file has another rate; Wav2Seq). The data files are checked before
training starts (``data_checks.py``); sources longer than ``--max_source_length`` (by default
the backbone's trained context) are cut. Units are mapped to backbone tokens through the
backbone's ``dict.txt``; labels through the label list, which — like the resolved verbalizer
mapping — is embedded in ``config.yaml``.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from espnet2.tasks.abs_task import AbsTask
from espnet2.train.class_choices import ClassChoices
from espnet2.train.collate_fn import CommonCollateFn
from espnet2.utils.nested_dict_action import NestedDictAction
from espnet2.utils.types import int_or_none, str_or_none

from ..checkpoints.backbones import BACKBONES
from ..kaldi_text import parse_ints, read_entries
from ..prompt.builders import build_prompted
from ..prompt.prompts import PromptConfig
from ..verbalizer.builders import (
    FixedVerbalizerConfig,
    LearnableVerbalizerConfig,
    TrainStatistics,
)
from ..vocab import NUM_SPECIALS, PAD, Dictionary
from .data_checks import check_training_data, label_list
from .espnet_model import ESPnetSpeechPromptModel
from .experiment import check_same_experiment, resolved_prompt_conf
from .inputs import (
    INPUTS,
    SpeechPromptDataError,
    check_data_names,
    check_verbalizer,
    resolve_input,
)
from .speech_audio import SpeechAudio, speech_file
from .trainer import SpeechPromptTrainer

# units in (gslm, unit_mbart) or 16 kHz speech in (wav2seq), labels out
backbone_choices = ClassChoices(
    "backbone",
    classes=BACKBONES,
    default="gslm",
)
verbalizer_choices = ClassChoices(
    "verbalizer",
    classes=dict(fixed=FixedVerbalizerConfig, learnable=LearnableVerbalizerConfig),
    default="learnable",
)


read_list = label_list  # a list given inline (config.yaml) or as a file, one entry per line


class LabelEncoder:
    """Label tokens <-> label-space ids (``4 + index in the label list``)."""

    def __init__(self, labels: list[str]):
        self.labels = labels
        self.index = {label: NUM_SPECIALS + i for i, label in enumerate(labels)}

    def encode(self, text: str, utt: str = "?") -> np.ndarray:
        ids = []
        for token in text.split():
            if token not in self.index:
                raise SpeechPromptDataError(
                    f"utterance {utt}: label {token!r} is not in the label list "
                    f"({len(self.labels)} labels); rebuild the list from every set you train "
                    "and validate on (stage 4) or add the token to your fixed list"
                )
            ids.append(self.index[token])
        return np.asarray(ids, dtype=np.int64)

    def decode(self, ids) -> list[str]:
        return [self.labels[int(i) - NUM_SPECIALS] for i in ids]


class UnitEncoder:
    """k-means unit ids -> backbone tokens through ``dict.txt`` (never ``unit + 4``)."""

    def __init__(self, vocab: Dictionary, source: str = "dict.txt"):
        numeric = {int(s): i for i, s in enumerate(vocab.symbols) if s.isdigit()}
        self.table = np.full(max(numeric, default=-1) + 1, -1, dtype=np.int64)
        for unit, token in numeric.items():
            self.table[unit] = token
        self.source = source

    def encode(self, units: np.ndarray, utt: str = "?") -> np.ndarray:
        units = np.asarray(units, dtype=np.int64)
        bad = (units < 0) | (units >= len(self.table))
        tokens = np.where(bad, -1, self.table[np.clip(units, 0, len(self.table) - 1)])
        if (tokens < 0).any():
            unit = int(units[np.argmax(tokens < 0)])
            raise SpeechPromptDataError(
                f"utterance {utt}: unit {unit} is outside the backbone vocabulary "
                f"({self.source}: units 0..{len(self.table) - 1}); make the units with the "
                "backbone's own k-means"
            )
        if len(tokens) == 0:
            raise SpeechPromptDataError(f"utterance {utt}: no units")
        return tokens


class SpeechPromptPreprocessor:
    """Labels -> label-space ids; units -> backbone tokens (``units=None``: speech input, the
    waveform goes to the model at 16 kHz, resampled by ``speech`` if its file is at another
    rate)."""

    def __init__(
        self, labels: LabelEncoder, units: UnitEncoder | None, speech: SpeechAudio | None = None
    ):
        self.labels, self.units = labels, units
        self.speech = speech or SpeechAudio()

    def for_data(self, files) -> SpeechPromptPreprocessor:
        """This preprocessor for the data ``files`` (``path,name,type`` each) of one loader:
        speech is resampled by the rate in its ``wav.scp`` entries' headers."""
        speech = SpeechAudio(speech_file(files))
        speech.announce()
        return SpeechPromptPreprocessor(self.labels, self.units, speech)

    def __call__(self, uid: str, data: dict) -> dict:
        if "units" in data and self.units is not None:
            data["units"] = self.units.encode(data["units"], uid)
        if "speech" in data:
            data["speech"] = self.speech(uid, data["speech"])
        if "label" in data:
            data["label"] = self.labels.encode(str(data["label"]), uid)
        return data


def bind_data(preprocess_fn: Callable | None, files) -> Callable | None:
    """``preprocess_fn`` for one loader's data files (see ``SpeechPromptPreprocessor.for_data``)."""
    if isinstance(preprocess_fn, SpeechPromptPreprocessor):
        return preprocess_fn.for_data(files)
    return preprocess_fn


def _train_statistics(
    args, labels: LabelEncoder, units: UnitEncoder | None
) -> TrainStatistics | None:
    """Label and unit counts from the training data files, if they are given (no unit counts
    for speech input: ``units=None``)."""
    files = {name: path for path, name, _ in args.train_data_path_and_name_and_type or []}
    if "label" not in files or (units is not None and "units" not in files):
        return None
    label_rows = [
        (labels.encode(e.value, e.key) - NUM_SPECIALS).tolist()
        for e in read_entries(files["label"], "label file")
    ]
    unit_rows = []
    if units is not None:
        for e in read_entries(files["units"], "units file"):
            unit_rows.append(units.encode(np.asarray(parse_ints(e), np.int64), e.key).tolist())
    return TrainStatistics.from_sequences(label_rows, unit_rows, len(labels.labels))


def build_backbone(args: argparse.Namespace):
    """The ``--backbone`` from ``--backbone_conf`` (an unknown key is one error)."""
    return backbone_choices.get_class(args.backbone).from_conf(args.backbone_conf)


def resolve_max_source_length(args: argparse.Namespace, prompted) -> int | None:
    """``--max_source_length``, by default the backbone's trained context for the source (no
    labels); one past the backbone's learned positions is refused."""
    context, hard = prompted.source_context(torch.zeros(1, dtype=torch.long))
    context = None if context is None else int(context[0])
    wanted = getattr(args, "max_source_length", None)
    if wanted is None:
        return context
    if wanted < 1:
        raise SpeechPromptDataError(f"--max_source_length must be positive, not {wanted}")
    if context is not None and wanted > context:
        if hard:
            raise SpeechPromptDataError(
                f"--max_source_length {wanted} is past the {args.backbone} backbone's learned "
                f"positions ({context} for the source): use at most {context}"
            )
        logging.warning(
            f"--max_source_length {wanted} is past the {args.backbone} backbone's trained "
            f"context ({context}): longer sources may give worse results"
        )
    return wanted


def balanced_weights(label_counts: list[int]) -> list[float]:
    """``N / (C * count_c)`` over the labels seen in training (1.0 for unseen ones), so the
    expected weight of a training token is 1 (sklearn's "balanced")."""
    seen = [count for count in label_counts if count > 0]
    total = sum(seen)
    return [round(total / (len(seen) * count), 6) if count > 0 else 1.0 for count in label_counts]


def _resolved_verbalizer_conf(value: dict | None, config: dict) -> dict:
    """Every setting of the verbalizer (a label->unit map only where one was given or saved)."""
    conf = verbalizer_choices.get_class(config.get("verbalizer"))(**(value or {})).conf()
    return {k: v for k, v in conf.items() if not (k == "label_units" and v is None)}


# how config.yaml stores what the options define (check_same_experiment)
EXPERIMENT_RESOLVERS = {
    "label_list": lambda value, config: read_list(value),
    "candidate_list": lambda value, config: (
        read_list(value) if config.get("decoding", "score") == "score" else None
    ),
    "input": lambda value, config: value or backbone_choices.get_class(config["backbone"]).input,
    "verbalizer_conf": _resolved_verbalizer_conf,
    "prompt_conf": resolved_prompt_conf,
    "train_data_path_and_name_and_type": lambda value, config: [list(x) for x in value or []],
    "valid_data_path_and_name_and_type": lambda value, config: [list(x) for x in value or []],
}


def add_input_arguments(group: argparse._ArgumentGroup) -> None:
    """The options about the backbone's input: ``--input``, ``--max_source_length`` and
    ``--unit_extractor_conf``."""
    group.add_argument(
        "--input",
        type=str_or_none,
        default=None,
        help=f"What the backbone reads, one of {INPUTS}: 'units' (data name units, "
        "text_int) or 'speech' (data name speech, sound: audio, resampled to 16 kHz); "
        "default: the backbone's (wav2seq: speech; gslm, unit_mbart: units)",
    )
    group.add_argument(
        "--max_source_length",
        type=int_or_none,
        default=None,
        help="Longest source the prompts read, in units (16 kHz samples for speech input): "
        "a longer one is cut to its first N (logged once). Default: the backbone's trained "
        "context, resolved into config.yaml (gslm: its positions less </s> and <sep>, shared "
        "with the labels; unit_mbart: encoder positions less </s>; wav2seq: no limit)",
    )
    group.add_argument(
        "--unit_extractor_conf",
        action=NestedDictAction,
        default=dict(),
        help="How units were made, so inference can take speech: kmeans (file), feature "
        "(mfcc|hubert), checkpoint, layer, cmvn, dedup (see units.extractor.UnitExtractor)",
    )


class SpeechPromptTask(AbsTask):
    num_optimizers: int = 1
    class_choices_list = [backbone_choices, verbalizer_choices]
    trainer = SpeechPromptTrainer

    @classmethod
    def main(cls, args: argparse.Namespace | None = None, cmd=None) -> None:
        """ESPnet's ``main``, refusing first an output directory that holds another experiment
        (nothing in it is rewritten)."""
        if args is None:
            args = cls.get_parser().parse_args(cmd)
        check_same_experiment(args, EXPERIMENT_RESOLVERS)
        super().main(args=args)

    @classmethod
    def add_task_arguments(cls, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group(description="Task related")
        parser.get_default("required").append("label_list")
        group.add_argument(
            "--label_list",
            type=str_or_none,
            default=None,
            help="Label tokens, one per line (file), embedded in config.yaml as a list",
        )
        group.add_argument(
            "--candidate_list",
            type=str_or_none,
            default=None,
            help="Label sequences to score at inference (classification), one per line; "
            "default: every single label",
        )
        group.add_argument(
            "--decoding",
            type=str,
            default="score",
            choices=["score", "greedy", "beam"],
            help="Inference: 'score' ranks the candidate label sequences (classification), "
            "'greedy' or 'beam' (beam search) generates a label sequence (ASR, slot filling, "
            "units)",
        )
        group.add_argument(
            "--label_weighting",
            type=str,
            default="none",
            choices=["none", "balanced"],
            help="Loss weights per label: 'balanced' weighs label c by N / (C * count_c) from "
            "the training labels (class balancing, e.g. Speech Commands' _silence_); "
            "the resolved weights are written to config.yaml as label_weights",
        )
        group.add_argument(
            "--label_weights",
            type=float,
            nargs="*",
            default=None,
            help="Resolved loss weight per label (set by --label_weighting balanced)",
        )
        add_input_arguments(group)
        group.add_argument(
            "--prompt_conf",
            action=NestedDictAction,
            default=asdict(PromptConfig()),
            help="Prompt settings: input_length, deep_length, separator, dropout, init_std "
            "(encoder-decoder backbones: decoder_deep_length; no separator)",
        )
        for choices in cls.class_choices_list:
            choices.add_arguments(group)
        # the official SpeechPrompt settings: Adam, lr 5e-3, betas (0.9, 0.98), clip 1
        parser.set_defaults(
            optim="adam",
            optim_conf={"lr": 5.0e-3, "betas": [0.9, 0.98]},
            grad_clip=1.0,
            allow_multi_rates=True,  # speech at any rate is resampled to 16 kHz (speech_audio)
            best_model_criterion=[["valid", "acc", "max"], ["valid", "loss", "min"]],
        )

    @classmethod
    def main_worker(cls, args: argparse.Namespace) -> None:
        """Check the data files (one line per problem) before anything is built or trained."""
        check_training_data(args)
        super().main_worker(args)

    @classmethod
    def build_iter_options(cls, args, distributed_option, mode):
        options = super().build_iter_options(args, distributed_option, mode)
        options.preprocess_fn = bind_data(
            options.preprocess_fn, options.data_path_and_name_and_type
        )
        return options

    @classmethod
    def build_streaming_iterator(cls, data_path_and_name_and_type, preprocess_fn, *args, **kwargs):
        preprocess_fn = bind_data(preprocess_fn, data_path_and_name_and_type)
        return super().build_streaming_iterator(
            data_path_and_name_and_type, preprocess_fn, *args, **kwargs
        )

    @classmethod
    def build_collate_fn(cls, args: argparse.Namespace, train: bool) -> Callable:
        return CommonCollateFn(float_pad_value=0.0, int_pad_value=PAD)

    @classmethod
    def build_preprocess_fn(cls, args: argparse.Namespace, train: bool) -> Callable:
        backbone_class = backbone_choices.get_class(args.backbone)
        units = None
        if resolve_input(args, backbone_class) == "units":
            backbone = build_backbone(args)
            units = UnitEncoder(backbone.load_dictionary(), backbone.dictionary)
        return SpeechPromptPreprocessor(LabelEncoder(read_list(args.label_list)), units)

    @classmethod
    def required_data_names(cls, train: bool = True, inference: bool = False) -> tuple[str, ...]:
        """Only ``label``: the input (units or speech) depends on the backbone, which the
        model checks (``build_model``, ``forward``)."""
        return () if inference else ("label",)

    @classmethod
    def optional_data_names(cls, train: bool = True, inference: bool = False) -> tuple[str, ...]:
        return ("units", "speech", "label") if inference else ("units", "speech")

    @classmethod
    def build_model(cls, args: argparse.Namespace) -> ESPnetSpeechPromptModel:
        labels = read_list(args.label_list)
        if not labels:
            raise SpeechPromptDataError(f"the label list {args.label_list} is empty")
        args.label_list = labels  # embedded in config.yaml
        if getattr(args, "decoding", "score") != "score":
            args.candidate_list = None  # generation: no candidates (ASR's would be huge)
        else:
            args.candidate_list = read_list(args.candidate_list)
        backbone_class = backbone_choices.get_class(args.backbone)
        source = resolve_input(args, backbone_class)
        check_data_names(args, source)
        backbone = build_backbone(args)
        spec = verbalizer_choices.get_class(args.verbalizer).from_conf(args.verbalizer_conf)
        check_verbalizer(spec, source)
        prompt_config = PromptConfig.from_conf(args.prompt_conf)
        lm, vocab = backbone.load()
        weighting = getattr(args, "label_weighting", "none")
        weights = getattr(args, "label_weights", None)
        stats = None
        need_stats = spec.label_units is None and spec.mode == "frequency"
        if need_stats or (weighting == "balanced" and weights is None):
            units = UnitEncoder(vocab, backbone.dictionary) if source == "units" else None
            stats = _train_statistics(args, LabelEncoder(labels), units)
        if weighting == "balanced" and weights is None:
            if stats is None:
                raise SpeechPromptDataError(
                    f"--label_weighting balanced needs the training {source} and label files"
                )
            weights = balanced_weights(stats.label_counts)
            args.label_weights = weights  # resolved, for config.yaml
        verbalizer = spec.build(labels, vocab, stats)
        args.verbalizer_conf = spec.conf()  # the resolved mapping, for config.yaml
        args.prompt_conf = asdict(prompt_config)  # every field, for config.yaml
        prompted = build_prompted(lm, verbalizer, prompt_config)
        if weighting == "balanced":
            if len(weights) != len(labels):
                raise SpeechPromptDataError(
                    f"label_weights has {len(weights)} entries for {len(labels)} labels"
                )
            prompted.set_label_weights(weights)
        args.max_source_length = resolve_max_source_length(args, prompted)
        trainable, total = prompted.parameter_counts()
        logging.info(
            f"SpeechPrompt: {trainable:,} trainable parameters of {total:,} "
            f"({100 * trainable / total:.3f}%); backbone {Path(backbone.checkpoint).name} frozen"
        )
        return ESPnetSpeechPromptModel(prompted, source, args.backbone, args.max_source_length)
