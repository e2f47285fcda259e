"""The mini recipe end to end (local/run_debug.sh: every stage for real on a small synthesized
corpus), in a copy of the recipe under tmp; RESULTS.md's test accuracy must meet the bar."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from test.factories.recipes import copy_recipe

RECIPE = Path(__file__).resolve().parents[2] / "egs2" / "mini_speechcommands" / "speechprompt1"
# 4 keywords (chance 0.25), 48 test utterances of unseen voices; measured 0.833-0.896 over runs
# on 2 cores (GRU baseline 0.9375). The bar, twice chance, is far below: k-means and training
# come out differently on other CPUs.
TEST_ACCURACY_BAR = 0.5
DECODE = "decode_speechprompt_model_valid.acc.best"  # conf/decode.yaml, valid.acc.best.pth


def table_row(markdown: str, name: str) -> list[str]:
    rows = [line.strip("|").split("|") for line in markdown.splitlines() if line.startswith("|")]
    return next(row for row in rows if row[0] == name)


@pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (tools/install_system_deps.sh; the corpus is synthesized)",
)
def test_mini_recipe_debug_run_meets_the_bar(tmp_path: Path):
    recipe = copy_recipe(RECIPE, tmp_path / "speechprompt1")
    env = dict(os.environ, PYTHON=sys.executable)
    out = subprocess.run(
        ["bash", "local/run_debug.sh", "--nj", "2", "--python", sys.executable],
        cwd=recipe, env=env, capture_output=True, text=True, timeout=2400,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    expdir = recipe / "exp" / "debug"
    exp = expdir / "speechprompt_train_debug"  # conf/train_debug.yaml
    results = (exp / "RESULTS.md").read_text()
    snt, acc = table_row(results, f"{DECODE}/test")[1:3]
    assert int(snt) == 48
    assert float(acc) / 100 >= TEST_ACCURACY_BAR, results
    assert re.search(r"trainable parameters: [\d,]+", results)
    assert re.search(
        r"frozen backbone precision: `auto` \(on this machine's CPU: (bfloat16|float32)\)", results
    )
    assert "bf16 matrix flags: " in results
    assert "- Git hash: `" in results
    # the frequency run beside it, and the GRU baseline trained beside the prompts
    freq_valid, freq_test = table_row(results, "`speechprompt_train_debug_frequency`")[2:4]
    assert 0 <= float(freq_test) <= 100 and 0 <= float(freq_valid) <= 100
    assert (expdir / "speechprompt_train_debug_frequency" / "RESULTS.md").is_file()
    assert "baseline: bidirectional GRU" in results
    gru_test = table_row(results.split("baseline: bidirectional GRU")[1], "test")[1]
    assert float(gru_test) / 100 >= TEST_ACCURACY_BAR, results
    for image in ("loss.png", "acc.png", "confusion_test.png", "verbalizer.png"):
        assert (exp / "images" / image).is_file(), image
    with zipfile.ZipFile(exp / "speechprompt_train_debug_valid.acc.best.zip") as packed:
        meta = yaml.safe_load(packed.read("meta.yaml"))
    assert meta["task_name"] == tmp_path.name  # the corpus: the recipe's parent directory
    for stage in range(1, 11):
        logs = expdir / "logs" if stage <= 5 else exp / "logs"
        assert (logs / f"stage{stage}.cmd").is_file(), stage
