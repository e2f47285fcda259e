r"""Derive speech continuation or inpainting pairs from a units file (SpeechGen).

    python -m espnet2_speechprompt.bin.speechgen_pairs --units dump/units/train/units \
        --task continuation --ratio 0.5 --out_dir dump/speechgen/continuation/train
    python -m espnet2_speechprompt.bin.speechgen_pairs --units dump/units/train/units \
        --task inpainting --span_seconds 0.5 --units_per_second 25 --out_dir ...

Writes ``source`` (units; -1 for each masked unit), ``target`` (units) and, for
inpainting with the whole utterance as target, ``spans`` (``<utt> <start> <end> ...``, unit
positions of the original) in
Kaldi-style text; the directory appears whole or not at all. ``--units_per_second``: the rate of
the units (50 for HuBERT frames; lower after deduplication, e.g. the recipe's measured rate).
An utterance too short for its pair is one error naming it, or skipped with ``--skip_short``.
"""

from __future__ import annotations

import argparse
import logging

from ..data.speechgen import (
    TARGETS,
    InpaintingConfig,
    PairError,
    check_ratio,
    continuation_pair,
    inpainting_pair,
)
from ..fileio import atomic_directory
from ..units.datadir import format_units, read_units
from .cli_errors import exit_on_user_error


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )  # fmt: skip
    parser.add_argument("--units", required=True, help="Kaldi-style units file")
    parser.add_argument("--task", required=True, choices=("continuation", "inpainting"))
    parser.add_argument("--out_dir", required=True)
    parser.add_argument("--ratio", type=float, default=0.5, help="continuation: prefix share")
    parser.add_argument("--span_seconds", type=float, default=0.5)
    parser.add_argument("--num_spans", type=int, default=1)
    parser.add_argument("--units_per_second", type=float, default=50.0)
    parser.add_argument("--target", choices=TARGETS, default="whole",
                        help="inpainting: the whole utterance, or the spans' units")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip_short", action="store_true",
                        help="skip utterances too short for their pair (logged) instead of failing")  # fmt: skip
    return parser


def make_pairs(args: argparse.Namespace) -> dict[str, list[str]]:
    """Lines of ``source``, ``target`` (and ``spans``) for every utterance that gives a pair."""
    if args.task == "continuation":
        check_ratio(args.ratio)
    else:
        config = InpaintingConfig(args.span_seconds, args.num_spans, args.units_per_second,
                                  args.target, args.seed)  # fmt: skip
    lines: dict[str, list[str]] = {"source": [], "target": [], "spans": []}
    skipped = 0
    for utt, units in read_units(args.units):
        try:
            if args.task == "continuation":
                source, target = continuation_pair(utt, units, args.ratio)
            else:
                source, target, spans = inpainting_pair(utt, units, config)
                if config.target == "whole":  # positions in the target, for scoring
                    lines["spans"].append(format_units(utt, [p for span in spans for p in span]))
        except PairError:
            if not args.skip_short:
                raise
            skipped += 1
            continue
        lines["source"].append(format_units(utt, source))
        lines["target"].append(format_units(utt, target))
    if skipped:
        logging.warning(f"{args.units}: skipped {skipped} utterances too short for a pair")
    if not lines["source"]:
        raise PairError(f"{args.units}: no utterance gives a {args.task} pair")
    return {name: rows for name, rows in lines.items() if rows}


def main(cmd: list[str] | None = None) -> None:
    args = get_parser().parse_args(cmd)
    logging.basicConfig(level="INFO", format="%(asctime)s %(message)s")
    with exit_on_user_error():
        lines = make_pairs(args)
        with atomic_directory(args.out_dir) as tmp:
            for name, rows in lines.items():
                (tmp / name).write_text("".join(rows), encoding="utf-8")
    print(f"{len(lines['source'])} {args.task} pairs in {args.out_dir}")


if __name__ == "__main__":
    main()
