"""``SpeechPromptTask``: prompt tuning of a frozen speech LM as an ESPnet2 task.

Data: ``label`` (``text``: label tokens, whitespace-separated, e.g. ``yes`` or ``activate
lights kitchen``) and the backbone's input (``--input``, see ``api/inputs.py``): ``units``
(``text_int``: k-means ids per utterance; GSLM, Unit mBART) or ``speech`` (``sound``: audio,
resampled to 16 kHz where a file has another rate; Wav2Seq). The data files are checked before
training starts (``data_checks.py``); sources longer than ``--max_source_length`` (by default
the backbone's trained context) are cut. Units are mapped to backbone tokens through the
backbone's ``dict.txt``; labels through the label list, which — like the resolved verbalizer
mapping — is embedded in ``config.yaml``.
"""

from __future__ import annotations

import argparse
import copy
import os
from collections.abc import Callable

from espnet2.tasks.abs_task import AbsTask
from espnet2.train.class_choices import ClassChoices
from espnet2.train.collate_fn import CommonCollateFn
from espnet2.utils.nested_dict_action import NestedDictAction
from espnet2.utils.types import int_or_none, str_or_none

from ..api.builder import build_preprocessor, build_speechprompt
from ..api.config import (
    DECODINGS,
    OPTION_DEFAULTS,
    RUN_KEYS,
    load_config,
    read_train_config,
    unknown_key_error,
)
from ..api.inputs import INPUTS
from ..checkpoints.backbones import BACKBONES
from ..precision import BACKBONE_PRECISIONS, resolve_backbone_dtype
from ..verbalizer.builders import VERBALIZERS
from ..vocab import PAD
from .data_checks import check_training_data
from .espnet_model import ESPnetSpeechPromptModel
from .experiment import check_same_experiment
from .init_param import weights_only_init_param
from .speech_audio import bind_data
from .trainer import SpeechPromptTrainer

# units in (gslm, unit_mbart) or 16 kHz speech in (wav2seq), labels out
backbone_choices = ClassChoices("backbone", classes=BACKBONES, default=OPTION_DEFAULTS["backbone"])
verbalizer_choices = ClassChoices(
    "verbalizer", classes=VERBALIZERS, default=OPTION_DEFAULTS["verbalizer"]
)
# the official SpeechPrompt settings: Adam, lr 5e-3, betas (0.9, 0.98), clip 1
PROMPT_TUNING_DEFAULTS = dict(
    optim="adam", optim_conf={"lr": 5.0e-3, "betas": [0.9, 0.98]}, grad_clip=1.0
)


def add_input_arguments(group: argparse._ArgumentGroup) -> None:
    """The options about the backbone's input: ``--input``, ``--max_source_length`` and
    ``--unit_extractor_conf``."""
    group.add_argument(
        "--input",
        type=str_or_none,
        default=OPTION_DEFAULTS["input"],
        help=f"What the backbone reads, one of {INPUTS}: 'units' (data name units, "
        "text_int) or 'speech' (data name speech, sound: audio, resampled to 16 kHz); "
        "default: the backbone's (wav2seq: speech; gslm, unit_mbart: units)",
    )
    group.add_argument(
        "--max_source_length",
        type=int_or_none,
        default=OPTION_DEFAULTS["max_source_length"],
        help="Longest source the prompts read, in units (16 kHz samples for speech input): "
        "a longer one is cut to its first N (logged once). Default: the backbone's trained "
        "context, resolved into config.yaml (gslm: its positions less </s> and <sep>, shared "
        "with the labels; unit_mbart: encoder positions less </s>; wav2seq: no limit)",
    )
    add_unit_extractor_argument(group)
    add_backbone_precision_argument(group)


def training_device(args: argparse.Namespace) -> str:
    """Where ESPnet's trainer will put the model: cuda with ``--ngpu`` > 0."""
    return "cuda" if getattr(args, "ngpu", 0) > 0 else "cpu"


def add_backbone_precision_argument(group: argparse._ArgumentGroup) -> None:
    """``--backbone_precision``: the frozen backbone's precision."""
    group.add_argument(
        "--backbone_precision",
        choices=BACKBONE_PRECISIONS,
        default=OPTION_DEFAULTS["backbone_precision"],
        help="The frozen backbone's weights and matrix products: float32, bfloat16 (prompts, "
        "verbalizer, optimizer state and loss stay float32), or auto: bfloat16 where the "
        "hardware has fast bf16 matrix products (CPUs with AMX or AVX-512 BF16, CUDA GPUs "
        "with bf16), else float32 (logged once)",
    )


def add_unit_extractor_argument(group: argparse._ArgumentGroup) -> None:
    """``--unit_extractor_conf``: how the units were made (for inference from speech)."""
    group.add_argument(
        "--unit_extractor_conf",
        action=NestedDictAction,
        default=OPTION_DEFAULTS["unit_extractor_conf"],
        help="How units were made, so inference can take speech: kmeans (file), feature "
        "(mfcc|hubert), checkpoint, layer, cmvn, dedup (see units.extractor.UnitExtractor)",
    )


def add_label_arguments(group: argparse._ArgumentGroup) -> None:
    """The options about the labels: the list, candidates, decoding and loss weights."""
    group.add_argument(
        "--label_list",
        type=str_or_none,
        default=OPTION_DEFAULTS["label_list"],
        help="Label tokens, one per line (file), embedded in config.yaml as a list",
    )
    group.add_argument(
        "--candidate_list",
        type=str_or_none,
        default=OPTION_DEFAULTS["candidate_list"],
        help="Label sequences to score at inference (classification), one per line; "
        "default: every single label",
    )
    group.add_argument(
        "--decoding",
        type=str,
        default=OPTION_DEFAULTS["decoding"],
        choices=DECODINGS,
        help="Inference: 'score' ranks the candidate label sequences (classification), "
        "'greedy' or 'beam' (beam search) generates a label sequence (ASR, slot filling, "
        "units), 'sample' samples label sequences (temperature, top-k, top-p at inference)",
    )
    group.add_argument(
        "--label_weighting",
        type=str,
        default=OPTION_DEFAULTS["label_weighting"],
        choices=["none", "balanced"],
        help="Loss weights per label: 'balanced' weighs label c by N / (C * count_c) from "
        "the training labels (class balancing, e.g. Speech Commands' _silence_); "
        "the resolved weights are written to config.yaml as label_weights",
    )
    group.add_argument(
        "--label_weights",
        type=float,
        nargs="*",
        default=OPTION_DEFAULTS["label_weights"],
        help="Resolved loss weight per label (set by --label_weighting balanced)",
    )


class SpeechPromptTask(AbsTask):
    """The options and the data of the task; the model is the library's
    (``api.build_speechprompt``) in ``ESPnetSpeechPromptModel``."""

    num_optimizers: int = 1
    class_choices_list = [backbone_choices, verbalizer_choices]
    trainer = SpeechPromptTrainer

    @classmethod
    def main(cls, args: argparse.Namespace | None = None, cmd=None) -> None:
        """ESPnet's ``main``, refusing first an output directory that holds another experiment
        (nothing in it is rewritten)."""
        if args is None:
            args = cls.get_parser().parse_args(cmd)
        check_same_experiment(args)
        super().main(args=args)

    @classmethod
    def add_task_arguments(cls, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group(description="Task related")
        parser.get_default("required").append("label_list")
        add_label_arguments(group)
        add_input_arguments(group)
        group.add_argument(
            "--prompt_conf",
            action=NestedDictAction,
            default=OPTION_DEFAULTS["prompt_conf"],
            help="Prompt settings: input_length, deep_length, separator, dropout, init_std, "
            "deep_init_std (default: init_std), mask_vector (encoder-decoder backbones: "
            "decoder_deep_length; no separator)",
        )
        for choices in cls.class_choices_list:
            choices.add_arguments(group)
        parser.set_defaults(
            **copy.deepcopy(PROMPT_TUNING_DEFAULTS),
            allow_multi_rates=True,  # speech at any rate is resampled to 16 kHz (speech_audio)
            best_model_criterion=[["valid", "acc", "max"], ["valid", "loss", "min"]],
        )

    @classmethod
    def read_train_config(cls, path: str | os.PathLike) -> argparse.Namespace:
        """Every option of a training run's ``config.yaml``, each key of which must be an
        option of the task (the library itself checks only the options it reads)."""
        options = vars(cls.get_parser().parse_args([]))
        unknown = [key for key in load_config(path) if key not in options and key not in RUN_KEYS]
        if unknown:
            note = ": not an option of speechprompt_train"
            raise unknown_key_error(os.fspath(path), unknown[0], options, note)
        return argparse.Namespace(**{**options, **vars(read_train_config(path))})

    @classmethod
    def main_worker(cls, args: argparse.Namespace) -> None:
        """Check the data files (one line per problem) before anything is built or trained."""
        check_training_data(args)
        with weights_only_init_param():  # ESPnet's --init_param loader unpickles anything
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
        return build_preprocessor(args)

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
        """The library's model of ``args`` (resolved options written back, for config.yaml)."""
        built = build_speechprompt(args)
        model = ESPnetSpeechPromptModel(
            built.prompted, built.input, args.backbone, built.max_source_length
        )
        model.keep_backbone_dtype(
            resolve_backbone_dtype(args.backbone_precision, training_device(args))
        )
        return model
