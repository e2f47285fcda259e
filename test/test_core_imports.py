"""The core is pure torch: importing it pulls in neither espnet2 nor fairseq."""

from __future__ import annotations

import subprocess
import sys

CORE = [
    "espnet2_speechprompt.prompt.icl",
    "espnet2_speechprompt.api.icl",
    "espnet2_speechprompt.speechlm.transformer_lm",
    "espnet2_speechprompt.checkpoints.unit_lm",
    "espnet2_speechprompt.prompt.prompted_lm",
    "espnet2_speechprompt.verbalizer.fixed",
    "espnet2_speechprompt.verbalizer.learnable",
    "espnet2_speechprompt.units.extractor",
    "espnet2_speechprompt.vocoder.loading",
]


def test_core_imports_no_espnet2_or_fairseq():
    code = (
        "import sys, importlib\n"
        f"for m in {CORE!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('espnet2', 'espnet', 'fairseq'))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
