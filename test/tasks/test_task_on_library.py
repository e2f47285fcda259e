"""The ESPnet task is a layer over the library: the same option defaults and registries, the same
model (its state under the ``prompted.`` keys of model files), a training config the library
reads as it is, and the stricter check of the command-line inference."""

from __future__ import annotations

import copy
import difflib
from pathlib import Path

import pytest
import torch
import yaml

pytest.importorskip("espnet2", reason="espnet (the task layer's dependency) is not installed")

from espnet2_speechprompt.api import build_speechprompt, read_train_config  # noqa: E402
from espnet2_speechprompt.api.builder import trainable_state  # noqa: E402
from espnet2_speechprompt.api.config import (  # noqa: E402
    OPTION_DEFAULTS,
    TRAINER_KEYS_NEAR_OPTIONS,
)
from espnet2_speechprompt.bin.speechprompt_inference import inference  # noqa: E402
from espnet2_speechprompt.checkpoints.backbones import BACKBONES  # noqa: E402
from espnet2_speechprompt.errors import SpeechPromptError  # noqa: E402
from espnet2_speechprompt.tasks.speechprompt import (  # noqa: E402
    SpeechPromptTask,
    backbone_choices,
    verbalizer_choices,
)
from espnet2_speechprompt.verbalizer.builders import VERBALIZERS  # noqa: E402
from test.factories.task_data import data_args  # noqa: E402

PARSER_DEFAULTS = vars(SpeechPromptTask.get_parser().parse_args([]))


def test_the_task_options_default_as_the_library_reads_them():
    assert {key: PARSER_DEFAULTS[key] for key in OPTION_DEFAULTS} == OPTION_DEFAULTS
    assert backbone_choices.classes == BACKBONES and verbalizer_choices.classes == VERBALIZERS


def test_no_task_option_looks_like_a_typo_to_the_library():
    """Every option in a config.yaml that training writes is read, or passed over, by
    ``api.read_train_config``: none is taken for a misspelt option of the library."""
    others = [key for key in PARSER_DEFAULTS if key not in OPTION_DEFAULTS]
    near = {key for key in others if difflib.get_close_matches(key, list(OPTION_DEFAULTS), n=1)}
    assert near == set(TRAINER_KEYS_NEAR_OPTIONS)


def _args(data: Path, out: Path) -> list[str]:
    return [
        "--output_dir", str(out),
        "--backbone_conf", f"checkpoint={data / 'lm' / 'checkpoint_best.pt'}",
        "--label_list", str(data / "label_list"),
        "--verbalizer", "learnable", "--verbalizer_conf", "mode=frequency",
        "--prompt_conf", "{input_length: 2, deep_length: 2, dropout: 0.0}",
    ] + data_args(data)  # fmt: skip


def test_the_task_model_is_the_library_model(unit_task_data):
    """Same seed, same options: the ESPnet model's state is the library's trainable state, and
    both resolve the options alike."""
    args = SpeechPromptTask.get_parser().parse_args(_args(unit_task_data, Path("unused")))
    options = copy.deepcopy(vars(args))
    torch.manual_seed(0)
    espnet_state = SpeechPromptTask.build_model(args).state_dict()
    torch.manual_seed(0)
    library_state = trainable_state(build_speechprompt(options).prompted)
    assert list(espnet_state) == list(library_state)
    for key, value in espnet_state.items():
        torch.testing.assert_close(value, library_state[key])
    for key in OPTION_DEFAULTS:
        assert options[key] == getattr(args, key), key


def test_command_line_inference_refuses_any_key_that_is_no_task_option(unit_task_data, tmp_path):
    SpeechPromptTask.main(cmd=_args(unit_task_data, tmp_path / "dry") + ["--dry_run", "true"])
    config = yaml.safe_load((tmp_path / "dry" / "config.yaml").read_text())
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({**config, "my_note": "x"}))
    assert read_train_config(path).my_note == "x"  # the library reads what it uses
    units = [(str(unit_task_data / "valid" / "units"), "units", "text_int")]
    match = r"config.yaml: unknown key 'my_note': not an option of speechprompt_train; remove it"
    with pytest.raises(SpeechPromptError, match=match):
        inference(str(tmp_path / "out"), units, str(path), None)
