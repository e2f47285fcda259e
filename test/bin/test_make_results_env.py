"""RESULTS.md's environment, as ESPnet's: date, versions, and the git commit of the code."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from espnet2_speechprompt.bin.make_results import environment, git_commit

ROOT = Path(__file__).resolve().parents[2]


def head() -> str:
    if shutil.which("git") is None:
        return ""
    out = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return out.stdout.strip()


@pytest.mark.skipif(not head(), reason="git, or a git checkout of the project, is missing")
def test_environment_records_the_git_commit():
    lines = environment()
    for prefix in ("- date: `", "- python version: `", "- espnet version: `espnet ",
                   "- pytorch version: `pytorch ", "  - Commit date: `"):  # fmt: skip
        assert any(line.startswith(prefix) for line in lines), prefix
    assert any(line.startswith(f"- Git hash: `{head()}") for line in lines), lines


def test_outside_a_checkout_the_commit_is_unknown(tmp_path):
    assert git_commit(tmp_path) is None


def test_speechgen_scores_are_columns_of_the_results_table(tmp_path):
    from espnet2_speechprompt.bin.make_results import expand_metrics, metric_table

    decode = tmp_path / "exp" / "decode" / "test"
    decode.mkdir(parents=True)
    (decode / "speechgen.json").write_text(
        '{"num_utterances": 4, "unit_bleu": 41.5, "auto_bleu_2": 12.5, "span_unit_error_rate": 0.25, '
        '"perplexity": 3.5}'
    )
    columns = expand_metrics(["speechgen"])
    assert columns[:3] == ["unit_bleu", "span_unit_error_rate", "copy_span_unit_error_rate"]
    table = metric_table(tmp_path / "exp", tmp_path / "dump", ["decode/test"], columns, {})
    assert "|decode/test|4|41.50|25.00|-|12.50|-|3.50|" in table  # perplexity as it is
    assert "- in %: span_unit_error_rate, copy_span_unit_error_rate; decoding `score`" in table
