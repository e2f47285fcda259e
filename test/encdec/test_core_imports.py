"""The encoder-decoder core is pure torch: no espnet2 or fairseq import."""

from __future__ import annotations

import subprocess
import sys

CORE = [
    "espnet2_speechprompt.speechlm.encoder",
    "espnet2_speechprompt.speechlm.beam_search",
    "espnet2_speechprompt.checkpoints.backbones",
    "espnet2_speechprompt.checkpoints.encdec",
    "espnet2_speechprompt.prompt.prompted_encdec",
    "espnet2_speechprompt.prompt.builders",
]


def test_encdec_core_imports_no_espnet2_or_fairseq():
    code = (
        "import sys, importlib\n"
        f"for m in {CORE!r}: importlib.import_module(m)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('espnet2', 'espnet', "
        "'fairseq')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
