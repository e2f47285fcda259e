"""Benchmark prompt tuning of a frozen GSLM-shaped unit LM against its goals, in one run.

Model: a randomly initialised ``TransformerDecoder(DecoderConfig(vocab_size=104))`` (12 layers,
d=1024, 16 heads, FFN 4096), ``torch.manual_seed(--seed)``. ``--dtype bfloat16`` is the
library's mixed precision (``precision.py``): the frozen backbone's weights in bf16 under
autocast, prompts, optimizer and loss in fp32; full fine-tuning then keeps fp32 weights and runs
under autocast (the usual mixed-precision training).

(a) Training step, prompt tuning vs full fine-tuning, ``--batch`` rows of ``--seq-len`` tokens
    ``</s> u_1..u_T <s> y_1..y_M`` (plus ``</s>`` as the last target; the prompted model also
    has its 5 input-prompt vectors and 5 deep-prompt keys/values per layer).
    - prompt: ``PromptedUnitLM(backbone, FixedVerbalizer, PromptConfig(5, 5))`` forward ->
      ``loss.backward()`` -> Adam on the trainable parameters (prompts, separator);
    - full: the same backbone, all parameters trainable, train mode (it has no dropout), the same
      label-only cross-entropy on the same sequence (verbalizer columns of the LM logits),
      backward, Adam on every backbone parameter.
    Step = zero_grad + forward + backward + optimizer step; ``--warmup`` steps are dropped and
    the median of ``--steps`` is reported. Each configuration runs in its own fresh subprocess
    (this script re-invoked with ``--worker``), so its memory figures are its own:
    - CPU: peak RSS (``getrusage().ru_maxrss``) minus a baseline RSS taken after a tiny train
      step on an 8x8 layer, i.e. everything the job allocated (weights, data, gradients,
      optimiser state, activations) but not the interpreter, libraries and their lazy start-up,
      which are the same for both: the CPU analogue of ``max_memory_allocated``. Raw peak RSS
      and the growth during training (peak minus RSS after building model, data and optimiser)
      are printed too.
    - CUDA: ``torch.cuda.max_memory_allocated()`` (and its growth over the allocation after
      building).
(b) Greedy decoding of exactly ``--gen-len`` tokens, ``--gen-batch`` x ``--gen-src`` source
    units: ``PromptedUnitLM.generate`` (key/value cache) vs recomputing the teacher-forced
    forward over the whole sequence at every step (``test/recompute.py``). The verbalizer pins
    the ``</s>`` logit to -1e4 so no row ends early; ``</s>`` is still forced at the last step.
    One short warm-up generation each, then one timed run; tokens/s = generated label tokens /
    wall time (prefill included).
(c) Eval forward (no grad) of the backbone on ``--batch`` x ``--seq-len`` tokens; FLOPs counted
    analytically: per layer ``2 * (4 d^2 + 2 d f) * tokens`` (projections, FFN) plus attention
    ``4 T^2 d`` per row (QK^T and AV, full square, causality ignored), plus ``2 d V * tokens``
    for the output projection. Reference: ``torch.matmul`` of ``[tokens, d] x [d, f]`` (2048 x
    1024 x 4096 by default), timed the same way (warm-up, median), the two calls alternating.

CPU timings are only meaningful on an otherwise idle machine: the script prints how busy the
CPUs were before it started and, per measurement, the CPU share it got (CPU time / (wall time x
threads)); a share well below ~0.9 means another process competed and the figures are inflated.

Usage: ``python bench/bench_prompt_lm.py [--device cuda] [--dtype bfloat16] [--quick]
[--only a|b|c]``. ``--quick`` is a smoke check with a tiny model (seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

from espnet2_speechprompt.precision import autocast_to, set_frozen_dtype
from espnet2_speechprompt.prompt.base import label_targets
from espnet2_speechprompt.prompt.prompted_lm import PromptedUnitLM, source_block
from espnet2_speechprompt.prompt.prompts import PromptConfig
from espnet2_speechprompt.speechlm.transformer_lm import DecoderConfig, TransformerDecoder
from espnet2_speechprompt.verbalizer.fixed import FixedVerbalizer
from espnet2_speechprompt.vocab import BOS, EOS, NUM_SPECIALS, PAD

VOCAB_SIZE = 104
NUM_LABELS = 10
GOALS = {"time": 0.6, "memory": 0.75, "cache": 5.0, "flops": 0.5}


# ----------------------------------------------------------------------------- helpers
def current_rss() -> int:
    """Resident set size of this process now, in bytes (Linux /proc; else the peak)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return peak_rss()


def peak_rss() -> int:
    """Peak resident set size of this process, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def runtime_baseline_rss() -> int:
    """RSS after a tiny train step: interpreter, libraries and their lazy start-up, no job data."""
    layer = torch.nn.Linear(8, 8)
    optimizer = torch.optim.Adam(layer.parameters())
    x = layer(torch.randn(2, 4, 8))
    F.scaled_dot_product_attention(x, x, x, is_causal=True).sum().backward()
    optimizer.step()
    del layer, optimizer, x
    return current_rss()


def cpu_busy_fraction(seconds: float = 1.0) -> float | None:
    """Share of all CPUs busy over ``seconds`` (Linux /proc/stat), before we start working."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:9]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except OSError:
        return None
    return 1.0 - (idle1 - idle0) / max(total1 - total0, 1)


class CpuShare:
    """CPU time this process got / (wall time x torch threads): well below 1 = CPUs contended."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def __str__(self) -> str:
        wall = (time.perf_counter() - self.wall) * torch.get_num_threads()
        return f"CPU share {(time.process_time() - self.cpu) / wall:.2f}"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_times(
    fns: list[Callable[[], object]], device: torch.device, warmup: int, steps: int
) -> list[float]:
    """Median wall time (s) of each of ``fns``, called round-robin so drift hits all alike."""
    times: list[list[float]] = [[] for _ in fns]
    for i in range(warmup + steps):
        for fn, record in zip(fns, times, strict=True):
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            if i >= warmup:
                record.append(time.perf_counter() - start)
    return [statistics.median(record) for record in times]


def gib(num_bytes: float) -> str:
    if abs(num_bytes) < 2**30:
        return f"{num_bytes / 2**20:.0f} MiB"
    return f"{num_bytes / 2**30:.2f} GiB"


@dataclass
class Sizes:
    config: DecoderConfig
    batch: int
    seq_len: int
    label_len: int
    gen_batch: int
    gen_src: int
    gen_len: int


def sizes_from(args: argparse.Namespace) -> Sizes:
    if args.quick:
        config = DecoderConfig(VOCAB_SIZE, embed_dim=128, ffn_dim=512, num_layers=2, num_heads=4)
        return Sizes(config, 2, 32, 4, 1, 8, 20)
    config = DecoderConfig(VOCAB_SIZE)
    return Sizes(
        config, args.batch, args.seq_len, args.label_len, args.gen_batch, args.gen_src, args.gen_len
    )


def build_backbone(sizes: Sizes, device: torch.device) -> TransformerDecoder:
    """fp32 weights (a prompted model puts its frozen backbone in the bench's dtype)."""
    return TransformerDecoder(sizes.config).to(device=device)


def label_verbalizer(seed: int) -> list[int]:
    """``NUM_LABELS`` distinct unit tokens (drawn with a fixed seed)."""
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(VOCAB_SIZE - NUM_SPECIALS, generator=gen)[:NUM_LABELS]
    return [NUM_SPECIALS + int(i) for i in order]


def training_batch(
    sizes: Sizes, device: torch.device, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Units ``[B, seq_len - label_len - 2]`` and labels ``[B, label_len]``, all rows full."""
    gen = torch.Generator().manual_seed(seed)
    num_units = sizes.seq_len - sizes.label_len - 2  # + </s> and <sep>
    units = torch.randint(NUM_SPECIALS, VOCAB_SIZE, (sizes.batch, num_units), generator=gen)
    labels = torch.randint(
        NUM_SPECIALS, NUM_SPECIALS + NUM_LABELS, (sizes.batch, sizes.label_len), generator=gen
    )
    unit_lengths = torch.full((sizes.batch,), num_units)
    label_lengths = torch.full((sizes.batch,), sizes.label_len)
    return tuple(t.to(device) for t in (units, unit_lengths, labels, label_lengths))


class NoEarlyEosVerbalizer(FixedVerbalizer):
    """A fixed verbalizer whose ``</s>`` logit is -1e4: greedy decoding runs to ``max_length``."""

    def forward(self, lm_logits: torch.Tensor) -> torch.Tensor:
        logits = super().forward(lm_logits)
        return logits.index_fill(-1, torch.tensor([EOS], device=logits.device), -1e4)


def reference_search():
    """``test/recompute.py``'s decoding by recomputation (the repository root on the path)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from test.recompute import recomputed_search

    return recomputed_search


# ----------------------------------------------------------------------------- (a) training
def train_worker(kind: str, args: argparse.Namespace) -> dict[str, float]:
    """One training configuration (``prompt`` or ``full``): median step time and memory."""
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    baseline = runtime_baseline_rss()
    sizes = sizes_from(args)
    torch.manual_seed(args.seed)
    backbone = build_backbone(sizes, device)
    verbalizer = FixedVerbalizer(label_verbalizer(args.seed)).to(device)
    units, unit_lengths, labels, label_lengths = training_batch(sizes, device, args.seed)

    if kind == "prompt":
        model = PromptedUnitLM(backbone, verbalizer, PromptConfig(input_length=5, deep_length=5))
        model.to(device=device).set_backbone_dtype(dtype).train()

        def loss_fn() -> torch.Tensor:
            return model(units, unit_lengths, labels, label_lengths)["loss"]

    else:
        model = backbone.requires_grad_(True).train()
        block = source_block(units, unit_lengths, BOS)
        tokens = torch.cat([block, verbalizer.columns[labels]], dim=1)
        targets = label_targets(labels, label_lengths)

        def loss_fn() -> torch.Tensor:
            with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                lm_logits = model(tokens)
            logits = verbalizer(lm_logits.float())[:, block.shape[1] - 1 :]
            return (
                F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=PAD, reduction="sum")
                / targets.ne(PAD).sum()
            )

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn().backward()
        optimizer.step()

    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        built = torch.cuda.memory_allocated(device)
    else:
        built = current_rss()
    share = CpuShare()
    (seconds,) = median_times([step], device, args.warmup, args.steps)
    share = str(share)
    if device.type == "cuda":
        peak, base = torch.cuda.max_memory_allocated(device), 0
    else:
        peak, base = peak_rss(), baseline
    return {
        "seconds": seconds,
        "share": share,
        "trainable": sum(p.numel() for p in params),
        "peak": peak,  # raw: peak RSS / max allocated
        "job": peak - base,  # what the job allocated (ratio basis)
        "training": peak - built,  # growth while training
    }


def run_worker_process(kind: str) -> dict[str, float]:
    """Re-run this script as ``--worker kind`` in a fresh process; return its JSON result."""
    cmd = [sys.executable, os.path.abspath(__file__), *sys.argv[1:], "--worker", kind]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_training(args: argparse.Namespace) -> list[tuple[str, str, str, bool]]:
    results = {}
    for kind in ("prompt", "full"):
        results[kind] = r = run_worker_process(kind)
        print(
            f"(a) {kind:6s}: {r['seconds']:.3f} s/step ({r['share']}), "
            f"{int(r['trainable']):,} trainable, "
            f"peak {gib(r['peak'])}, job {gib(r['job'])}, training growth {gib(r['training'])}",
            flush=True,
        )
    prompt, full = results["prompt"], results["full"]
    time_ratio = prompt["seconds"] / full["seconds"]
    mem_ratio = prompt["job"] / full["job"]
    print(
        f"(a) raw peak ratio {prompt['peak'] / full['peak']:.3f}, "
        f"training-growth ratio {prompt['training'] / full['training']:.3f}"
    )
    return [
        (
            "(a) step time, prompt / full",
            f"{time_ratio:.3f} ({prompt['seconds']:.3f} s / {full['seconds']:.3f} s)",
            f"≤ {GOALS['time']}",
            time_ratio <= GOALS["time"],
        ),
        (
            "(a) peak memory, prompt / full",
            f"{mem_ratio:.3f} ({gib(prompt['job'])} / {gib(full['job'])})",
            f"≤ {GOALS['memory']}",
            mem_ratio <= GOALS["memory"],
        ),
    ]


# ----------------------------------------------------------------------------- (b) decoding
def bench_decoding(args: argparse.Namespace) -> list[tuple[str, str, str, bool]]:
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    sizes = sizes_from(args)
    torch.manual_seed(args.seed)
    backbone = build_backbone(sizes, device)
    verbalizer = NoEarlyEosVerbalizer(label_verbalizer(args.seed))
    model = PromptedUnitLM(backbone, verbalizer, PromptConfig(input_length=5, deep_length=5))
    model.to(device=device).set_backbone_dtype(dtype).eval()
    gen = torch.Generator().manual_seed(args.seed)
    shape = (sizes.gen_batch, sizes.gen_src)
    units = torch.randint(NUM_SPECIALS, VOCAB_SIZE, shape, generator=gen).to(device)
    lengths = torch.full((sizes.gen_batch,), sizes.gen_src, device=device)

    rates, outputs = {}, {}
    for cached, search in ((True, model.search), (False, partial(reference_search(), model))):
        search(units, lengths, beam_size=1, max_len_b=2)  # warm-up
        sync(device)
        start, share = time.perf_counter(), CpuShare()
        nbest = search(units, lengths, beam_size=1, max_len_b=sizes.gen_len)
        sync(device)
        seconds = time.perf_counter() - start
        hyps = [row[0].tokens for row in nbest]
        num_tokens = sum(len(h) for h in hyps)
        assert num_tokens == sizes.gen_batch * sizes.gen_len, num_tokens
        rates[cached], outputs[cached] = num_tokens / seconds, hyps
        name = "cached" if cached else "uncached"
        print(f"(b) {name:8s}: {num_tokens} tokens in {seconds:.2f} s ({share})", flush=True)
    print(f"(b) cached and uncached outputs identical: {outputs[True] == outputs[False]}")
    ratio = rates[True] / rates[False]
    return [
        (
            "(b) greedy tokens/s, cache / no cache",
            f"{ratio:.2f}× ({rates[True]:.2f} / {rates[False]:.2f} tok/s)",
            f"≥ {GOALS['cache']:g}×",
            ratio >= GOALS["cache"],
        )
    ]


# ----------------------------------------------------------------------------- (c) FLOP/s
def forward_flops(config: DecoderConfig, batch: int, seq_len: int) -> int:
    d, f, tokens = config.embed_dim, config.ffn_dim, batch * seq_len
    per_layer = 2 * (4 * d * d + 2 * d * f) * tokens + 4 * seq_len * seq_len * d * batch
    return config.num_layers * per_layer + 2 * d * config.vocab_size * tokens


def bench_flops(args: argparse.Namespace) -> list[tuple[str, str, str, bool]]:
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    sizes = sizes_from(args)
    c = sizes.config
    torch.manual_seed(args.seed)
    backbone = set_frozen_dtype(build_backbone(sizes, device).eval(), dtype)
    gen = torch.Generator().manual_seed(args.seed)
    shape = (sizes.batch, sizes.seq_len)
    tokens = torch.randint(NUM_SPECIALS, VOCAB_SIZE, shape, generator=gen).to(device)
    m, k, n = sizes.batch * sizes.seq_len, c.embed_dim, c.ffn_dim
    a = torch.randn(m, k, device=device, dtype=dtype)
    b = torch.randn(k, n, device=device, dtype=dtype)
    share = CpuShare()
    with torch.no_grad(), autocast_to(backbone):
        fwd_s, mm_s = median_times(
            [lambda: backbone(tokens), lambda: torch.matmul(a, b)], device, args.warmup, args.steps
        )
    fwd_rate = forward_flops(c, sizes.batch, sizes.seq_len) / fwd_s
    mm_rate = 2 * m * k * n / mm_s
    print(
        f"(c) forward {fwd_s * 1e3:.1f} ms, matmul [{m},{k}]x[{k},{n}] {mm_s * 1e3:.2f} ms "
        f"({share})"
    )
    ratio = fwd_rate / mm_rate
    return [
        (
            "(c) forward FLOP/s / matmul FLOP/s",
            f"{ratio:.3f} ({fwd_rate / 1e9:.1f} / {mm_rate / 1e9:.1f} GFLOP/s)",
            f"≥ {GOALS['flops']}",
            ratio >= GOALS["flops"],
        )
    ]


# ----------------------------------------------------------------------------- main
def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--steps", type=int, default=5, help="timed steps for (a) and (c)")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps before those")
    p.add_argument("--quick", action="store_true", help="tiny model and sizes: a smoke check")
    p.add_argument("--only", choices=["a", "b", "c"], help="run one part only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=8, help="(a), (c): rows")
    p.add_argument("--seq-len", type=int, default=256, help="(a), (c): tokens per row")
    p.add_argument("--label-len", type=int, default=4, help="(a): label tokens per row")
    p.add_argument("--gen-batch", type=int, default=1, help="(b): rows")
    p.add_argument("--gen-src", type=int, default=32, help="(b): source units per row")
    p.add_argument("--gen-len", type=int, default=200, help="(b): tokens to generate")
    p.add_argument("--worker", choices=["prompt", "full"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.dtype != "float32" and not args.device.startswith("cuda"):
        print(f"warning: {args.dtype} on {args.device} is slow and not a target", file=sys.stderr)
    return args


def main() -> None:
    args = parse_args()
    if args.worker:
        print(json.dumps(train_worker(args.worker, args)))
        return

    sizes = sizes_from(args)
    c = sizes.config
    print(
        f"torch {torch.__version__}, python {platform.python_version()}, "
        f"{platform.machine()} {os.cpu_count()} CPUs, threads {torch.get_num_threads()}, "
        f"device {args.device}"
        + (
            f" ({torch.cuda.get_device_name(args.device)})"
            if args.device.startswith("cuda")
            else ""
        )
        + f", dtype {args.dtype}"
    )
    print(
        f"model: {c.num_layers} layers, d={c.embed_dim}, {c.num_heads} heads, FFN {c.ffn_dim}, "
        f"vocab {c.vocab_size}; (a)/(c) {sizes.batch}x{sizes.seq_len} tokens, "
        f"(b) {sizes.gen_batch}x{sizes.gen_src} units -> {sizes.gen_len} tokens; "
        f"warm-up {args.warmup}, median of {args.steps}",
        flush=True,
    )
    busy = cpu_busy_fraction()
    if busy is not None:
        print(f"CPUs busy before start: {busy:.0%}", flush=True)
        if busy > 0.2:
            print("warning: other processes use the CPUs; timings will be noisy", file=sys.stderr)
    start = time.perf_counter()
    rows = []
    parts = {"a": bench_training, "b": bench_decoding, "c": bench_flops}
    for name, fn in parts.items():
        if args.only in (None, name):
            rows += fn(args)
    print()
    print("| metric | measured | goal | met |")
    print("|---|---|---|---|")
    for metric, measured, goal, met in rows:
        print(f"| {metric} | {measured} | {goal} | {'yes' if met else 'NO'} |")
    print(f"\ntotal {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
