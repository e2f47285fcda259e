"""Outputs appear complete or not at all; temporary names never collide; busy dirs refuse."""

from __future__ import annotations

import multiprocessing
import os

import pytest
import torch

from espnet2_speechprompt.bin.cli_errors import exit_on_user_error
from espnet2_speechprompt.errors import SpeechPromptError
from espnet2_speechprompt.fileio import (
    atomic_directory,
    atomic_path,
    atomic_write_text,
    directory_lock,
    temp_sibling,
)


def test_temporary_names_are_unique_per_call_and_hidden(tmp_path):
    names = {temp_sibling(tmp_path / "wav.scp") for _ in range(100)}
    assert len(names) == 100
    assert all(n.parent == tmp_path and n.name.startswith(".wav.scp.") for n in names)
    assert all(f".{os.getpid()}." in n.name for n in names)


def _child_name(path, queue):
    queue.put(temp_sibling(path).name)


def test_temporary_names_differ_between_processes(tmp_path):
    queue = multiprocessing.get_context("fork").Queue()
    procs = [
        multiprocessing.get_context("fork").Process(target=_child_name, args=(tmp_path, queue))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert len({queue.get(), queue.get()}) == 2


def test_failed_write_keeps_the_earlier_file_and_leaves_no_temporary(tmp_path):
    out = tmp_path / "result.json"
    atomic_write_text(out, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(out) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert out.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


def test_directory_is_replaced_only_when_complete(tmp_path):
    out = tmp_path / "decode" / "test"
    with atomic_directory(out) as tmp:
        (tmp / "text").write_text("a yes\n")
    assert (out / "text").read_text() == "a yes\n"
    with pytest.raises(RuntimeError):
        with atomic_directory(out) as tmp:
            (tmp / "text").write_text("a n")
            raise RuntimeError("killed")
    assert (out / "text").read_text() == "a yes\n"
    with atomic_directory(out) as tmp:
        (tmp / "score").write_text("a -1.0\n")
    assert sorted(p.name for p in out.iterdir()) == ["score"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["test"]


def test_a_directory_in_use_refuses_a_second_writer(tmp_path):
    out = tmp_path / "decode"
    with directory_lock(out):
        with pytest.raises(SpeechPromptError, match=r"decode is in use by another process"):
            with directory_lock(out):
                pass
    with directory_lock(out):  # released
        pass


def test_user_error_is_one_line_and_exit_1(capsys):
    with pytest.raises(SystemExit) as exc:
        with exit_on_user_error():
            raise SpeechPromptError("data/test/label line 3: not UTF-8; re-encode the file")
    assert exc.value.code == 1
    assert capsys.readouterr().err == (
        "error: data/test/label line 3: not UTF-8; re-encode the file\n"
    )


class _Dataset(torch.utils.data.Dataset):
    def __len__(self):
        return 1

    def __getitem__(self, i):
        raise SpeechPromptError("utterance u1: unit 'x' is not an integer")


def test_error_from_a_dataloader_worker_prints_the_original_line(capsys):
    loader = torch.utils.data.DataLoader(_Dataset(), num_workers=1)
    with pytest.raises(SystemExit):
        with exit_on_user_error():
            next(iter(loader))
    assert capsys.readouterr().err == "error: utterance u1: unit 'x' is not an integer\n"


def test_other_errors_are_not_hidden_whatever_their_message():
    with pytest.raises(ValueError, match="SpeechPrompt"):
        with exit_on_user_error():
            raise ValueError("SpeechPrompt internal invariant broken")
