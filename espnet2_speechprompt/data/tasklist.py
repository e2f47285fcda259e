"""The task list of multi-task data dirs, and task groups.

A corpus module run with a task name writes ``<data_dir>/<task>_<split>/`` (Kaldi style, through
:func:`.cli.write_sets`) and one line ``<task> <family> <language>`` in ``<data_dir>/tasks``
(sorted by task; a task written again replaces its line). ``family`` is the kind of task
(``scr``: spoken command recognition, ``lid``: language identification, ``er``: emotion
recognition, ``sd``: sarcasm detection, ...), ``language`` an ISO 639 code (``mul`` for
several). A task group conf is YAML with ``train_tasks`` and ``test_tasks`` (disjoint lists)::

    python -m espnet2_speechprompt.data.tasklist --group conf/group1.yaml   # prints the tasks
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..fileio import atomic_write_text, directory_lock
from .cli import run, write_sets
from .kaldi import DataPrepError, Utterance

TASK_LIST = "tasks"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")


@dataclass(frozen=True)
class TaskEntry:
    task: str
    family: str
    language: str


def check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise DataPrepError(
            f"bad {what} {value!r}: use lower-case letters, digits and '_' (e.g. ar_sc)"
        )
    return value


def read_task_list(path: str | Path) -> dict[str, TaskEntry]:
    """``{task: entry}`` from a task list file; a malformed line is a one-line error."""
    entries: dict[str, TaskEntry] = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 3:
                raise DataPrepError(
                    f"{path}:{number}: expected '<task> <family> <language>', got {line.strip()!r}"
                )
            task, family, language = fields
            if task in entries:
                raise DataPrepError(f"{path}:{number}: task {task} is listed twice")
            entries[task] = TaskEntry(task, family, language)
    return entries


def update_task_list(data_dir: str | Path, entry: TaskEntry) -> Path:
    """Add or replace ``entry`` in ``<data_dir>/tasks`` (atomic; one writer at a time)."""
    for value, what in ((entry.task, "task name"), (entry.family, "task family")):
        check_name(value, what)
    check_name(entry.language, "language code")
    path = Path(data_dir) / TASK_LIST
    path.parent.mkdir(parents=True, exist_ok=True)
    with directory_lock(path, "task list"):
        entries = read_task_list(path) if path.exists() else {}
        entries[entry.task] = entry
        lines = [f"{e.task} {e.family} {e.language}\n" for _, e in sorted(entries.items())]
        atomic_write_text(path, "".join(lines))
    return path


def add_task_argument(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--task", default=default, help="task name: writes <data_dir>/<task>_<split>/"
    )


def write_task(
    sets: Mapping[str, Sequence[Utterance]],
    args: argparse.Namespace,
    family: str,
    language: str,
    class_of: Callable[[Utterance], str] = lambda u: u.label or "",
) -> dict[str, int]:
    """Write ``<task>_<split>`` for every split in ``sets`` and the task's line in the list."""
    task = check_name(args.task, "task name")
    named = {f"{task}_{split}": utts for split, utts in sets.items()}
    counts = write_sets(named, args, f"{task}_train", class_of=class_of)
    update_task_list(args.data_dir, TaskEntry(task, family, language))
    return counts


def read_task_group(path: str | Path) -> tuple[list[str], list[str]]:
    """``(train_tasks, test_tasks)`` of a task group conf; both non-empty and disjoint."""
    try:
        with open(path, encoding="utf-8") as f:
            conf = yaml.safe_load(f)
    except OSError as exc:
        raise DataPrepError(f"{path}: cannot read the task group conf ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise DataPrepError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(conf, dict):
        raise DataPrepError(f"{path}: expected a mapping with train_tasks and test_tasks")
    lists = []
    for key in ("train_tasks", "test_tasks"):
        tasks = conf.get(key)
        if not isinstance(tasks, list) or not tasks:
            raise DataPrepError(f"{path}: {key} must be a non-empty list of task names")
        lists.append([check_name(t, f"task name in {path} {key}") for t in tasks])
    both = sorted(set(lists[0]) & set(lists[1]))
    if both:
        raise DataPrepError(f"{path}: task(s) {', '.join(both)} are both train and test tasks")
    return lists[0], lists[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog=f"python -m {__name__}", description="Print the tasks of a task group conf."
    )
    parser.add_argument("--group", required=True, help="task group conf (YAML)")
    parser.add_argument("--which", choices=("all", "train", "test"), default="all")
    args = parser.parse_args(argv)
    train, test = read_task_group(args.group)
    chosen = {"all": train + test, "train": train, "test": test}[args.which]
    print(" ".join(chosen))


if __name__ == "__main__":
    run(main)
