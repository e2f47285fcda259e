"""Readable units: every function of the package fits in 60 lines, every file in 600."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "espnet2_speechprompt"
FILES = sorted(ROOT.rglob("*.py"))


def long_functions(path: Path, limit: int = 60) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > limit
    ]


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_functions_and_files_stay_short(path):
    assert not long_functions(path), f"{path}: split {long_functions(path)}"
    lines = path.read_text(encoding="utf-8").count("\n")
    assert lines < 600, f"{path}: {lines} lines; split the module"


def test_the_check_sees_a_long_function(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n" + "    x = 1\n" * 60)
    assert long_functions(module) == ["f (61 lines)"]
