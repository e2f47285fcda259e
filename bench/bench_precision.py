"""The frozen backbone in bfloat16 vs float32, as ratios measured in one run on this machine.

(a) prompt-tuning step (forward, backward, Adam on the prompts) of a GSLM-shaped unit LM
    (12 layers, d = 1024, FFN 4096; input and deep prompts of 5), ``--batch`` x ``--seq-len``
    tokens: bf16 / fp32 step time (goal ≤ 0.4);
(b) HuBERT-base features to layer 6 (GSLM's units), ``--seconds`` of audio: real-time factor
    in both precisions (bf16 goal ≤ 0.04) and the share of this machine's FLOP limit it
    reaches (FLOPs counted by torch's FlopCounterMode ÷ time ÷ the measured bf16 / fp32 matmul
    peak);
(c) classification inference: scoring ``--labels`` one-token candidate labels for
    ``--utterances`` utterances of ``--units`` units in batches of 16, utterances/s bf16 / fp32
    (goal ≥ 2.5).
bf16 is the library's mixed precision (``espnet2_speechprompt.precision``): bf16 backbone
weights and matrix products under autocast, fp32 prompts, norms, optimizer state and loss.
Random weights; the CPU's name and bf16 flags are printed. ``--quick``: tiny sizes (seconds).

    python bench/bench_precision.py [--device cuda] [--quick]
"""

from __future__ import annotations

import argparse
import platform

import torch
from bench_units import timed  # (a sibling script: bench/ is on the path)
from torch.utils.flop_counter import FlopCounterMode

from espnet2_speechprompt.checkpoints.hubert import HUBERT_BASE_CONV, parse_conv_layers
from espnet2_speechprompt.precision import cpu_bf16_flags, dtype_name
from espnet2_speechprompt.prompt.prompted_lm import PromptedUnitLM
from espnet2_speechprompt.prompt.prompts import PromptConfig
from espnet2_speechprompt.speechlm.hubert import HubertConfig, HubertModel
from espnet2_speechprompt.speechlm.transformer_lm import DecoderConfig, TransformerDecoder
from espnet2_speechprompt.units.features import HubertReader
from espnet2_speechprompt.verbalizer.fixed import FixedVerbalizer
from espnet2_speechprompt.vocab import NUM_SPECIALS

DTYPES = (torch.float32, torch.bfloat16)
GOALS = {"step": 0.4, "rtf": 0.04, "inference": 2.5}
VOCAB = 104  # GSLM's hubert100 dictionary: 4 specials + 100 units


def matmul_peak(args, device: torch.device, dtype: torch.dtype) -> float:
    n = 512 if args.quick else 2048
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    return 2 * n**3 / timed(lambda: a @ b, args.repeat, device)


def prompted_lm(args, device: torch.device, dtype: torch.dtype) -> PromptedUnitLM:
    torch.manual_seed(0)
    config = DecoderConfig(VOCAB) if not args.quick else DecoderConfig(VOCAB, 128, 512, 2, 4)
    labels = list(range(NUM_SPECIALS, NUM_SPECIALS + args.labels))
    model = PromptedUnitLM(TransformerDecoder(config), FixedVerbalizer(labels), PromptConfig(5, 5))
    return model.to(device).set_backbone_dtype(dtype)


def step_seconds(args, device: torch.device, dtype: torch.dtype) -> float:
    model = prompted_lm(args, device, dtype).train()
    units = torch.randint(NUM_SPECIALS, VOCAB, (args.batch, args.seq_len - 4), device=device)
    lengths = torch.full((args.batch,), args.seq_len - 4, device=device)
    labels = torch.randint(NUM_SPECIALS, NUM_SPECIALS + args.labels, (args.batch, 1), device=device)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        model(units, lengths, labels, torch.ones_like(lengths))["loss"].backward()
        optimizer.step()

    return timed(step, args.repeat, device)


def hubert_figures(args, device: torch.device, dtype: torch.dtype) -> tuple[float, float]:
    """(real-time factor, FLOP/s) of HuBERT-base to layer 6."""
    torch.manual_seed(0)
    model = HubertModel(HubertConfig(parse_conv_layers(HUBERT_BASE_CONV)))
    reader = HubertReader(model, 6, device=str(device), precision=dtype_name(dtype))
    wavs = [torch.randn(int(args.seconds * 16000), device=device) * 0.1]
    with torch.inference_mode():
        with FlopCounterMode(display=False) as counter:
            reader.extract(wavs)
        seconds = timed(lambda: reader.extract(wavs), args.repeat, device)
    return seconds / args.seconds, counter.get_total_flops() / seconds


def inference_rate(args, device: torch.device, dtype: torch.dtype) -> float:
    """Utterances/s of candidate scoring."""
    model = prompted_lm(args, device, dtype).eval()
    generator = torch.Generator().manual_seed(0)
    units = torch.randint(NUM_SPECIALS, VOCAB, (16, args.units), generator=generator).to(device)
    lengths = torch.full((16,), args.units, device=device)
    candidates = torch.arange(NUM_SPECIALS, NUM_SPECIALS + args.labels, device=device)[:, None]
    batches = max(1, args.utterances // 16)

    def run() -> None:
        with torch.no_grad():
            for _ in range(batches):
                model.score_candidates(units, lengths, candidates)

    return batches * 16 / timed(run, args.repeat, device)


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (torch {torch.__version__})"
    name = platform.processor() or "CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            name = next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    except (OSError, StopIteration):
        pass
    flags = ", ".join(cpu_bf16_flags()) or "no bf16 matrix flags"
    return f"{name}, {torch.get_num_threads()} threads, {flags} (torch {torch.__version__})"


def row(name: str, fp32: str, bf16: str, ratio: float, goal: str, met: bool | None) -> str:
    mark = "" if met is None else (" yes" if met else " NO")
    return f"| {name} | {fp32} | {bf16} | {ratio:.2f}{mark} | {goal} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--batch", type=int, default=4, help="(a) rows")
    parser.add_argument("--seq-len", type=int, default=128, help="(a) tokens per row")
    parser.add_argument("--seconds", type=float, default=20.0, help="(b) audio seconds")
    parser.add_argument("--units", type=int, default=100, help="(c) units per utterance")
    parser.add_argument("--utterances", type=int, default=32, help="(c) utterances")
    parser.add_argument("--labels", type=int, default=12, help="(a), (c) labels")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.quick:
        args.batch, args.seq_len, args.seconds, args.utterances, args.repeat = 2, 32, 0.5, 16, 1
    device = torch.device(args.device)
    print(f"machine: {machine(device)}")
    peak = {dtype: matmul_peak(args, device, dtype) for dtype in DTYPES}
    step = {dtype: step_seconds(args, device, dtype) for dtype in DTYPES}
    hubert = {dtype: hubert_figures(args, device, dtype) for dtype in DTYPES}
    rate = {dtype: inference_rate(args, device, dtype) for dtype in DTYPES}
    f32, b16 = DTYPES
    print("| figure | fp32 | bf16 | bf16 / fp32 | goal |\n|---|---|---|---|---|")
    print(row("matmul peak, GFLOP/s", f"{peak[f32] / 1e9:.0f}", f"{peak[b16] / 1e9:.0f}",
              peak[b16] / peak[f32], "", None))  # fmt: skip
    ratio = step[b16] / step[f32]
    print(row(f"(a) prompt-tuning step, {args.batch} x {args.seq_len}", f"{step[f32]:.3f} s",
              f"{step[b16]:.3f} s", ratio, f"≤ {GOALS['step']}", ratio <= GOALS["step"]))  # fmt: skip
    (rtf32, flops32), (rtf16, flops16) = hubert[f32], hubert[b16]
    print(row("(b) HuBERT-base to layer 6, real-time factor", f"{rtf32:.4f}", f"{rtf16:.4f}",
              rtf16 / rtf32, f"bf16 RTF ≤ {GOALS['rtf']}", rtf16 <= GOALS["rtf"]))  # fmt: skip
    print(row("(b) HuBERT share of the matmul peak", f"{flops32 / peak[f32]:.2f}",
              f"{flops16 / peak[b16]:.2f}", flops16 / flops32, "", None))  # fmt: skip
    ratio = rate[b16] / rate[f32]
    print(row(f"(c) inference, utterances/s ({args.labels} labels)", f"{rate[f32]:.1f}",
              f"{rate[b16]:.1f}", ratio, f"≥ {GOALS['inference']}", ratio >= GOALS["inference"]))  # fmt: skip


if __name__ == "__main__":
    main()
