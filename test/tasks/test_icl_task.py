"""SpeechPromptICLTask: the warm-up through ESPnet's trainer on tiny episodes (written by
``icl_episodes``): prompt-only checkpoints, resume, the experiment-dir check, one-line data
errors. Nothing here depends on how training came out."""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

pytest.importorskip("espnet2", reason="espnet (the task layer's dependency) is not installed")

from espnet2_speechprompt.api.icl_builder import (  # noqa: E402
    ICL_OPTION_DEFAULTS,
    ICL_TRAINER_KEYS_NEAR_OPTIONS,
)
from espnet2_speechprompt.bin import icl_train  # noqa: E402
from espnet2_speechprompt.tasks.icl import (  # noqa: E402
    SEPARATOR_SEARCH_EPISODES,
    SpeechPromptICLTask,
    first_training_episodes,
)
from test.factories.icl_data import task_args  # noqa: E402

PROMPT_KEYS = {"prompted.prompts.input_prompt", "prompted.prompts.separator"}


def _args(data: Path, out: Path, *extra: str) -> list[str]:
    return task_args(data, data / "episodes", out) + list(extra)


@pytest.fixture(scope="module")
def trained(icl_task_data, tmp_path_factory) -> Path:
    """Two epochs of warm-up in one run."""
    out = tmp_path_factory.mktemp("icl_exp") / "straight"
    SpeechPromptICLTask.main(cmd=_args(icl_task_data, out, "--max_epoch", "2"))
    return out


def test_help_and_data_names(capsys):
    with pytest.raises(SystemExit) as stop:
        icl_train.main(["--help"])
    assert stop.value.code == 0
    help_text = capsys.readouterr().out
    assert "--episode_conf" in help_text and "--prompt_conf" in help_text
    assert "--unit_extractor_conf" in help_text and "--backbone" in help_text
    assert SpeechPromptICLTask.required_data_names() == ("episode", "target")
    assert SpeechPromptICLTask.optional_data_names() == ()


def test_defaults_are_the_papers(tmp_path):
    config = tmp_path / "config.yaml"
    with open(config, "w") as f:
        SpeechPromptICLTask.print_config(file=f)
    loaded = yaml.safe_load(config.read_text())
    assert loaded["episode_conf"] == {"num_demos": 4, "unit_length": 50}
    prompt = loaded["prompt_conf"]
    assert (prompt["input_length"], prompt["deep_length"], prompt["separator"]) == (5, 0, True)


def test_no_task_option_looks_like_a_typo_to_the_library():
    """``read_icl_config`` passes over every trainer option of a config.yaml."""
    defaults = vars(SpeechPromptICLTask.get_parser().parse_args([]))
    options = list(ICL_OPTION_DEFAULTS)
    near = {
        key
        for key in defaults
        if key not in options and difflib.get_close_matches(key, options, n=1)
    }
    assert near == set(ICL_TRAINER_KEYS_NEAR_OPTIONS)


def test_warm_up_writes_prompt_only_checkpoints(trained):
    for name in ("1epoch.pth", "2epoch.pth", "checkpoint.pth", "valid.acc.best.pth"):
        assert (trained / name).is_file(), name
    state = torch.load(trained / "valid.acc.best.pth", weights_only=True)
    assert set(state) == PROMPT_KEYS and state["prompted.prompts.input_prompt"].shape == (5, 16)
    config = yaml.safe_load((trained / "config.yaml").read_text())
    assert config["episode_conf"] == {"num_demos": 2, "unit_length": 6}
    assert config["prompt_conf"]["deep_length"] == 0  # resolved and written back


def test_build_model_trains_prompts_only(icl_task_data):
    args = SpeechPromptICLTask.get_parser().parse_args(_args(icl_task_data, Path("unused")))
    model = SpeechPromptICLTask.build_model(args)
    trainable = {k for k, p in model.named_parameters() if p.requires_grad}
    assert trainable == PROMPT_KEYS
    assert set(model.state_dict()) == PROMPT_KEYS


def test_separator_init_unit_starts_from_the_best_unit_embedding(icl_task_data):
    args = SpeechPromptICLTask.get_parser().parse_args(
        _args(icl_task_data, Path("unused"), "--prompt_conf", "separator_init=unit")
    )
    prompted = SpeechPromptICLTask.build_model(args).prompted
    episodes, targets = first_training_episodes(args, SEPARATOR_SEARCH_EPISODES)
    assert len(episodes) == len(targets) == 40  # every training episode of the tiny data
    units = prompted.label_tokens
    embeds = prompted.backbone.embed(units[None])[0].detach().float()
    separator = prompted.prompts.separator.detach()
    token = prompted.separator_from_units(episodes, targets)
    torch.testing.assert_close(separator, embeds[units.tolist().index(token)])
    random_start = SpeechPromptICLTask.build_model(
        SpeechPromptICLTask.get_parser().parse_args(_args(icl_task_data, Path("unused")))
    ).prompted.prompts.separator.detach()
    assert not any(torch.equal(random_start, e) for e in embeds)


def test_resumed_warm_up_gives_the_same_prompts(icl_task_data, trained, tmp_path):
    out = tmp_path / "resumed"
    SpeechPromptICLTask.main(cmd=_args(icl_task_data, out, "--max_epoch", "1"))
    assert not (out / "2epoch.pth").exists()
    first_epoch = (out / "1epoch.pth").stat().st_mtime_ns
    SpeechPromptICLTask.main(cmd=_args(icl_task_data, out, "--max_epoch", "2", "--resume", "true"))
    assert (out / "1epoch.pth").stat().st_mtime_ns == first_epoch  # epoch 1 was not run again
    a = torch.load(trained / "2epoch.pth", weights_only=True)
    b = torch.load(out / "2epoch.pth", weights_only=True)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=0)


def _error(capsys, cmd: list[str]) -> str:
    with pytest.raises(SystemExit) as stop:
        icl_train.main(cmd)
    assert stop.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ")
    return err


def test_bad_runs_are_one_line(icl_task_data, trained, tmp_path, capsys):
    other = _args(icl_task_data, trained, "--episode_conf", "num_demos=3")
    assert "episode_conf.num_demos: 2 -> 3" in _error(capsys, other)  # another experiment
    wrong = _args(icl_task_data, tmp_path / "a", "--episode_conf", "num_demos=3")
    err = _error(capsys, wrong)
    assert "episode train000000: 23 tokens, but episode_conf (num_demos 3, unit_length 6)" in err
    err = _error(capsys, _args(icl_task_data, tmp_path / "b", "--backbone", "unit_mbart"))
    assert "in-context learning needs a decoder-only unit LM (gslm)" in err
    cmd = _args(icl_task_data, tmp_path / "c")
    target = cmd.index(f"{icl_task_data / 'episodes' / 'train' / 'target'},target,text_int")
    del cmd[target - 1 : target + 1]
    assert "--train_data_path_and_name_and_type: give 'target' as text_int" in _error(capsys, cmd)


def test_training_error_has_no_traceback(icl_task_data, tmp_path):
    cmd = _args(icl_task_data, tmp_path / "out", "--episode_conf", "unit_length=7")
    out = subprocess.run(
        [sys.executable, "-m", "espnet2_speechprompt.bin.icl_train", *cmd],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "but episode_conf (num_demos 2, unit_length 7) makes 26" in out.stderr


def test_warmed_up_prompts_evaluate_through_icl_inference(icl_task_data, trained, tmp_path):
    from espnet2_speechprompt.bin import icl_inference

    out = tmp_path / "icl"
    icl_inference.main(
        ["--speechprompt_train_config", str(trained / "config.yaml"),
         "--speechprompt_model_file", str(trained / "valid.acc.best.pth"),
         "--task", "digits", "--pool", str(icl_task_data / "digits" / "train"),
         "--test", str(icl_task_data / "digits" / "valid"), "--seeds", "0", "1",
         "--prompt_tuning_steps", "2", "--output_dir", str(out)]
    )  # fmt: skip
    result = yaml.safe_load((out / "digits" / "result.json").read_text())
    assert result["num_demos"] == 2 and result["seeds"] == [0, 1]
    assert 0.0 <= result["summary"]["with_warmup"]["accuracy"]["mean"] <= 1.0
    assert "| digits | unseen |" in (out / "RESULTS.md").read_text()
