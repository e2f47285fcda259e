"""The README's main job runs end to end and reports an honest accuracy: every verbalizer's
tuned accuracy at least 0.5 above its untuned one and above chance (0.25; measured 0.96-0.99
from 0.06-0.22, as in test/prompt/test_learning.py, which runs the same seeds)."""

from __future__ import annotations

import re

from espnet2_speechprompt.bin import demo

CHANCE = 0.25  # 4 classes
MIN_GAIN = 0.5


def test_demo_end_to_end(tmp_path, capsys):
    demo.main(["--outdir", str(tmp_path)])
    assert (tmp_path / "unit_lm" / "checkpoint_best.pt").is_file()
    assert (tmp_path / "unit_lm" / "dict.txt").is_file()
    for kind in ("random", "frequency", "learnable"):
        assert (tmp_path / f"prompts_{kind}.safetensors").stat().st_size < 10_000
    table = (tmp_path / "RESULTS.md").read_text()
    rows = re.findall(r"^\| \w+ \| ([\d.]+) \| ([\d.]+) \|", table, re.M)
    assert len(rows) == 3, table
    for untuned, tuned in ((float(a), float(b)) for a, b in rows):
        assert tuned >= untuned + MIN_GAIN and tuned >= CHANCE + MIN_GAIN, table
    assert "results:" in capsys.readouterr().out
    print(table)
