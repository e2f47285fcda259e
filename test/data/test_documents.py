"""Unit-LM pre-training documents: utterances of one task, some said again, seeded; every
utterance dealt ``rounds`` times; the entry point writes one units file."""

from __future__ import annotations

from collections import Counter

import pytest

from espnet2_speechprompt.bin import unit_documents as unit_documents_cli
from espnet2_speechprompt.data.documents import unit_documents
from espnet2_speechprompt.errors import SpeechPromptError

TASKS = [
    ("a", [[1, 2], [3], [4, 5, 6], [7], [8, 9]]),
    ("b", [[10 + i] for i in range(7)]),
]


def test_without_repeats_every_utterance_is_used_rounds_times_in_its_tasks_documents():
    documents = unit_documents(TASKS, per_document=3, distinct=3, rounds=2, seed=0)
    counts = Counter(unit for _, units in documents for unit in units)
    every_unit = [u for _, utterances in TASKS for utterance in utterances for u in utterance]
    assert counts == Counter({unit: 2 for unit in every_unit})
    for name, units in documents:
        assert all((unit >= 10) == name.startswith("b-") for unit in units)


def test_repeats_fill_the_slots_with_the_documents_own_utterances():
    documents = unit_documents(TASKS[1:], per_document=5, distinct=2, rounds=1, seed=0)
    assert [len(units) for _, units in documents] == [5, 5, 5, 2]  # 7 utterances: 2+2+2+1
    for _, units in documents[:3]:
        assert len(set(units)) == 2  # both distinct utterances, each at least once
    assert len(set(documents[3][1])) == 1
    dealt = Counter(unit for _, units in documents for unit in set(units))
    assert dealt == Counter({10 + i: 1 for i in range(7)})


def test_the_seed_decides_the_order_and_utterances_stay_whole():
    first = unit_documents(TASKS, 4, 2, 1, seed=0)
    assert first == unit_documents(TASKS, 4, 2, 1, seed=0)
    assert first != unit_documents(TASKS, 4, 2, 1, seed=1)
    for _, units in first:
        triples = [tuple(units[i : i + 3]) for i in range(len(units))]
        assert units.count(5) == triples.count((4, 5, 6))  # an utterance is never split


def test_bad_settings_and_empty_tasks_are_one_line():
    with pytest.raises(SpeechPromptError, match="1 <= distinct <= per_document"):
        unit_documents(TASKS, 2, 3, 1)
    with pytest.raises(SpeechPromptError, match="task c: no utterances"):
        unit_documents([("c", [])], 2, 1, 1)


def test_the_entry_point_writes_a_units_file(tmp_path, capsys):
    dirs = []
    for task, utterances in TASKS:
        directory = tmp_path / f"{task}_train"
        directory.mkdir()
        lines = [f"{task}-{i} " + " ".join(map(str, u)) + "\n" for i, u in enumerate(utterances)]
        (directory / "units").write_text("".join(lines))
        dirs.append(str(directory))
    out = tmp_path / "lm" / "units"
    args = ["--task_dirs", *dirs, "--per_document", "4", "--distinct", "4", "--rounds", "3"]
    unit_documents_cli.main([*args, "--output", str(out)])
    rows = [line.split() for line in out.read_text().splitlines()]
    assert [row[0] for row in rows][:2] == ["a_train-r0-0", "a_train-r0-1"]
    assert sum(len(row) - 1 for row in rows) == 3 * (9 + 7)
    assert "documents" in capsys.readouterr().out
    (tmp_path / "a_train" / "units").write_text("a-0 1 x\n")
    with pytest.raises(SystemExit) as stop:
        unit_documents_cli.main(["--task_dirs", dirs[0], "--output", str(out)])
    assert stop.value.code != 0
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "a_train/units" in error[0]
