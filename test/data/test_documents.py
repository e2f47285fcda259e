"""Unit-LM pre-training documents: utterances of one task, some said again (exact repeats) and
some sharing a label (near repeats), seeded; the entry point writes one units file."""

from __future__ import annotations

from collections import Counter

import pytest

from espnet2_speechprompt.bin import unit_documents as unit_documents_cli
from espnet2_speechprompt.data.documents import unit_documents
from espnet2_speechprompt.errors import SpeechPromptError

# task a: labels x (units 1..6) and y (10..13), one unit per utterance; task b: label z
TASKS = [
    ("a", [([u], "x") for u in range(1, 7)] + [([u], "y") for u in range(10, 14)]),
    ("b", [([u], "z") for u in range(20, 25)]),
]


def test_documents_hold_distinct_utterances_of_their_labels_then_exact_repeats():
    documents = unit_documents(TASKS, per_document=6, distinct=3, labels=1, rounds=3, seed=0)
    assert [name for name, _ in documents] == ["a-0", "a-1", "a-2", "a-3", "a-4", "b-0", "b-1"]
    for _, units in documents:  # 10 and 5 utterances, 3 slots each: 30 / 6 and 15 / 6 documents
        assert len(units) == 6 and len(set(units)) == 3  # 3 distinct, each at least once
        assert len({unit // 10 for unit in units}) == 1  # one label (x: 1-6, y: 10-13)


def test_with_as_many_labels_as_utterances_and_no_repeats_documents_are_concatenations():
    documents = unit_documents(TASKS, per_document=2, distinct=2, labels=2, rounds=2, seed=0)
    for _, units in documents:
        assert len(units) == 2 and len(set(units)) == 2
    counts = Counter(unit for _, units in documents for unit in units)
    assert sum(counts.values()) == 2 * 15  # (10 * 2 + 5 * 2) / 2 documents of two


def test_the_seed_decides_the_documents():
    first = unit_documents(TASKS, 4, 2, 2, 1, seed=0)
    assert first == unit_documents(TASKS, 4, 2, 2, 1, seed=0)
    assert first != unit_documents(TASKS, 4, 2, 2, 1, seed=1)


def test_a_task_with_fewer_utterances_than_distinct_repeats_what_it_has():
    documents = unit_documents([("c", [([7, 8], "x")])], 3, 2, 1, 3, seed=0)
    assert documents == [("c-0", [7, 8, 7, 8])]


def test_bad_settings_and_empty_tasks_are_one_line():
    with pytest.raises(SpeechPromptError, match="1 <= distinct <= per_document"):
        unit_documents(TASKS, 2, 3, 1, 1)
    with pytest.raises(SpeechPromptError, match="task c: no utterances"):
        unit_documents([("c", [])], 2, 1, 1, 1)


def _task_dir(root, name, utterances):
    directory = root / name
    directory.mkdir()
    units = [f"{name}-{i} " + " ".join(map(str, u)) + "\n" for i, (u, _) in enumerate(utterances)]
    labels = [f"{name}-{i} {label}\n" for i, (_, label) in enumerate(utterances)]
    (directory / "units").write_text("".join(units))
    (directory / "label").write_text("".join(labels))
    return str(directory)


def test_the_entry_point_writes_a_units_file(tmp_path, capsys):
    dirs = [_task_dir(tmp_path, f"{task}_train", utterances) for task, utterances in TASKS]
    out = tmp_path / "lm" / "units"
    unit_documents_cli.main(["--task_dirs", *dirs, "--output", str(out)])
    rows = [line.split() for line in out.read_text().splitlines()]
    assert [row[0] for row in rows][:2] == ["a_train-0", "a_train-1"]
    assert all(len(row) == 1 + 6 for row in rows)  # defaults: 6 utterances of one unit
    assert "7 documents" in capsys.readouterr().out
    (tmp_path / "a_train" / "label").write_text("a_train-0 x\n")
    with pytest.raises(SystemExit) as stop:
        unit_documents_cli.main(["--task_dirs", dirs[0], "--output", str(out)])
    assert stop.value.code != 0
    error = capsys.readouterr().err.strip().splitlines()
    assert error == [f"error: {dirs[0]}/label: no label for utterance a_train-1"]
