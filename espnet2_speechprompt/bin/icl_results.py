"""The paper-style RESULTS.md table of in-context learning runs (``icl_inference``'s
``result.json`` files): accuracy with and without warm-up, the baselines and the guessing rate,
mean ± std over the seeds, in percent.

    python -m espnet2_speechprompt.bin.icl_results --output RESULTS.md exp/icl/decode/*/result.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Sequence
from pathlib import Path

from ..errors import SpeechPromptError
from ..fileio import atomic_write_text
from .cli_errors import exit_on_user_error
from .make_results import environment, timing_table

# (column title, method, number) in table order
COLUMNS = (
    ("with warm-up", "with_warmup", "accuracy"),
    ("random", "random", "expected_accuracy"),
    ("without warm-up", "without_warmup", "accuracy"),
    ("without warm-up (free)", "without_warmup", "free_accuracy"),
    ("SVC", "svc", "accuracy"),
    ("prompt tuning", "prompt_tuning", "accuracy"),
    ("guessing w/ warm-up", "with_warmup", "guessing_rate"),
    ("guessing w/o warm-up", "without_warmup", "guessing_rate"),
)


def cell(result: dict, method: str, name: str) -> str:
    """``mean ± std`` in percent, or ``-`` where the run has no such number."""
    number = result["summary"].get(method, {}).get(name)
    if number is None:
        return "-"
    return f"{100 * number['mean']:.1f} ± {100 * number['std']:.1f}"


def mean_row(results: Sequence[dict], split: str) -> str | None:
    """The mean over the tasks of ``split`` of each column's task means (``None``: no task)."""
    chosen = [r for r in results if r["split"] == split]
    if not chosen:
        return None
    cells = []
    for _, method, name in COLUMNS:
        values = [r["summary"][method][name]["mean"] for r in chosen if method in r["summary"]]
        cells.append(f"{100 * statistics.fmean(values):.1f}" if values else "-")
    return f"| mean ({len(chosen)} tasks) | {split} | " + " | ".join(cells) + " |"


def results_markdown(results: Sequence[dict], title: str = "In-context learning") -> str:
    """RESULTS.md: one row per task (seen tasks first), a mean row per split, then how each
    column was computed."""
    results = sorted(results, key=lambda r: (r["split"] != "seen", r["task"]))
    seeds = sorted({tuple(r["seeds"]) for r in results})
    header = "| task | split | " + " | ".join(title for title, _, _ in COLUMNS) + " |"
    lines = [f"# {title}", "", "Accuracy and guessing rate (%), mean ± std over seeds.", ""]
    lines += [header, "|" + "---|" * (len(COLUMNS) + 2)]
    for r in results:
        cells = " | ".join(cell(r, method, name) for _, method, name in COLUMNS)
        lines.append(f"| {r['task']} | {r['split']} | {cells} |")
    lines += [row for split in ("seen", "unseen") if (row := mean_row(results, split))]
    lines += ["", f"Seeds: {', '.join(' '.join(map(str, s)) for s in seeds)}."]
    shapes = sorted({(r["num_demos"], r["unit_length"]) for r in results})
    lines += [f"Demonstrations per episode, units per utterance: {shapes}.", ""]
    methods = {}
    for r in results:
        methods.update(r["methods"])
    lines += [f"- {method}: {text}" for method, text in methods.items()]
    lines.append("- the random column is the expected accuracy")
    lines += [
        "- free: the unconstrained prediction (argmax over every unit token) is the query's "
        "label token; guessing rate: share of unconstrained predictions that are one of the "
        "episode's demonstration label tokens",
    ]
    return "\n".join(lines) + "\n"


def read_result(path: str | Path) -> dict:
    """One ``result.json``; a missing or unreadable file is one error naming it."""
    try:
        result = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpeechPromptError(f"{path}: not a readable result.json ({exc})") from None
    missing = [key for key in ("task", "split", "seeds", "summary") if key not in result]
    if missing:
        raise SpeechPromptError(
            f"{path}: not an in-context learning result (no {', '.join(missing)}); give the "
            "result.json files icl_inference writes"
        )
    return result


def main(cmd: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="result.json files of icl_inference")
    parser.add_argument("--output", required=True, help="the RESULTS.md to write")
    parser.add_argument("--title", default="In-context learning")
    parser.add_argument(
        "--environment", action="store_true", help="add the environment (versions, git commit)"
    )
    parser.add_argument("--timings", nargs="*", default=[], help="files of 'stage seconds' lines")
    args = parser.parse_args(cmd)
    with exit_on_user_error():
        text = results_markdown([read_result(p) for p in args.results], args.title)
        extra = timing_table(args.timings)
        if args.environment:
            extra = ["", "## Environments", "", *environment(), *extra]
        text += "\n".join(extra + [""]) if extra else ""
    atomic_write_text(args.output, text)
    print(text, end="")


if __name__ == "__main__":
    main()
