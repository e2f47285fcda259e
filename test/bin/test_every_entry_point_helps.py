"""Every entry point (``python -m espnet2_speechprompt.bin.<name>``) answers ``--help`` with its
usage and exits 0."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BIN = Path(__file__).resolve().parents[2] / "espnet2_speechprompt" / "bin"
HELPERS = {"__init__", "cli_errors", "units_cli"}  # shared by the entry points, not run
ENTRY_POINTS = sorted(p.stem for p in BIN.glob("*.py") if p.stem not in HELPERS)


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_help(name, capsys):
    if name in ("speechprompt_train", "icl_train", "speechprompt_inference", "train_baseline"):
        pytest.importorskip(
            "espnet2", reason="espnet (the task layer's dependency) is not installed"
        )
    module = importlib.import_module(f"espnet2_speechprompt.bin.{name}")
    with pytest.raises(SystemExit) as exited:
        module.main(["--help"])
    assert exited.value.code == 0
    assert "usage:" in capsys.readouterr().out
