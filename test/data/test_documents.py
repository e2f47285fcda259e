"""Unit-LM pre-training documents: utterances of one task, some said again (exact repeats) and
some sharing a label (near repeats), or paired documents (each utterance followed by its
label's value in the document), seeded; the entry point writes one units file."""

from __future__ import annotations

from collections import Counter

import pytest

from espnet2_speechprompt.bin import unit_documents as unit_documents_cli
from espnet2_speechprompt.data.documents import paired_documents, unit_documents
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


# task p: labels x (utterances 1 2 3 ... 5 units long) and y; values are middles of utterances
PAIRED = [("p", [([u] * 5, "x") for u in range(1, 5)] + [([u] * 5, "y") for u in range(10, 14)])]


def test_paired_documents_follow_each_utterance_with_its_labels_value():
    documents = paired_documents(
        PAIRED, per_document=5, labels=2, recordings=1, value_units=2, rounds=5
    )
    assert len(documents) == 8  # 8 utterances x 5 slots / 5 pairs
    for _, units in documents:
        pairs = [(units[i : i + 5], units[i + 5 : i + 7]) for i in range(0, len(units), 7)]
        assert len(pairs) == 5 and all(len(set(key)) == 1 for key, _ in pairs)
        values = {}
        for key, value in pairs:  # one value per label, the same each time it comes back
            assert len(value) == 2 and len(set(value)) == 1
            assert values.setdefault(key[0] // 10, value) == value
        assert len(values) == 2  # both labels, each at least once
        assert len({key[0] for key, _ in pairs}) == 2  # one recording per label: exact repeats
    for _, units in paired_documents(PAIRED, 8, 1, 3, 2, 5, seed=2):
        assert len({units[i] for i in range(0, len(units), 7)}) <= 3  # of 3 recordings
    assert documents == paired_documents(PAIRED, 5, 2, 1, 2, 5, seed=0)
    assert documents != paired_documents(PAIRED, 5, 2, 1, 2, 5, seed=1)
    with pytest.raises(SpeechPromptError, match="value_units and rounds >= 1"):
        paired_documents(PAIRED, 5, 2, 1, 0, 5)


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
    unit_documents_cli.main(["--task_dirs", *dirs, "--per_document", "3", "--labels", "2",
                             "--value_units", "1", "--output", str(out)])  # fmt: skip
    rows = [line.split() for line in out.read_text().splitlines()]
    assert all(len(row) == 1 + 3 * 2 for row in rows)  # 3 pairs of a unit and its value
    capsys.readouterr()
    (tmp_path / "a_train" / "label").write_text("a_train-0 x\n")
    with pytest.raises(SystemExit) as stop:
        unit_documents_cli.main(["--task_dirs", dirs[0], "--output", str(out)])
    assert stop.value.code != 0
    error = capsys.readouterr().err.strip().splitlines()
    assert error == [f"error: {dirs[0]}/label: no label for utterance a_train-1"]
