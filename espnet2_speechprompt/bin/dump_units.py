"""Waveforms → k-means units (``utt u1 u2 ...``), optionally deduplicated and with features.

    python -m espnet2_speechprompt.bin.dump_units --data-dir data/train --feature hubert \\
        --checkpoint hubert_base_ls960.pt --layer 6 --km km.bin --out-dir dump/train --dedup
    # split: JOB=1:N  ... --nj N --job JOB   then   ... --out-dir dump/train --nj N --merge

Job J of N processes the J-th contiguous slice of wav.scp and writes ``units.J`` (and
``feats.J.{ark,scp}``); ``--merge`` joins them in order. Every output is written to ``*.tmp``
and renamed when complete.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from espnet2_speechprompt.bin.units_cli import (
    add_input_args,
    feature_batches,
    load_pairs,
    make_reader,
    run,
)
from espnet2_speechprompt.fileio import atomic_open
from espnet2_speechprompt.units.datadir import (
    ArkWriter,
    check_job_options,
    format_units,
    job_slice,
    merge_parts,
    part_name,
)
from espnet2_speechprompt.units.dedup import dedup
from espnet2_speechprompt.units.errors import UnitsError
from espnet2_speechprompt.units.kmeans import KMeansQuantizer


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m espnet2_speechprompt.bin.dump_units",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_input_args(parser)
    parser.add_argument("--km", help="k-means file: centres .npy or a joblib km.bin")
    parser.add_argument("--out-dir", required=True, help="where units (units.J) are written")
    parser.add_argument("--dedup", action="store_true", help="collapse repeated units")
    parser.add_argument("--write-feats", action="store_true", help="also write feats ark/scp")
    parser.add_argument("--merge", action="store_true", help="join units.1..N into units")
    return parser


def merge(args: argparse.Namespace) -> None:
    """``units.1..N`` → ``units`` (and ``feats.1..N.scp`` → ``feats.scp`` when present)."""
    merge_parts(args.out_dir, "units", args.nj)
    if os.path.isfile(os.path.join(args.out_dir, "feats.1.scp")):
        merge_parts(args.out_dir, "feats.scp", args.nj, part_format="feats.{job}.scp")


def dump(args: argparse.Namespace) -> str:
    if not args.km:
        raise UnitsError("--km is required (a k-means .npy or km.bin)")
    pairs = load_pairs(args)
    part = pairs[job_slice(len(pairs), args.nj, args.job or 1)]
    quantizer = KMeansQuantizer.from_file(args.km)
    reader = make_reader(args)
    quantizer.check_dim(reader.dim)  # fail before any audio is read
    os.makedirs(args.out_dir, exist_ok=True)
    units_path = os.path.join(args.out_dir, part_name("units", args.nj, args.job))
    feats = None
    if args.write_feats:
        stem = os.path.join(args.out_dir, part_name("feats", args.nj, args.job))
        feats = ArkWriter(stem + ".ark", stem + ".scp")
    desc = f"units {args.job}/{args.nj}" if args.job else "units"
    try:
        with atomic_open(units_path) as out:
            for utts, batch, lengths in feature_batches(part, reader, args.batch_size, desc):
                for utt, x, n in zip(utts, batch, lengths.tolist(), strict=True):
                    units = quantizer(x[:n])
                    out.write(format_units(utt, (dedup(units) if args.dedup else units).tolist()))
                    if feats is not None:
                        feats.write(utt, x[:n].numpy())
            if feats is not None:  # before units is renamed: units implies complete feats
                feats.commit()
    except BaseException:
        if feats is not None:
            with contextlib.suppress(OSError):
                feats.abort()
        raise
    return units_path


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    check_job_options(args.nj, args.job, args.merge)
    if args.merge:
        merge(args)
        print(f"merged {args.nj} parts into {os.path.join(args.out_dir, 'units')}", file=sys.stderr)
    else:
        path = dump(args)
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
