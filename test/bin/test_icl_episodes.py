"""``icl_episodes``: warm-up episodes from task data directories, the same for the same seed, in
the layout ``icl_train`` reads; bad input is one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from espnet2_speechprompt.api.preprocess import UnitEncoder
from espnet2_speechprompt.bin import icl_episodes
from espnet2_speechprompt.prompt.icl import EpisodeConfig
from espnet2_speechprompt.vocab import BOS, Dictionary
from test.factories.icl_data import TASKS, episode_args, write_task_dir

CONFIG = EpisodeConfig(num_demos=2, unit_length=6)
FILES = ("train/episode", "train/target", "valid/episode", "valid/target", "episodes.yaml")


def rows(path: Path) -> dict[str, list[int]]:
    return {
        line.split()[0]: [int(t) for t in line.split()[1:]]
        for line in path.read_text().splitlines()
    }


def test_same_seed_same_files_other_seed_other_episodes(icl_task_data, tmp_path):
    first = icl_task_data / "episodes"
    icl_episodes.main(episode_args(icl_task_data, tmp_path / "again"))
    for name in FILES:
        assert (tmp_path / "again" / name).read_bytes() == (first / name).read_bytes(), name
    icl_episodes.main(episode_args(icl_task_data, tmp_path / "other", "--seed", "5"))
    assert (tmp_path / "other" / "train/episode").read_bytes() != (
        first / "train/episode"
    ).read_bytes()
    icl_episodes.main(episode_args(icl_task_data, tmp_path / "other"))  # replaced whole
    assert (tmp_path / "other" / "train/episode").read_bytes() == (
        first / "train/episode"
    ).read_bytes()


def test_episodes_have_the_layout_the_model_reads(icl_task_data):
    folder = icl_task_data / "episodes"
    vocab = Dictionary.load(icl_task_data / "lm" / "dict.txt")
    unit_tokens = set(UnitEncoder(vocab).table.tolist())
    record = yaml.safe_load((folder / "episodes.yaml").read_text())
    assert record["episode_conf"] == {"num_demos": 2, "unit_length": 6}
    assert record["episode_length"] == CONFIG.length == 23
    assert [t["task"] for t in record["train"]["tasks"]] == [
        str(icl_task_data / task / "train") for task in TASKS
    ]
    for split, count in (("train", 40), ("valid", 12)):
        episodes, targets = rows(folder / split / "episode"), rows(folder / split / "target")
        assert len(episodes) == count and episodes.keys() == targets.keys()
        for uid, tokens in episodes.items():
            assert len(tokens) == CONFIG.length and tokens[-1] == BOS
            seps = [i for i, t in enumerate(tokens) if t == BOS]
            assert seps == [6, 14, 22]  # x_1 <sep> y_1 x_2 <sep> y_2 x_q <sep>
            demo_labels = {tokens[6 + 1], tokens[14 + 1]}
            assert demo_labels <= unit_tokens and targets[uid][0] in demo_labels


def test_the_label_mapping_is_drawn_per_episode(icl_task_data):
    """The same task label gets different tokens in different episodes."""
    episodes = rows(icl_task_data / "episodes" / "train" / "target")
    assert len({tokens[0] for tokens in episodes.values()}) > 5


def _error(capsys, cmd: list[str]) -> str:
    with pytest.raises(SystemExit) as stop:
        icl_episodes.main(cmd)
    assert stop.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    return err


def _replace(cmd: list[str], option: str, *values: str) -> list[str]:
    i = cmd.index(option)
    end = next((j for j in range(i + 1, len(cmd)) if cmd[j].startswith("--")), len(cmd))
    return cmd[: i + 1] + list(values) + cmd[end:]


def test_bad_input_is_one_line(icl_task_data, tmp_path, capsys):
    cmd = episode_args(icl_task_data, tmp_path / "out")
    train = str(icl_task_data / "digits" / "train")
    err = _error(capsys, _replace(cmd, "--train_tasks", str(tmp_path / "nowhere")))
    assert "nowhere: no such data directory" in err
    err = _error(capsys, _replace(cmd, "--train_tasks", train, train))
    assert "is given twice" in err
    err = _error(capsys, _replace(cmd, "--num_demos", "30"))
    assert "24 examples, fewer than the 31" in err
    err = _error(capsys, _replace(cmd, "--num_episodes", "0"))
    assert "--num_episodes must be at least 1" in err
    pool = [(f"u{i}", [1, 2] if i != 4 else [99], "ab"[i % 2]) for i in range(6)]
    bad = write_task_dir(tmp_path / "bad", pool)
    err = _error(capsys, _replace(cmd, "--train_tasks", str(bad)))
    assert "bad: utterance u4: unit 99 is outside" in err
    (bad / "label").write_text("u1 a\n")
    assert "utterance u0 has no label" in _error(capsys, _replace(cmd, "--train_tasks", str(bad)))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("keep me")
    err = _error(capsys, _replace(cmd, "--output_dir", str(tmp_path / "busy")))
    assert "holds files but no episodes.yaml" in err
    assert (tmp_path / "busy" / "notes.txt").read_text() == "keep me"
    assert not (tmp_path / "out").exists()


def test_command_line_error_has_no_traceback(icl_task_data, tmp_path):
    cmd = episode_args(icl_task_data, tmp_path / "out")
    cmd[cmd.index("--dictionary") + 1] = str(tmp_path / "dict.txt")
    out = subprocess.run(
        [sys.executable, "-m", "espnet2_speechprompt.bin.icl_episodes", *cmd],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "no such dictionary file" in out.stderr
