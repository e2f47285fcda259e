"""The mini speech generation recipe end to end (./run.sh --debug: every step for real on a
tenth of the synthesized corpus, short training), in a copy of the recipe under tmp: both
backbones pre-trained here (the denoiser read back through the Unit mBART loader), every
prompted run beside the same backbone without prompts in RESULTS.md with its bars, and the
listening page's audio files. (The bars themselves are the full run's: README.md.)"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from espnet2_speechprompt.checkpoints.encdec import load_unit_mbart
from test.factories.recipes import copy_recipe

RECIPE = Path(__file__).resolve().parents[2] / "egs2" / "mini_speechgen" / "speechprompt1"


@pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (tools/install_system_deps.sh; the corpus is synthesized)",
)
def test_mini_speechgen_debug_run(tmp_path: Path):
    recipe = copy_recipe(RECIPE, tmp_path / "speechprompt1")
    env = dict(os.environ, MINI_SPEECHGEN=str(tmp_path / "corpus"))
    out = subprocess.run(
        ["bash", "run.sh", "--debug", "--python", sys.executable],
        cwd=recipe, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    exp = recipe / "exp" / "debug"
    _, vocab = load_unit_mbart(exp / "unit_mbart" / "checkpoint.pt")
    assert vocab.symbols[-1] == "<mask>"
    results = (exp / "RESULTS.md").read_text()
    rows = [
        line for line in results.splitlines() if re.match(r"\|(inpainting|continuation)\|", line)
    ]
    assert len(rows) == 4 and all(row.count("|-|") <= 5 for row in rows), results
    bars = [line for line in results.splitlines() if line.startswith("- ") and ": " in line]
    assert len([b for b in bars if b.endswith(("yes", "NO"))]) == 5, results
    page = (exp / "listen" / "index.html").read_text()
    players = re.findall(r'src="([^"]+\.wav)"', page)
    assert len(players) == 2 * 4 * 4  # 2 tasks x 4 utterances x 4 kinds
    assert all((exp / "listen" / name).is_file() for name in players)
    # (a model trained for 3 epochs may generate nothing: its wav is a header alone)
    heard = [name for name in players if not name.endswith("_generated.wav")]
    assert all((exp / "listen" / name).stat().st_size > 1000 for name in heard)
    print(out.stdout.splitlines()[-1])  # the recipe's time
