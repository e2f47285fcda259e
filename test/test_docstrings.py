"""Usage examples in module docstrings keep their shell line continuations: a ``\\`` at a
line's end in a plain (not raw) docstring joins the two lines, so ``--help`` and pydoc would
print the command as one run-on line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "espnet2_speechprompt"
FILES = sorted(ROOT.rglob("*.py"))


def joined_continuations(source: str) -> bool:
    """Whether the module docstring of ``source`` has a backslash-newline that Python drops."""
    tree = ast.parse(source)
    if not tree.body or not isinstance(tree.body[0], ast.Expr):
        return False
    node = tree.body[0].value
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        return False
    literal = ast.get_source_segment(source, node) or ""
    if literal[:1] in "rR":
        return False
    body = literal.replace("\\\\", "")  # an escaped backslash prints as one: fine
    return "\\\n" in body


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_usage_examples_keep_their_line_continuations(path):
    assert not joined_continuations(path.read_text(encoding="utf-8")), (
        f"{path}: a line of the module docstring ends in a single backslash, which Python "
        'drops (the lines print joined); write it as \\\\ or make the docstring raw (r""")'
    )


def test_the_check_sees_a_joined_line():
    assert joined_continuations('"""Run:\n    cmd --a 1 \\\n        --b 2\n"""\n')
    assert not joined_continuations('"""Run:\n    cmd --a 1 \\\\\n        --b 2\n"""\n')
    assert not joined_continuations('r"""Run:\n    cmd --a 1 \\\n        --b 2\n"""\n')
