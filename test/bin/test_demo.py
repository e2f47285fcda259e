"""The README's main job runs end to end and reports an honest accuracy."""

from __future__ import annotations

import re

from espnet2_speechprompt.bin import demo


def test_demo_end_to_end(tmp_path, capsys):
    demo.main(["--outdir", str(tmp_path)])
    assert (tmp_path / "unit_lm" / "checkpoint_best.pt").is_file()
    assert (tmp_path / "unit_lm" / "dict.txt").is_file()
    for kind in ("random", "frequency", "learnable"):
        assert (tmp_path / f"prompts_{kind}.safetensors").stat().st_size < 10_000
    table = (tmp_path / "RESULTS.md").read_text()
    tuned = [float(m) for m in re.findall(r"^\| \w+ \| [\d.]+ \| ([\d.]+) \|", table, re.M)]
    assert len(tuned) == 3 and min(tuned) >= 0.95, table
    assert "results:" in capsys.readouterr().out
