"""Real-time factor of unit HiFi-GAN synthesis with the released mHuBERT-1000 vocoder's shapes.

Model: ``UnitHifiGan`` with the shapes of ``unit_hifigan_mhubert_vp_en_es_fr_it3_400k_layer11_
km1000_lj_dur`` (upsample rates [5,4,4,2,2], kernels [11,8,8,4,4], 512 initial channels,
resblock kernels [3,7,11] x dilations [1,3,5], 1000 units of dim 128, duration predictor;
13.5M parameters), random weights (``torch.manual_seed(0)``; the duration predictor's output
layer is set so that every unit lasts exactly 2 frames, so audio length is known).

Cases, each ``--seconds`` of 16 kHz audio per utterance:
  frames   50 Hz units straight in (no duration prediction);
  dedup    ``seconds * 25`` deduplicated units, predicted durations (2 frames each);
  batch    ``--batch`` utterances of the dedup case in one call (RTF per second of audio).
RTF = wall time / seconds of audio produced (< 1 is faster than real time); one warm-up, then
the median of ``--repeat`` runs. CPU times depend on how busy the machine is: the CPU share
(CPU time / (wall x threads)) is printed; well below ~0.9 means another process competed.

Usage: ``python bench/bench_vocoder.py [--device cuda] [--seconds 3] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time

import torch

from espnet2_speechprompt.vocoder import UnitHifiGan, VocoderConfig
from espnet2_speechprompt.vocoder.config import RELEASED_MHUBERT_KM1000 as RELEASED


def build(device: torch.device) -> UnitHifiGan:
    torch.manual_seed(0)
    model = UnitHifiGan(VocoderConfig.from_dict(RELEASED))
    with torch.no_grad():  # every unit -> round(exp(log 3) - 1) = 2 frames
        model.dur_predictor.proj.weight.zero_()
        model.dur_predictor.proj.bias.fill_(math.log(3.0))
    return model.eval().to(device)


def timed(fn, repeat: int, device: torch.device) -> tuple[float, float]:
    """Median wall seconds over ``repeat`` runs (after one warm-up) and the CPU share."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()
    sync()
    walls, cpus = [], []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        sync()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    wall = statistics.median(walls)
    return wall, sum(cpus) / (sum(walls) * torch.get_num_threads())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    model = build(device)
    params = sum(p.numel() for p in model.parameters())
    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads, device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
        + f", {params / 1e6:.2f}M parameters, fp32"
    )
    gen = torch.Generator().manual_seed(1)
    frames = int(args.seconds * 50)
    raw = torch.randint(0, 1000, (frames,), generator=gen)
    dedup = [torch.randint(0, 1000, (frames // 2,), generator=gen) for _ in range(args.batch)]
    cases = [
        ("frames (50 Hz units, no duration prediction)", [raw], False),
        ("dedup (predicted durations)", dedup[:1], True),
        (f"batch of {args.batch}, predicted durations", dedup, True),
    ]
    print("| case | audio | wall | RTF | CPU share |\n|---|---|---|---|---|")
    for name, units, dur in cases:
        out = model.synthesize(units, dur_prediction=dur)
        audio = sum(w.numel() for w in out) / model.sample_rate
        wall, share = timed(
            lambda u=units, d=dur: model.synthesize(u, dur_prediction=d), args.repeat, device
        )
        shown = f"{share:.2f}" if device.type == "cpu" else "-"
        print(f"| {name} | {audio:.2f} s | {wall:.3f} s | **{wall / audio:.3f}** | {shown} |")


if __name__ == "__main__":
    main()
