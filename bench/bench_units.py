"""Speech-to-units benchmark (a script, not a test; it prints the figures the README quotes).

(a) real-time factor of HuBERT-base-shaped feature extraction (random weights, layer 6 as for
    GSLM, all 12 layers as for a full pass) on 60 s of audio in batches;
(b) k-means assignment throughput: our torch argmin vs scikit-learn ``predict`` on the same
    centres and features, as a ratio measured in one run.

    python bench/bench_units.py [--device cuda --dtype bfloat16] [--seconds 60] [--batch 4]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from espnet2_speechprompt.checkpoints.hubert import HUBERT_BASE_CONV, parse_conv_layers
from espnet2_speechprompt.speechlm.hubert import HubertConfig, HubertModel
from espnet2_speechprompt.units.features import HubertReader
from espnet2_speechprompt.units.kmeans import KMeansQuantizer


def timed(fn, repeat: int, device: torch.device) -> float:
    """Median seconds of ``fn()`` over ``repeat`` runs after one warm-up."""
    fn()
    times = []
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_hubert(args, device: torch.device, dtype: torch.dtype) -> list[str]:
    rows = []
    audio = torch.randn(int(args.seconds * 16000)) * 0.1
    chunk = len(audio) // args.batch  # the audio as `batch` utterances
    wavs = [audio[i * chunk : (i + 1) * chunk] for i in range(args.batch)]
    for layer in (6, 12):
        torch.manual_seed(0)
        model = HubertModel(HubertConfig(parse_conv_layers(HUBERT_BASE_CONV)))
        reader = HubertReader(model, layer, device=str(device), precision=str(dtype)[6:])
        run = lambda r=reader: r.extract([w.to(device) for w in wavs])  # noqa: E731
        with torch.inference_mode():
            seconds = timed(run, args.repeat, device)
        rows.append(f"| HuBERT-base to layer {layer}, {args.batch} x {args.seconds / args.batch:.0f} s "
                    f"| {seconds:.3f} s | RTF {seconds / args.seconds:.2e} |")  # fmt: skip
    return rows


def bench_kmeans(args, device: torch.device) -> list[str]:
    from sklearn.cluster import MiniBatchKMeans

    rng = np.random.default_rng(0)
    frames = int(args.seconds * 50)  # 50 Hz units
    feats = rng.normal(size=(frames, 768)).astype(np.float32)
    km = MiniBatchKMeans(n_clusters=args.clusters, n_init=1, random_state=0, batch_size=4096)
    km.fit(rng.normal(size=(max(20000, 20 * args.clusters), 768)).astype(np.float32))
    ours = KMeansQuantizer(km.cluster_centers_).to(device)
    x = torch.from_numpy(feats).to(device)
    same = bool((ours(x).cpu().numpy() == km.predict(feats)).all())
    ours_s = timed(lambda: ours(x), args.repeat, device)
    sk_s = timed(lambda: km.predict(feats), args.repeat, torch.device("cpu"))
    return [
        f"| k-means K={args.clusters} assignment, {frames} frames: torch | {ours_s:.4f} s | "
        f"{frames / ours_s:,.0f} frames/s |",
        f"| same, scikit-learn predict (CPU) | {sk_s:.4f} s | {frames / sk_s:,.0f} frames/s |",
        f"| torch / scikit-learn throughput | | **{sk_s / ours_s:.2f}x** (identical labels: {same}) |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--dtype",
        default="float32",
        choices=["float32", "bfloat16"],
        help="HuBERT's precision (bfloat16: bf16 weights and matmuls, norms fp32)",
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}, {dtype}")
    print("| what | time | rate |\n|---|---|---|")
    for row in bench_hubert(args, device, dtype) + bench_kmeans(args, device):
        print(row)


if __name__ == "__main__":
    main()
