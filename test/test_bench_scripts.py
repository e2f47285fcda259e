"""Every benchmark script starts as ``make bench`` runs it (``python bench/<name>.py`` from the
repository root) and completes a small run. The figures are not checked: they are ratios for
the README, measured on an idle machine, never timed tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMALL_RUNS = {
    "bench_prompt_lm.py": ["--quick"],
    "bench_encdec.py": ["--quick"],
    "bench_multitask.py": ["--quick"],
    "bench_precision.py": ["--quick"],
    "bench_units.py": ["--seconds", "0.5", "--batch", "1", "--clusters", "8", "--repeat", "1"],
    "bench_vocoder.py": ["--seconds", "0.2", "--batch", "1", "--repeat", "1"],
}


def test_every_benchmark_has_a_small_run():
    assert sorted(SMALL_RUNS) == sorted(p.name for p in (ROOT / "bench").glob("bench_*.py"))


@pytest.mark.parametrize("script", sorted(SMALL_RUNS))
def test_benchmark_runs_from_the_repository_root(script):
    out = subprocess.run(
        [sys.executable, f"bench/{script}", *SMALL_RUNS[script]],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip()
