"""Unit-LM pre-training documents: utterances of one task, some said again (exact repeats) and
some sharing a label (near repeats); key-value documents (pairs, then the pairs again with keys
of the same label); seeded; the entry point writes one units file."""

from __future__ import annotations

from collections import Counter

import pytest

from espnet2_speechprompt.bin import unit_documents as unit_documents_cli
from espnet2_speechprompt.data.documents import key_value_documents, unit_documents
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


# task k: labels p (units 100, 101 / 102, 103 / ...: two units an utterance) and q (200...)
PAIRED = [("k", [([100 + 2 * i, 101 + 2 * i], "p") for i in range(5)]
          + [([200 + 2 * i, 201 + 2 * i], "q") for i in range(5)])]  # fmt: skip


def halves(units: list[int]) -> tuple[list[list[int]], list[list[int]]]:
    """A 2-pair document with 1-unit values as its two halves of (key, key, value) triples."""
    triples = [units[i : i + 3] for i in range(0, len(units), 3)]
    return triples[:2], triples[2:]


@pytest.mark.parametrize("near", [0.0, 1.0])
def test_key_value_documents_repeat_the_pairs_in_another_order(near):
    documents = key_value_documents(PAIRED, pairs=2, near=near, value_length=1, rounds=4, seed=0)
    assert len(documents) == 10  # 4 rounds * 10 utterances / (2 * 2 pairs)
    orders = set()
    for _, units in documents:
        first, second = halves(units)
        assert {k[0] // 100 for k in first} == {1, 2}  # the keys: one of each label
        assert all(k[1] == k[0] + 1 for k in first + second)  # whole utterances
        assert sorted(t[2] for t in second) == sorted(t[2] for t in first)  # same values
        for again in second:
            before = next(t for t in first if t[2] == again[2] and t[0] // 100 == again[0] // 100)
            assert (again[:2] == before[:2]) == (near == 0.0)  # the same key or another
        orders.add(tuple(t[0] // 100 for t in second))
    assert len(orders) == 2  # the second half comes in either order


def test_key_value_documents_are_seeded_and_checked():
    first = key_value_documents(PAIRED, 2, 0.5, 2, 1, seed=0)
    assert first == key_value_documents(PAIRED, 2, 0.5, 2, 1, seed=0)
    assert first != key_value_documents(PAIRED, 2, 0.5, 2, 1, seed=1)
    with pytest.raises(SpeechPromptError, match="pairs >= 2"):
        key_value_documents(PAIRED, 1, 0.5, 2, 1)
    with pytest.raises(SpeechPromptError, match="0 <= near <= 1"):
        key_value_documents(PAIRED, 2, 1.5, 2, 1)
    with pytest.raises(SpeechPromptError, match="task b: key-value documents need 2 labels"):
        key_value_documents(TASKS, 2, 0.5, 1, 1)


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
    unit_documents_cli.main(["--task_dirs", dirs[0], "--kind", "key_value", "--pairs", "2",
                             "--value_length", "1", "--output", str(out)])  # fmt: skip
    assert all(len(line.split()) == 1 + 8 for line in out.read_text().splitlines())  # 2 x 4
    assert "7 documents" in capsys.readouterr().out  # 3 rounds * 10 utterances / 4
    (tmp_path / "a_train" / "label").write_text("a_train-0 x\n")
    with pytest.raises(SystemExit) as stop:
        unit_documents_cli.main(["--task_dirs", dirs[0], "--output", str(out)])
    assert stop.value.code != 0
    error = capsys.readouterr().err.strip().splitlines()
    assert error == [f"error: {dirs[0]}/label: no label for utterance a_train-1"]
