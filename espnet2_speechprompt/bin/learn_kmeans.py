"""Learn k-means centres (scikit-learn MiniBatchKMeans) on MFCC or HuBERT features.

    python -m espnet2_speechprompt.bin.learn_kmeans --data-dir data/train --feature hubert \\
        --checkpoint hubert_base_ls960.pt --layer 6 --n-clusters 100 --portion 0.1 \\
        --out exp/km/km100.npy [--joblib-out exp/km/km100.bin]

Features are computed utterance by utterance (or read from a kaldiio ``--feats-scp``) for a
seeded portion of the utterances; at most ``--max-frames`` frames (a seeded uniform reservoir)
are held in memory for the fit.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator

import numpy as np

from espnet2_speechprompt.bin.units_cli import (
    add_input_args,
    feature_batches,
    load_pairs,
    make_reader,
    run,
)
from espnet2_speechprompt.fileio import atomic_path
from espnet2_speechprompt.kaldi_text import read_entries
from espnet2_speechprompt.units.errors import UnitsError
from espnet2_speechprompt.units.kmeans import learn_kmeans, save_centres


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m espnet2_speechprompt.bin.learn_kmeans",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_input_args(parser, jobs=False)
    parser.add_argument("--feats-scp", help="learn on dumped kaldiio features instead of audio")
    parser.add_argument("--n-clusters", type=int, required=True)
    parser.add_argument("--portion", type=float, default=1.0, help="fraction of utterances used")
    parser.add_argument(
        "--max-frames",
        type=int,
        default=1_000_000,
        help="frames held for the fit (memory: frames x dim x 4 bytes)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="centres, .npy")
    parser.add_argument("--joblib-out", help="also save the scikit-learn model with joblib")
    parser.add_argument("--km-batch-size", type=int, default=10000)
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--n-init", type=int, default=20)
    parser.add_argument("--max-no-improvement", type=int, default=100)
    return parser


def _portion(items: list, portion: float, seed: int) -> list:
    if not 0 < portion <= 1:
        raise UnitsError(f"--portion must be in (0, 1] (got {portion})")
    if not items:
        raise UnitsError("no utterances to learn from")
    count = max(1, round(portion * len(items)))
    keep = np.sort(np.random.default_rng(seed).choice(len(items), count, replace=False))
    return [items[i] for i in keep]


def _frames_from_audio(args: argparse.Namespace) -> Iterator[np.ndarray]:
    pairs = _portion(load_pairs(args), args.portion, args.seed)
    reader = make_reader(args)
    for _, feats, lengths in feature_batches(pairs, reader, args.batch_size, "features"):
        for x, n in zip(feats, lengths.tolist(), strict=True):
            yield x[:n].numpy()


def _frames_from_scp(args: argparse.Namespace) -> Iterator[np.ndarray]:
    import kaldiio

    entries = [(e.key, e.value) for e in read_entries(args.feats_scp, "feats.scp")]
    for utt, where in _portion(entries, args.portion, args.seed):
        try:
            yield np.asarray(kaldiio.load_mat(where.strip()), dtype=np.float32)
        except Exception as exc:  # kaldiio raises many types for a bad entry
            raise UnitsError(
                f"utterance {utt}: cannot read features {where.strip()} ({exc})"
            ) from None


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    frames = _frames_from_scp(args) if args.feats_scp else _frames_from_audio(args)
    quantizer, model = learn_kmeans(
        frames,
        args.n_clusters,
        seed=args.seed,
        max_frames=args.max_frames,
        batch_size=args.km_batch_size,
        max_iter=args.max_iter,
        n_init=args.n_init,
        max_no_improvement=args.max_no_improvement,
    )
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_centres(quantizer.centres.numpy(), args.out)
    if args.joblib_out:
        import joblib

        with atomic_path(args.joblib_out) as tmp:
            joblib.dump(model, tmp)
    print(f"wrote {args.out} ({quantizer.n_clusters} x {quantizer.dim})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
