"""What a task's backbone reads: ``units`` (k-means ids; GSLM, Unit mBART) or ``speech`` (16 kHz
waveforms; Wav2Seq), chosen by ``--input`` (default: the backbone's), and the one-line errors
when the data or the verbalizer does not fit it."""

from __future__ import annotations

import argparse

from ..errors import SpeechPromptError

INPUTS = ("units", "speech")
# the data option each input needs, as a recipe would write it
EXAMPLES = {
    "units": "dump/units/{split}/units,units,text_int",
    "speech": "dump/raw/{split}/wav.scp,speech,sound",
}


class SpeechPromptDataError(SpeechPromptError):
    """A unit, label or data file that the task cannot use; names the utterance or option."""


def missing_input(
    name: str, backbone: str, option: str = "train_data_path_and_name_and_type"
) -> str:
    """The one line saying which data to add for input ``name``."""
    split = {"train": "train", "valid": "valid"}.get(option.split("_")[0], "test")
    example = EXAMPLES[name].format(split=split)
    return (
        f"the {backbone} backbone reads '{name}', which the data does not have: add "
        f"--{option} {example}"
    )


def resolve_input(args: argparse.Namespace, backbone_class: type) -> str:
    """``args.input`` (written back, for config.yaml), by default the backbone's own input."""
    wanted = getattr(args, "input", None) or backbone_class.input
    if wanted not in INPUTS:
        raise SpeechPromptDataError(f"--input {wanted!r}: use one of {INPUTS}")
    if wanted != backbone_class.input:
        raise SpeechPromptDataError(
            f"--input {wanted}: the {args.backbone} backbone reads {backbone_class.input}; "
            f"use --input {backbone_class.input} (or another --backbone)"
        )
    args.input = wanted
    return wanted


def check_data_names(args: argparse.Namespace, name: str) -> None:
    """Fail early when training or validation data is given without the input ``name``."""
    for option in ("train_data_path_and_name_and_type", "valid_data_path_and_name_and_type"):
        given = getattr(args, option, None)
        if given and name not in {entry[1] for entry in given}:
            raise SpeechPromptDataError(missing_input(name, args.backbone, option))


def check_verbalizer(spec, name: str) -> None:
    """Rule mappings by unit frequency need units; speech input has none."""
    uses_mapping = getattr(spec, "init", "fixed") == "fixed"
    if name == "speech" and uses_mapping and spec.label_units is None and spec.mode == "frequency":
        raise SpeechPromptDataError(
            "the frequency verbalizer counts training units, which speech input has none of: "
            "use --verbalizer_conf mode=random (or mode=identity), or --verbalizer learnable "
            "--verbalizer_conf init=random"
        )
