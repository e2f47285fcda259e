"""End-to-end prompt-tuning demo on synthetic units (CPU, about a minute, no downloads).

1. make a synthetic unit corpus (classes own "home" units; cpc-style dict.txt order);
2. pre-train a small unit LM on its unlabeled sequences;
3. save it as a GSLM release (``checkpoint_best.pt`` + ``dict.txt``) and load it back through
   the same loader a real GSLM checkpoint goes through;
4. freeze it and tune prompts with each verbalizer (random, frequency, learnable);
5. report held-out accuracy, trainable parameters and prompt-only checkpoint sizes.

    python -m espnet2_speechprompt.bin.demo --outdir exp/demo
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from .. import training
from ..batching import pad_batch
from ..checkpoints.unit_lm import load_unit_lm, save_unit_lm
from ..data.synthetic import ToyCorpus, frequency_counts, make_toy_corpus
from ..fileio import atomic_path, atomic_write_text
from ..prompt.prompted_lm import PromptedUnitLM
from ..prompt.prompts import PromptConfig
from ..speechlm.pretrain import PretrainConfig, pretrain_unit_lm
from ..speechlm.transformer_lm import TransformerDecoder
from ..verbalizer.fixed import FixedVerbalizer, frequency_mapping, random_mapping
from ..verbalizer.learnable import LearnableVerbalizer
from ..vocab import NUM_SPECIALS

Example = tuple[list[int], int]  # (backbone token ids, class)
DEMO_LM = PretrainConfig(
    embed_dim=32, num_layers=2, num_heads=4, ffn_dim=64, max_epoch=4, lr=3e-3, batch_size=32,
    max_positions=256,
)  # fmt: skip


def pretrain_lm(corpus: ToyCorpus, seed: int = 0, epochs: int = 4) -> TransformerDecoder:
    """The demo's small unit LM: next-unit prediction on the unlabeled train utterances."""
    config = dataclasses.replace(DEMO_LM, max_epoch=epochs, seed=seed)
    return pretrain_unit_lm([units for units, _ in corpus.train], None, len(corpus.vocab), config)


def tune_prompts(
    model: PromptedUnitLM,
    data: list[Example],
    epochs: int = 8,
    batch_size: int = 32,
    lr: float = 5e-3,
    seed: int = 0,
) -> list[float]:
    """Adam on the trainable parameters (official settings: lr 5e-3, betas 0.9/0.98, clip 1);
    returns the loss of every step."""
    params = [p for p in model.parameters() if p.requires_grad]

    def label_loss(batch: list[Example]) -> tuple[torch.Tensor, int]:
        units, lengths = pad_batch([units for units, _ in batch])
        labels = torch.tensor([[NUM_SPECIALS + label] for _, label in batch])
        out = model(units, lengths, labels, torch.ones(len(labels), dtype=torch.long))
        return out["loss"], len(batch)

    history = training.train(
        model,
        training.reshuffled(data, batch_size),
        label_loss,
        torch.optim.Adam(params, lr=lr, betas=(0.9, 0.98)),
        epochs,
        seed=seed,
        clip_norm=1.0,
    )
    return history.step_losses


def accuracy(model: PromptedUnitLM, data: list[Example], num_classes: int) -> float:
    candidates = torch.arange(NUM_SPECIALS, NUM_SPECIALS + num_classes)[:, None]
    correct = 0
    for i in range(0, len(data), 64):
        units, lengths = pad_batch([u for u, _ in data[i : i + 64]])
        best, _ = model.classify(units, lengths, candidates)
        correct += sum(int(b) == c for b, (_, c) in zip(best, data[i : i + 64], strict=True))
    return correct / len(data)


def build_verbalizer(kind: str, corpus: ToyCorpus, seed: int):
    units = corpus.vocab.unit_indices()
    if kind == "random":
        return FixedVerbalizer(random_mapping(corpus.num_classes, units, seed))
    if kind == "frequency":
        return FixedVerbalizer(frequency_mapping(*frequency_counts(corpus)))
    init = random_mapping(corpus.num_classes, units, seed)
    return LearnableVerbalizer(len(corpus.vocab), corpus.num_classes, init_tokens=init)


def state_bytes(state: dict[str, torch.Tensor]) -> int:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getbuffer().nbytes


def save_prompts(model: PromptedUnitLM, path: Path) -> int:
    state = {k: v.contiguous() for k, v in model.trainable_state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, os.fspath(tmp), metadata={"format": "pt"})
    return path.stat().st_size


def results_markdown(
    rows: list[tuple], backbone: torch.nn.Module, ckpt: Path, seconds: float
) -> str:
    """RESULTS.md: one row per verbalizer (``rows`` as ``main`` collects them)."""
    backbone_bytes = state_bytes(backbone.state_dict())
    lines = [
        "# Synthetic prompt-tuning demo",
        "",
        f"Frozen unit LM: {sum(p.numel() for p in backbone.parameters()):,} parameters "
        f"({backbone_bytes / 1024:.0f} KiB state dict), loaded from `{ckpt}`.",
        "",
        "| verbalizer | test acc (untuned) | test acc (tuned) | trainable params | "
        "prompt file (bytes) | size vs backbone | tuning time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, before, after, trainable, _, size, tuning_seconds in rows:
        lines.append(
            f"| {kind} | {before:.3f} | {after:.3f} | {trainable:,} | {size:,} | "
            f"{size / backbone_bytes:.3f} | {tuning_seconds:.1f} |"
        )
    lines += ["", f"Total run time: {seconds:.0f} s (CPU, {torch.get_num_threads()} threads)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", type=Path, default=Path("exp/demo"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prompt-length", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-2)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    start = time.time()
    args.outdir.mkdir(parents=True, exist_ok=True)

    corpus = make_toy_corpus(seed=args.seed)
    print(
        f"[1/4] synthetic corpus: {len(corpus.train)} train / {len(corpus.test)} test, "
        f"{corpus.num_classes} classes, {len(corpus.vocab) - 4} units"
    )
    lm = pretrain_lm(corpus, seed=args.seed)
    ckpt = save_unit_lm(lm, corpus.vocab, args.outdir / "unit_lm")
    print(f"[2/4] pre-trained unit LM saved in the GSLM layout: {ckpt}")
    backbone, vocab = load_unit_lm(ckpt)

    rows = []
    for kind in ("random", "frequency", "learnable"):
        torch.manual_seed(args.seed)
        model = PromptedUnitLM(
            backbone,
            build_verbalizer(kind, corpus, args.seed),
            PromptConfig(args.prompt_length, args.prompt_length, dropout=0.0),
        )
        before = accuracy(model, corpus.test, corpus.num_classes)
        t0 = time.time()
        tune_prompts(model, corpus.train, epochs=args.epochs, lr=args.lr, seed=args.seed)
        seconds = time.time() - t0
        after = accuracy(model, corpus.test, corpus.num_classes)
        size = save_prompts(model, args.outdir / f"prompts_{kind}.safetensors")
        trainable, total = model.parameter_counts()
        rows.append((kind, before, after, trainable, total, size, seconds))
        print(
            f"[3/4] {kind:9s} verbalizer: accuracy {before:.3f} -> {after:.3f} "
            f"({trainable:,} trainable of {total:,} parameters, {seconds:.1f} s)"
        )
        if isinstance(model.verbalizer, LearnableVerbalizer):
            for c, top in enumerate(model.verbalizer.explain(3, vocab.symbols)):
                units = ", ".join(f"{u} ({w:+.2f})" for u, w in top)
                print(f"      label {c} weighs units {units}")

    results = args.outdir / "RESULTS.md"
    atomic_write_text(results, results_markdown(rows, backbone, ckpt, time.time() - start))
    print(f"[4/4] results: {results}")


if __name__ == "__main__":
    main()
