"""Benchmark a prompted Unit-mBART-shaped encoder-decoder (random weights, CPU by default).

Model: Unit mBART's architecture (pre-LN, GELU, learned positions, ``layernorm_embedding``,
shared embeddings) at ``--layers`` encoder + ``--layers`` decoder layers,
d=``--dim``, ``--heads`` heads, FFN ``--ffn``, vocabulary ``--vocab`` (defaults: the Unit mBART
shape, 12+12, d=1024, 16 heads, FFN 4096, 1007 tokens), fp32, ``torch.manual_seed(0)``.

(a) Beam search (``--beam``, default 5) of exactly ``--gen-len`` tokens per source for
    ``--batch`` sources of ``--src-len`` units, with the decoding state (self-attention keys/values
    with the prompt prefix, cross-attention K/V computed once per source) vs recomputing the
    teacher-forced forward (encoder and decoder prefix) every step (``test/recompute.py``).
    The verbalizer maps every unit to a label and pins ``</s>`` to -1e4, so no beam ends early (``</s>`` is forced at the last step). One warm-up, then ``--steps`` timed runs
    (median); tokens/s counts beam rows x generated tokens / wall time (encoder included).
(b) Training step (zero_grad + forward + backward + Adam step) at ``--batch`` x ``--src-len``
    source units and ``--label-len`` label tokens: prompt tuning (``PromptConfig(5, 5)``:
    encoder input prompt, deep prompts in every encoder and decoder self-attention) vs full
    fine-tuning of the same model on the same loss (all parameters, Adam). Median of ``--steps``
    after one warm-up step.
(c) Trainable parameters of a ~10M prompt budget (input prompt + encoder and decoder deep
    prompts of length ``--budget-len``) against the whole model.

CPU timings are only meaningful on an idle machine; the CPU share each measurement got is printed
(CPU time / (wall time x threads)). ``--quick``: a 2+2-layer d=256 smoke run (seconds).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch

from espnet2_speechprompt.prompt.prompted_encdec import PromptedEncoderDecoder
from espnet2_speechprompt.prompt.prompts import PromptConfig
from espnet2_speechprompt.speechlm.encoder import EncoderDecoderModel, TransformerEncoder
from espnet2_speechprompt.speechlm.transformer_lm import (
    DecoderConfig,
    EncoderConfig,
    TransformerDecoder,
)
from espnet2_speechprompt.verbalizer.fixed import FixedVerbalizer
from espnet2_speechprompt.vocab import EOS


class NoEOSVerbalizer(FixedVerbalizer):
    def forward(self, lm_logits: torch.Tensor) -> torch.Tensor:
        out = super().forward(lm_logits).clone()
        out[..., EOS] = -1e4
        return out


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall seconds over ``repeats`` (after one warm-up) and the CPU share it got."""
    fn()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    share = sum(cpus) / (sum(walls) * torch.get_num_threads())
    return statistics.median(walls), share


def build(args: argparse.Namespace, prompt: PromptConfig) -> PromptedEncoderDecoder:
    torch.manual_seed(0)
    config = dict(
        vocab_size=args.vocab,
        embed_dim=args.dim,
        ffn_dim=args.ffn,
        num_layers=args.layers,
        num_heads=args.heads,
        activation="gelu",
        learned_positions=True,
        layernorm_embedding=True,
        max_positions=1024,
    )
    decoder = TransformerDecoder(DecoderConfig(**config, cross_attention=True))
    encoder = TransformerEncoder(EncoderConfig(**config))
    encoder.embed_tokens.weight = decoder.embed_tokens.weight  # shared embeddings
    backbone = EncoderDecoderModel(encoder, decoder)
    verbalizer = NoEOSVerbalizer(list(range(4, args.vocab)))
    return PromptedEncoderDecoder(backbone.eval(), verbalizer, prompt)


def data(args: argparse.Namespace) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(1)
    units = torch.randint(4, args.vocab, (args.batch, args.src_len), generator=gen)
    labels = torch.randint(4, args.vocab, (args.batch, args.label_len), generator=gen)
    lengths = torch.full((args.batch,), args.src_len)
    return units, lengths, labels, torch.full((args.batch,), args.label_len)


def reference_search() -> Callable:
    """``test/recompute.py``'s decoding by recomputation (the repository root on the path)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from test.recompute import recomputed_search

    return recomputed_search


def bench_beam(args: argparse.Namespace, model: PromptedEncoderDecoder) -> None:
    units, lengths, _, _ = data(args)
    rows = {}
    for cached, search in ((True, model.search), (False, partial(reference_search(), model))):

        def run(search: Callable = search) -> None:
            out = search(units, lengths, beam_size=args.beam, max_len_b=args.gen_len)
            assert all(len(h.tokens) == args.gen_len for row in out for h in row)

        seconds, share = timed(run, args.steps)
        rows[cached] = args.batch * args.beam * args.gen_len / seconds
        print(f"(a) beam {args.beam}, cache={cached}: {seconds:.2f} s, "
              f"{rows[cached]:.1f} beam tokens/s (CPU share {share:.2f})")  # fmt: skip
    print(f"(a) cache speed-up: {rows[True] / rows[False]:.2f}x")


def bench_training(args: argparse.Namespace, model: PromptedEncoderDecoder) -> None:
    batch = data(args)
    times = {}
    for kind in ("prompt", "full"):
        for p in model.backbone.parameters():
            p.requires_grad_(kind == "full")
        params = [p for p in model.parameters() if p.requires_grad]
        optim = torch.optim.Adam(params, lr=1e-5)

        def step(optim: torch.optim.Optimizer = optim) -> None:
            optim.zero_grad()
            model(*batch)["loss"].backward()
            optim.step()

        model.train()
        times[kind], share = timed(step, args.steps)
        count = sum(p.numel() for p in params)
        print(f"(b) {kind}: {times[kind]:.2f} s/step, {count:,} trainable (CPU share {share:.2f})")
        del optim
    for p in model.backbone.parameters():
        p.requires_grad_(False)
    print(f"(b) prompt / full step time: {times['prompt'] / times['full']:.2f} (goal <= 0.6)")


def bench_budget(args: argparse.Namespace) -> None:
    n = args.budget_len
    model = build(args, PromptConfig(n, n, separator=False, dropout=0.0))
    trainable, total = model.parameter_counts()
    print(f"(c) prompts of length {n} (input + encoder/decoder deep): {trainable:,} trainable "
          f"of {total:,} ({100 * trainable / total:.2f}%; backbone {total - trainable:,})")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--dim", type=int, default=1024)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--ffn", type=int, default=4096)
    p.add_argument("--vocab", type=int, default=1007)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--src-len", type=int, default=40)
    p.add_argument("--label-len", type=int, default=10)
    p.add_argument("--gen-len", type=int, default=20)
    p.add_argument("--beam", type=int, default=5)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--budget-len", type=int, default=200)
    p.add_argument("--only", choices=["a", "b", "c"])
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.layers, args.dim, args.heads, args.ffn, args.steps = 2, 256, 4, 1024, 1
    print(f"model: {args.layers}+{args.layers} layers, d={args.dim}, {args.heads} heads, "
          f"FFN {args.ffn}, vocab {args.vocab}; {torch.get_num_threads()} threads")  # fmt: skip
    model = build(args, PromptConfig(5, 5, separator=False, dropout=0.0))
    with torch.no_grad():
        if args.only in (None, "a"):
            bench_beam(args, model.eval())
    if args.only in (None, "b"):
        bench_training(args, model)
    if args.only in (None, "c"):
        bench_budget(args)


if __name__ == "__main__":
    main()
