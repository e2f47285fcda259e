"""The in-context learning command: per-seed predictions, result.json, RESULTS.md, and one
line for a bad task dir, a test label the pool lacks, or a pool smaller than n."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from espnet2_speechprompt.bin import icl_inference, icl_results
from espnet2_speechprompt.kaldi_text import read_table
from test.factories.icl import ICL_EPISODE, tiny_icl, toy_examples, unit_encoder, write_task_dir

SEED_KEYS = {
    "with_warmup": {"accuracy", "free_accuracy", "guessing_rate"},
    "without_warmup": {"accuracy", "free_accuracy", "guessing_rate"},
    "random": {"expected_accuracy", "accuracy"},
    "svc": {"accuracy"},
    "prompt_tuning": {"accuracy", "train_examples"},
}


@pytest.fixture
def tiny_model(monkeypatch):
    """``load_model`` gives a tiny warmed-up model instead of reading files."""
    loaded = SimpleNamespace(prompted=tiny_icl(), episode=ICL_EPISODE, unit_encoder=unit_encoder())
    monkeypatch.setattr(icl_inference, "load_model", lambda config, model_file, device: loaded)
    return loaded


def task_args(tmp_path, name: str, labels: str, pool_per_label: int = 4) -> list[str]:
    pool = write_task_dir(
        tmp_path / f"{name}_pool", toy_examples(f"{name}p", labels, pool_per_label)
    )
    test = write_task_dir(tmp_path / f"{name}_test", toy_examples(f"{name}t", labels, 2))
    return ["--task", name, "--pool", str(pool), "--test", str(test)]


def run(tmp_path, *extra: str) -> None:
    icl_inference.main(
        ["--speechprompt_train_config", "config.yaml", "--speechprompt_model_file", "m.pth",
         "--output_dir", str(tmp_path / "out"), "--seeds", "0", "1", "--prompt_tuning_steps", "2",
         *extra]
    )  # fmt: skip


def test_the_command_writes_predictions_results_and_the_table(tmp_path, tiny_model):
    run(tmp_path, *task_args(tmp_path, "cmd", "abc"), *task_args(tmp_path, "lid", "abcd"),
        "--seen_tasks", "cmd")  # fmt: skip
    out = tmp_path / "out"
    for name, split in (("cmd", "seen"), ("lid", "unseen")):
        result = json.loads((out / name / "result.json").read_text())
        assert (result["task"], result["split"], result["seeds"]) == (name, split, [0, 1])
        assert (result["num_demos"], result["unit_length"]) == (3, 5)
        assert set(result["methods"]) == set(SEED_KEYS)
        labels = read_table(tmp_path / f"{name}_test" / "label")
        for seed in ("0", "1"):
            numbers = result["per_seed"][seed]
            assert {k: set(v) for k, v in numbers.items()} == SEED_KEYS
            text = read_table(out / name / f"seed{seed}" / "text")
            free = read_table(out / name / f"seed{seed}" / "free")
            assert list(text) == list(free) == list(labels)
            correct = sum(text[u] == labels[u] for u in labels) / len(labels)
            assert numbers["with_warmup"]["accuracy"] == pytest.approx(correct)
            guesses = sum(value.split()[0] != "-" for value in free.values()) / len(free)
            assert numbers["with_warmup"]["guessing_rate"] == pytest.approx(guesses)
        assert result["summary"]["svc"]["accuracy"]["std"] >= 0.0
    table = (out / "RESULTS.md").read_text()
    assert "| cmd | seen |" in table and "| lid | unseen |" in table
    assert "| mean (1 tasks) | unseen |" in table and " ± " in table


def one_line_error(capsys, tmp_path, *args: str) -> str:
    with pytest.raises(SystemExit) as exited:
        run(tmp_path, *args)
    assert exited.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    return err


def test_an_unknown_task_dir_is_one_line(tmp_path, capsys, tiny_model):
    args = task_args(tmp_path, "cmd", "abc")
    args[args.index("--test") + 1] = str(tmp_path / "missing")
    err = one_line_error(capsys, tmp_path, *args)
    assert "task cmd:" in err and "missing is not a task data dir (no such directory)" in err


def test_a_test_label_missing_from_the_pool_is_one_line(tmp_path, capsys, tiny_model):
    write_task_dir(tmp_path / "pool", toy_examples("p", "ab", 4))
    write_task_dir(tmp_path / "test", toy_examples("t", "abc", 1))
    err = one_line_error(capsys, tmp_path, "--pool", str(tmp_path / "pool"), "--test",
                         str(tmp_path / "test"))  # fmt: skip
    assert "task test: test utterance t-c0 has label 'c'" in err


def test_a_pool_smaller_than_n_is_one_line(tmp_path, capsys, tiny_model):
    err = one_line_error(capsys, tmp_path, *task_args(tmp_path, "cmd", "ab", pool_per_label=1))
    assert "task cmd: 2 examples, fewer than the 3 demonstrations" in err
    assert not (tmp_path / "out" / "cmd").exists()


def test_the_results_table_needs_result_files(tmp_path, capsys):
    bad = tmp_path / "result.json"
    bad.write_text("{}")
    with pytest.raises(SystemExit):
        icl_results.main([str(bad), "--output", str(tmp_path / "RESULTS.md")])
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "not an in-context learning result" in err
