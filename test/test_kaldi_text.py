"""The shared reader of Kaldi-style ``utt value`` files splits lines as ESPnet does (any run of
spaces or tabs after the id), and its bad-input errors are one line naming file and line."""

from __future__ import annotations

import pytest

from espnet2_speechprompt.errors import SpeechPromptError
from espnet2_speechprompt.kaldi_text import (
    parse_ints,
    read_entries,
    read_lines,
    read_table,
    split_entry,
)


def test_split_entry_matches_espnet_on_spaces_and_tabs(tmp_path):
    lines = ["u1 yes\n", "u2\tno\n", "u3 \t activate  lights\tkitchen \n", "u4\n", "u5\t\n"]
    assert [split_entry(line) for line in lines] == [
        ("u1", "yes"), ("u2", "no"), ("u3", "activate  lights\tkitchen"), ("u4", ""), ("u5", ""),
    ]  # fmt: skip
    read_text = pytest.importorskip("espnet2.fileio.read_text", reason="espnet is not installed")
    path = tmp_path / "text"
    path.write_text("".join(lines))
    assert read_table(path) == read_text.read_2columns_text(path)


def test_read_table_and_entries(tmp_path):
    path = tmp_path / "label"
    path.write_text("u1\tyes\n\nu2  no up\n")
    assert read_table(path) == {"u1": "yes", "u2": "no up"}
    entries = read_entries(path)
    assert [(e.number, e.key) for e in entries] == [(1, "u1"), (3, "u2")]
    assert entries[1].where == f"{path}:3"
    with pytest.raises(SpeechPromptError, match=r"label:2: blank line in the label file"):
        read_entries(path, "label file", blank_ok=False)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"u1 yes\nu2 caf\xe9\n", r"label:2: the label file is not UTF-8 text \(byte 0xe9 at column 7\)"),
        (b"u1 yes\nu1 no\n", r"label:2: utterance u1 appears twice$"),
    ],
)  # fmt: skip
def test_bad_files_are_one_line_naming_file_and_line(tmp_path, content, message):
    path = tmp_path / "label"
    path.write_bytes(content)
    with pytest.raises(SpeechPromptError, match=message) as err:
        read_entries(path, "label file")
    assert "\n" not in str(err.value)
    with pytest.raises(SpeechPromptError, match=r"nowhere: no such label file"):
        read_entries(tmp_path / "nowhere", "label file")


def test_parse_ints_and_read_lines(tmp_path):
    path = tmp_path / "units"
    path.write_text("u1\t3 1\t4\nu2 5 x 9\n")
    good, bad = read_entries(path)
    assert parse_ints(good) == [3, 1, 4]
    with pytest.raises(SpeechPromptError, match=r"units:2: utterance u2: 'x' is not an integer"):
        parse_ints(bad)
    (tmp_path / "list").write_text("yes\n\n no \n")
    assert read_lines(tmp_path / "list") == ["yes", "no"]
