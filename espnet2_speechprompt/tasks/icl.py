"""``SpeechPromptICLTask``: the warm-up of in-context learning as an ESPnet2 task.

Prompts (by default an input prompt of 5 vectors and the separator) are trained on episodes
of several training tasks, the backbone frozen; the warmed-up model then solves unseen tasks
from demonstrations alone (``api.InContextSpeechPrompt``). Data, written by
``bin/icl_episodes.py``: ``episode`` (``text_int``: an episode's backbone tokens,
``x_1 <sep> y_1 ... x_n <sep> y_n x_q <sep>``) and ``target`` (``text_int``: the token of the
query's label). Every episode must have the length ``--episode_conf`` makes; the data are
checked before training starts. Stats: ``loss`` (cross-entropy of the query label over the
unit tokens) and ``acc`` (the unconstrained prediction, argmax over every unit token).
"""

from __future__ import annotations

import argparse
import copy
import logging
from collections.abc import Callable

import numpy as np
import torch
from espnet2.tasks.abs_task import AbsTask
from espnet2.torch_utils.device_funcs import force_gatherable
from espnet2.train.collate_fn import CommonCollateFn
from espnet2.utils.nested_dict_action import NestedDictAction

from ..api.icl_builder import ICL_OPTION_DEFAULTS, build_episode_check, build_icl
from ..api.inputs import DATA_OPTIONS, SpeechPromptDataError
from ..kaldi_text import parse_ints, read_entries
from ..precision import resolve_backbone_dtype
from ..prompt.icl import PromptedICL
from ..vocab import PAD
from .data_checks import check_data_files
from .espnet_model import TrainableStateModel, out_of_memory
from .experiment import check_same_experiment
from .init_param import weights_only_init_param
from .speechprompt import (
    PROMPT_TUNING_DEFAULTS,
    add_backbone_precision_argument,
    add_unit_extractor_argument,
    backbone_choices,
    training_device,
)
from .trainer import SpeechPromptTrainer

DATA_NAMES = ("episode", "target")
SEPARATOR_SEARCH_EPISODES = 256  # training episodes that choose the separator's start


class ESPnetICLModel(TrainableStateModel):
    """``PromptedICL`` for ESPnet's trainer: the state holds the prompts only (``prompted.``)."""

    def __init__(self, prompted: PromptedICL):
        super().__init__()
        self.prompted = prompted

    def forward(
        self,
        episode: torch.Tensor,
        episode_lengths: torch.Tensor,
        target: torch.Tensor,
        target_lengths: torch.Tensor,
        **kwargs,
    ):
        """Loss on the query label's token; stats ``loss`` and ``acc`` (unconstrained)."""
        try:
            out = self.prompted(episode, target[:, 0])
        except RuntimeError as exc:
            if not out_of_memory(exc):
                raise
            raise SpeechPromptDataError(
                f"out of memory on a batch of {episode.shape[0]} episodes of "
                f"{episode.shape[1]} tokens: lower --batch_size or --batch_bins"
            ) from None
        stats = {k: out[k].detach() for k in ("loss", "acc")}
        return force_gatherable((out["loss"], stats, episode.shape[0]), episode.device)

    def collect_feats(self, **kwargs) -> dict[str, torch.Tensor]:
        return {}


def check_episode_data(args: argparse.Namespace) -> None:
    """The training and validation episodes, before anything is trained: both data names as
    ``text_int``, files ESPnet can read, every episode as long as ``--episode_conf`` makes it
    and made of the backbone's tokens."""
    check = None
    for option in DATA_OPTIONS:
        files = getattr(args, option, None) or []
        if not files:
            continue
        given = {entry[1]: entry for entry in files if len(entry) == 3}
        for name in DATA_NAMES:
            if name not in given or given[name][2] != "text_int":
                raise SpeechPromptDataError(
                    f"--{option}: give '{name}' as text_int, e.g. --{option} "
                    f"dump/icl_episodes/train/{name},{name},text_int (written by icl_episodes)"
                )
        check_data_files(files, option)
        check = check or build_episode_check(args)
        for name in DATA_NAMES:
            for entry in read_entries(given[name][0], f"{name} file"):
                check(entry.key, {name: np.asarray(parse_ints(entry, "token"), dtype=np.int64)})


def first_training_episodes(
    args: argparse.Namespace, count: int
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The first ``count`` training episodes and their query labels' tokens (None without
    training data)."""
    files = getattr(args, "train_data_path_and_name_and_type", None) or []
    paths = {entry[1]: entry[0] for entry in files if len(entry) == 3}
    if not all(name in paths for name in DATA_NAMES):
        return None
    episodes = read_entries(paths["episode"], "episode file")[:count]
    targets = {entry.key: entry for entry in read_entries(paths["target"], "target file")}
    missing = [entry.key for entry in episodes if entry.key not in targets]
    if missing:
        raise SpeechPromptDataError(
            f"{paths['target']}: no target for episode {missing[0]} of {paths['episode']}"
        )
    rows = [parse_ints(entry, "token") for entry in episodes]
    labels = [parse_ints(targets[entry.key], "token")[0] for entry in episodes]
    return torch.tensor(rows), torch.tensor(labels)


def start_separator(prompted: PromptedICL, args: argparse.Namespace) -> None:
    """``prompt_conf.separator_init: unit``: the separator starts as the unit embedding that
    does best on the first training episodes (``PromptedICL.separator_from_units``)."""
    data = first_training_episodes(args, SEPARATOR_SEARCH_EPISODES)
    if data is None:
        logging.info("separator_init unit: no training episodes given, the separator is random")
        return
    token = prompted.separator_from_units(*data)
    logging.info(
        f"separator_init unit: the separator starts as the embedding of unit token {token} "
        f"(lowest loss of the untrained model on {len(data[0])} training episodes)"
    )


class SpeechPromptICLTask(AbsTask):
    """The options and data of the warm-up; the model is the library's (``api.build_icl``)."""

    num_optimizers: int = 1
    class_choices_list = [backbone_choices]
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
        group.add_argument(
            "--prompt_conf",
            action=NestedDictAction,
            default=copy.deepcopy(ICL_OPTION_DEFAULTS["prompt_conf"]),
            help="Prompt settings: input_length (default 5), deep_length (default 0: no deep "
            "prompt), separator (default true: a trainable <sep>), dropout, init_std, deep_init_std "
            "(default: init_std), separator_init (random, or unit: the unit embedding under "
            "which the untrained model does best on the first training episodes)",
        )
        group.add_argument(
            "--episode_conf",
            action=NestedDictAction,
            default=copy.deepcopy(ICL_OPTION_DEFAULTS["episode_conf"]),
            help="Episode layout, as the episodes were written: num_demos (default 4) "
            "demonstrations, each utterance cut or padded to unit_length (default 50) units",
        )
        add_unit_extractor_argument(group)
        add_backbone_precision_argument(group)
        for choices in cls.class_choices_list:
            choices.add_arguments(group)
        parser.set_defaults(
            **copy.deepcopy(PROMPT_TUNING_DEFAULTS),
            best_model_criterion=[["valid", "acc", "max"], ["valid", "loss", "min"]],
        )

    @classmethod
    def main_worker(cls, args: argparse.Namespace) -> None:
        """Check the episodes (one line per problem) before anything is built or trained."""
        check_episode_data(args)
        with weights_only_init_param():  # ESPnet's --init_param loader unpickles anything
            super().main_worker(args)

    @classmethod
    def build_collate_fn(cls, args: argparse.Namespace, train: bool) -> Callable:
        return CommonCollateFn(int_pad_value=PAD)

    @classmethod
    def build_preprocess_fn(cls, args: argparse.Namespace, train: bool) -> Callable:
        return build_episode_check(args)

    @classmethod
    def required_data_names(cls, train: bool = True, inference: bool = False) -> tuple[str, ...]:
        return ("episode",) if inference else DATA_NAMES

    @classmethod
    def optional_data_names(cls, train: bool = True, inference: bool = False) -> tuple[str, ...]:
        return ("target",) if inference else ()

    @classmethod
    def build_model(cls, args: argparse.Namespace) -> ESPnetICLModel:
        """The library's model of ``args`` (resolved settings written back, for config.yaml)."""
        prompted = build_icl(args).prompted
        model = ESPnetICLModel(prompted)
        model.keep_backbone_dtype(
            resolve_backbone_dtype(args.backbone_precision, training_device(args))
        )
        if prompted.prompts.config.separator_init == "unit":
            start_separator(prompted, args)  # in the precision the warm-up trains in
        return model
