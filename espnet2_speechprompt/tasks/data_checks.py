"""Up-front checks of a task's data files, shared by training and inference.

One pass over each text file, no audio samples read: what ESPnet's loaders would stop on deep
inside a DataLoader (a blank line, a repeated utterance id, bytes that are not UTF-8, a unit
that is not an integer, a ``wav.scp`` command or missing audio file, files whose utterances
differ), and what they would accept silently (an empty label, a label not in the label list),
each as one line naming the file and line or utterance. Lines are split as ESPnet splits them
(``kaldi_text``).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from ..api.inputs import SpeechPromptDataError
from ..api.preprocess import read_list
from ..kaldi_text import Entry, read_entries

DataFile = Sequence[str]  # (path, data name, ESPnet data type)
WHAT = {"text": "text file", "text_int": "units file", "sound": "wav.scp file"}


def _check_units(entry: Entry, inference: bool) -> None:
    """ESPnet splits a ``text_int`` value at single spaces and reads each piece as an int."""
    if not entry.value:
        raise SpeechPromptDataError(
            f"{entry.where}: utterance {entry.key} has no units; remove it from every file of "
            "the set or make its units again"
        )
    for position, token in enumerate(entry.value.split(" "), 1):
        try:
            int(token)
        except ValueError:
            raise SpeechPromptDataError(
                f"{entry.where}: utterance {entry.key}: unit {position} {token!r} is not an "
                "integer (units are integers separated by single spaces)"
            ) from None


def _check_sound(entry: Entry, inference: bool) -> None:
    """ESPnet's ``sound`` loader opens the value as one audio file (no ``command |``)."""
    if entry.value.endswith("|"):
        raise SpeechPromptDataError(
            f"{entry.where}: utterance {entry.key} is a command ({entry.value}); ESPnet's sound "
            "loader reads audio files: write them with stage 2 (format_audio)"
        )
    if not os.path.isfile(entry.value):
        raise SpeechPromptDataError(
            f"{entry.where}: utterance {entry.key}: audio file not found: {entry.value!r}"
        )


def _check_value(entry: Entry, inference: bool) -> None:
    """ESPnet's streaming (inference) loader needs a value on every line."""
    if inference and not entry.value:
        raise SpeechPromptDataError(f"{entry.where}: utterance {entry.key} has no value")


CHECKS = {"text_int": _check_units, "sound": _check_sound}


class LabelCheck:
    """Every label is non-empty and made of tokens of the label list."""

    def __init__(self, labels: Sequence[str], source: str):
        self.known, self.source, self.size = set(labels), source, len(labels)

    def __call__(self, entry: Entry) -> None:
        tokens = entry.value.split()
        if not tokens:
            raise SpeechPromptDataError(
                f"{entry.where}: utterance {entry.key} has an empty label; give it its label "
                "tokens or remove it from every file of the set"
            )
        unknown = [token for token in tokens if token not in self.known]
        if unknown:
            raise SpeechPromptDataError(
                f"{entry.where}: utterance {entry.key}: label {unknown[0]!r} is not in the label "
                f"list {self.source} ({self.size} labels); rebuild the list from every set you "
                "train and validate on (stage 4) or add the token to your fixed list"
            )


def _same_utterances(first: list[Entry], other: list[Entry], in_order: bool) -> None:
    """The two files of a set hold the same utterances (``in_order``: in the same order)."""
    if in_order:
        for a, b in zip(first, other, strict=False):
            if a.key != b.key:
                raise SpeechPromptDataError(
                    f"{b.where}: utterance {b.key}, but {a.where} is {a.key}: give the data "
                    "files the same utterances in the same order (e.g. LC_ALL=C sort)"
                )
    for entries, others in ((first, other), (other, first)):
        keys = {e.key for e in others}
        missing = next((e for e in entries if e.key not in keys), None)
        if missing is not None:
            raise SpeechPromptDataError(
                f"{missing.where}: utterance {missing.key} is not in {others[0].path}: give "
                "every data file of a set the same utterances"
            )


def check_data_files(
    files: Sequence[DataFile],
    option: str,
    *,
    label_check: LabelCheck | None = None,
    inference: bool = False,
) -> list[str]:
    """Check the data of one set (``--<option> path,name,type`` each); returns its utterance
    ids. Inference needs the same utterances in the same order in every file (ESPnet reads
    them line by line), training the same set of utterances."""
    names, sets = set(), []
    for triple in files:
        if len(triple) != 3:
            raise SpeechPromptDataError(
                f"--{option} {','.join(triple)}: give path,name,type (e.g. dump/test/units,"
                "units,text_int)"
            )
        path, name, kind = triple
        if name in names:
            raise SpeechPromptDataError(f"--{option}: the data name {name!r} is given twice")
        names.add(name)
        what = f"{WHAT.get(kind, 'data file')} of --{option}"
        entries = read_entries(path, what, blank_ok=False)
        if not entries:
            raise SpeechPromptDataError(f"{path}: the {what} holds no utterances")
        check = CHECKS.get(kind, _check_value)
        for entry in entries:
            check(entry, inference)
            if name == "label" and label_check is not None:
                label_check(entry)
        sets.append(entries)
    for entries in sets[1:]:
        _same_utterances(sets[0], entries, in_order=inference)
    return [e.key for e in sets[0]] if sets else []


def check_training_data(args: argparse.Namespace) -> None:
    """Check the training and validation data before anything is built or trained."""
    labels = read_list(args.label_list)
    if not labels:
        raise SpeechPromptDataError(f"the label list {args.label_list} is empty")
    source = args.label_list if isinstance(args.label_list, str) else "of the config"
    check = LabelCheck(labels, source)
    for option in ("train_data_path_and_name_and_type", "valid_data_path_and_name_and_type"):
        files = getattr(args, option, None) or []
        if files:
            check_data_files(files, option, label_check=check)


def check_inference_data(files: Sequence[DataFile], key_file: str | None = None) -> None:
    """Check the data of an inference run (``--data_path_and_name_and_type``, ``--key_file``)."""
    check_data_files(files, "data_path_and_name_and_type", inference=True)
    if key_file is not None and not os.path.isfile(key_file):
        raise SpeechPromptDataError(f"--key_file {key_file}: no such file")
