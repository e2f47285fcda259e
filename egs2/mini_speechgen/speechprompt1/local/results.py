#!/usr/bin/env python3
"""exp/RESULTS.md of the mini speech generation recipe: every prompted run beside the same
frozen backbone without prompts (and, for inpainting, copying the span's neighbours), the
environment, and whether the recipe's bars hold:

- inpainting: prompted span unit error rate <= 0.8 x that of the backbone without prompts on
  the same masked inputs, and below copying the neighbours;
- continuation: unit BLEU above the backbone without prompts; sampling repeats less than greedy
  decoding (Auto-BLEU, bigrams).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from espnet2_speechprompt.bin.make_results import environment
from espnet2_speechprompt.fileio import atomic_write_text

MODEL = "speechprompt_model_valid.acc.best"
# (task, backbone, decoding, prompted run's decode dir, unprompted dir) under exp/
RUNS = [
    ("inpainting", "denoiser (Unit mBART layout)", "greedy",
     f"speechprompt_train_inpainting/decode_inpainting_{MODEL}", "unprompted/inpainting"),
    ("continuation", "unit LM (GSLM layout)", "greedy",
     f"speechprompt_train_continuation_lm/decode_greedy_{MODEL}", "unprompted/continuation_lm_greedy"),
    ("continuation", "unit LM (GSLM layout)", "sampling, T 0.7",
     f"speechprompt_train_continuation_lm/decode_sample_{MODEL}", "unprompted/continuation_lm_sample"),
    ("continuation", "denoiser (Unit mBART layout)", "greedy",
     f"speechprompt_train_continuation/decode_greedy_{MODEL}", "unprompted/continuation_denoiser_greedy"),
]  # fmt: skip
COLUMNS = ("unit_bleu", "span_unit_error_rate", "auto_bleu_2", "self_bleu", "perplexity")


def scores(exp: Path, decode: str) -> dict:
    path = exp / decode / "test" / "speechgen.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def cell(value) -> str:
    return "-" if value is None else f"{value:.2f}" if value > 1 else f"{value:.3f}"


def bars(rows: list[tuple]) -> list[str]:
    """One line per bar: the figures and yes/NO."""
    lines = []
    for task, backbone, decoding, prompted, bare in rows:
        if task == "inpainting" and "span_unit_error_rate" in prompted:
            ours, theirs = prompted["span_unit_error_rate"], bare.get("span_unit_error_rate")
            copy = prompted.get("copy_span_unit_error_rate")
            ok = theirs is not None and ours <= 0.8 * theirs and copy is not None and ours < copy
            lines.append(f"- inpainting, {backbone}: span unit error rate {ours:.3f} vs "
                         f"{cell(theirs)} without prompts (≤ 0.8×: {cell(theirs and 0.8 * theirs)}) "
                         f"and {cell(copy)} copying the neighbours: {'yes' if ok else 'NO'}")  # fmt: skip
        elif task == "continuation" and "unit_bleu" in prompted:
            ours, theirs = prompted["unit_bleu"], bare.get("unit_bleu")
            ok = theirs is not None and ours > theirs
            lines.append(f"- continuation, {backbone}, {decoding}: unit BLEU {ours:.2f} vs "
                         f"{cell(theirs)} without prompts: {'yes' if ok else 'NO'}")  # fmt: skip
    greedy = [
        r[3] for r in rows if r[0] == "continuation" and "unit LM" in r[1] and r[2] == "greedy"
    ]
    sampled = [
        r[3] for r in rows if r[0] == "continuation" and "unit LM" in r[1] and r[2] != "greedy"
    ]
    if greedy and sampled and "auto_bleu_2" in greedy[0] and "auto_bleu_2" in sampled[0]:
        g, s = greedy[0]["auto_bleu_2"], sampled[0]["auto_bleu_2"]
        lines.append(f"- continuation, unit LM: Auto-BLEU sampling {s:.2f} < greedy {g:.2f}: "
                     f"{'yes' if s < g else 'NO'}")  # fmt: skip
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expdir", default="exp")
    parser.add_argument("--output", default="exp/RESULTS.md")
    args = parser.parse_args(argv)
    exp = Path(args.expdir)
    rows = [(t, b, d, scores(exp, p), scores(exp, u)) for t, b, d, p, u in RUNS]
    head = "|task|backbone|decoding|" + "".join(f"{c}|{c} (no prompts)|" for c in COLUMNS)
    lines = ["# mini_speechgen: results", "", "## Environments", *environment(), "",
             "## Test set (60 sentences, voices seen in training)", "", head + "copy_span_unit_error_rate|",
             "|---" * (4 + 2 * len(COLUMNS)) + "|"]  # fmt: skip
    for task, backbone, decoding, prompted, bare in rows:
        values = "".join(f"{cell(prompted.get(c))}|{cell(bare.get(c))}|" for c in COLUMNS)
        copy = cell(prompted.get("copy_span_unit_error_rate"))
        lines.append(f"|{task}|{backbone}|{decoding}|{values}{copy}|")
    lines += ["", "## Bars", "", *bars(rows), "",
              f"Listen: `{exp}/listen/index.html` (unit codebook + Griffin-Lim)."]  # fmt: skip
    atomic_write_text(args.output, "\n".join(lines) + "\n")
    print("\n".join(lines[-len(bars(rows)) - 2 :]))


if __name__ == "__main__":
    main()
