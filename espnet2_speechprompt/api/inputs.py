"""What a task's backbone reads: ``units`` (k-means ids; GSLM, Unit mBART) or ``speech`` (16 kHz
waveforms; Wav2Seq), chosen by ``input`` (default: the backbone's), and the one-line errors
when the data or the verbalizer does not fit it."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import SpeechPromptError

INPUTS = ("units", "speech")
# the data option each input needs, as a recipe would write it
EXAMPLES = {
    "units": "dump/units/{split}/units,units,text_int",
    "speech": "dump/raw/{split}/wav.scp,speech,sound",
}
DATA_OPTIONS = ("train_data_path_and_name_and_type", "valid_data_path_and_name_and_type")


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


def resolve_input(wanted: str | None, backbone: str, backbone_class: type) -> str:
    """``wanted`` (``input`` of the options), by default the backbone's own input."""
    wanted = wanted or backbone_class.input
    if wanted not in INPUTS:
        raise SpeechPromptDataError(f"--input {wanted!r}: use one of {INPUTS}")
    if wanted != backbone_class.input:
        raise SpeechPromptDataError(
            f"--input {wanted}: the {backbone} backbone reads {backbone_class.input}; "
            f"use --input {backbone_class.input} (or another --backbone)"
        )
    return wanted


def check_data_names(options: Mapping, name: str, backbone: str) -> None:
    """Fail early when training or validation data is given without the input ``name``."""
    for option in DATA_OPTIONS:
        given = options.get(option)
        if given and name not in {entry[1] for entry in given}:
            raise SpeechPromptDataError(missing_input(name, backbone, option))


def check_verbalizer(spec, name: str) -> None:
    """Rule mappings by unit frequency need units; speech input has none."""
    uses_mapping = getattr(spec, "init", "fixed") == "fixed"
    if name == "speech" and uses_mapping and spec.label_units is None and spec.mode == "frequency":
        raise SpeechPromptDataError(
            "the frequency verbalizer counts training units, which speech input has none of: "
            "use --verbalizer_conf mode=random (or mode=identity), or --verbalizer learnable "
            "--verbalizer_conf init=random"
        )
