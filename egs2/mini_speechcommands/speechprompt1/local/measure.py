#!/usr/bin/env python3
"""Measure the mini recipe end to end (not run in CI): corpus -> MFCC units -> unit LM ->
prompt tuning, with wall times for every step and accuracy on the unseen test voices.

1. ``local/synthesize.py`` makes the espeak-ng corpus (train/valid/test voices disjoint);
2. ``espnet2_speechprompt.bin.learn_kmeans`` learns k-means on the train MFCCs and
   ``espnet2_speechprompt.bin.dump_units --dedup`` writes the units of every set;
3. a small unit LM is pre-trained on the train units only (no labels; the epoch with the best
   valid next-unit loss is kept), saved in the GSLM release layout (``checkpoint_best.pt`` +
   ``dict.txt``) and loaded back through ``load_unit_lm``;
4. prompts are tuned on the frozen LM with the frequency (fixed) and the learnable verbalizer;
   the epoch with the best valid accuracy is kept and scored on test, overall and per voice;
5. optional baselines on the same units (``--baselines``): logistic regression on unit
   unigrams + bigrams and a supervised bidirectional GRU, to tell the units' ceiling.

    python local/measure.py --workdir exp/measure --baselines

Every stage is skipped when its output exists (``--force`` redoes them); results go to
``<workdir>/results.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from espnet2_speechprompt.batching import pad_batch
from espnet2_speechprompt.checkpoints.unit_lm import load_unit_lm, save_unit_lm
from espnet2_speechprompt.prompt.prompted_lm import PromptedUnitLM
from espnet2_speechprompt.prompt.prompts import PromptConfig
from espnet2_speechprompt.speechlm.transformer_lm import DecoderConfig, TransformerDecoder
from espnet2_speechprompt.verbalizer.fixed import FixedVerbalizer, frequency_mapping
from espnet2_speechprompt.verbalizer.learnable import LearnableVerbalizer
from espnet2_speechprompt.vocab import NUM_SPECIALS, PAD, Dictionary

HERE = Path(__file__).resolve().parent
SPLITS = ("train", "valid", "test")
TIMES: dict[str, float] = {}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def timed(name: str):
    class _Timer:
        def __enter__(self):
            self.start = time.perf_counter()

        def __exit__(self, *exc):
            TIMES[name] = round(time.perf_counter() - self.start, 1)
            log(f"{name}: {TIMES[name]} s")

    return _Timer()


def run(cmd: list[str]) -> None:
    log("$ " + " ".join(cmd))
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


# ----------------------------------------------------------------------------- stages 1-2
def synthesize(args: argparse.Namespace) -> None:
    cmd = [
        sys.executable,
        str(HERE / "synthesize.py"),
        "--corpus-dir",
        str(args.workdir / "corpus"),
        "--data-dir",
        str(args.workdir / "data"),
        "--nj",
        str(args.nj),
        "--seed",
        str(args.seed),
        *args.synth_args,
    ]
    if subprocess.run([*cmd, "--check"]).returncode == 0 and not args.force:
        log("corpus complete: skipped")
        return
    with timed("synthesize"):
        run(cmd)


def make_units(args: argparse.Namespace) -> None:
    work = args.workdir
    km = work / f"km{args.n_clusters}.npy"
    feature = ["--feature", "mfcc"] + (["--no-cmvn"] if args.no_cmvn else [])
    if args.force or not km.is_file():
        with timed("learn_kmeans"):
            run(
                [sys.executable, "-m", "espnet2_speechprompt.bin.learn_kmeans",
                 "--data-dir", str(work / "data" / "train"), *feature,
                 "--n-clusters", str(args.n_clusters), "--seed", str(args.seed),
                 "--out", str(km)]
            )  # fmt: skip
    for split in SPLITS:
        out = units_dir(args) / split
        if args.force or not (out / "units").is_file():
            with timed(f"dump_units_{split}"):
                run(
                    [sys.executable, "-m", "espnet2_speechprompt.bin.dump_units",
                     "--data-dir", str(work / "data" / split), *feature, "--km", str(km),
                     "--out-dir", str(out), "--dedup"]
                )  # fmt: skip


def units_dir(args: argparse.Namespace) -> Path:
    return args.workdir / f"units_km{args.n_clusters}"


# ----------------------------------------------------------------------------- data
def read_pairs(path: Path) -> dict[str, list[str]]:
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if parts:
                out[parts[0]] = parts[1:]
    return out


def load_split(args: argparse.Namespace, split: str, vocab: Dictionary, keywords: list[str]):
    """``[(utt, token ids, label index, speaker)]`` of one set."""
    units = read_pairs(units_dir(args) / split / "units")
    data_dir = args.workdir / "data" / split
    labels = {u: v[0] for u, v in read_pairs(data_dir / "label").items()}
    speakers = {u: v[0] for u, v in read_pairs(data_dir / "utt2spk").items()}
    index = {k: i for i, k in enumerate(keywords)}
    rows = []
    for utt, seq in units.items():
        tokens = vocab.encode(seq, f"{split}/{utt}")[: args.max_units]
        rows.append((utt, tokens, index[labels[utt]], speakers[utt]))
    return rows


# ----------------------------------------------------------------------------- stage 3
def lm_loss(model: TransformerDecoder, rows: list[list[int]], dropout: float = 0.0) -> torch.Tensor:
    tokens, _ = pad_batch([[2, *r, 2] for r in rows])
    inputs = tokens[:, :-1]
    embeds = F.dropout(model.embed(inputs), dropout, model.training) if dropout else None
    logits = model(inputs, embeds=embeds)
    return F.cross_entropy(logits.transpose(1, 2), tokens[:, 1:], ignore_index=PAD)


@torch.no_grad()
def lm_valid_loss(model: TransformerDecoder, rows: list[list[int]]) -> float:
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(rows), 128):
        batch = rows[i : i + 128]
        n = sum(len(r) + 1 for r in batch)
        total += float(lm_loss(model, batch)) * n
        count += n
    return total / count


def pretrain_lm(args: argparse.Namespace, vocab: Dictionary, train, valid) -> Path:
    """Next-unit prediction on the train units (labels unused); best epoch on valid loss."""
    lm_dir = args.workdir / f"lm_km{args.n_clusters}_d{args.lm_dim}_l{args.lm_layers}"
    if not args.force and (lm_dir / "checkpoint_best.pt").is_file():
        log(f"{lm_dir}: exists, skipped")
        return lm_dir
    torch.manual_seed(args.seed)
    config = DecoderConfig(
        len(vocab),
        embed_dim=args.lm_dim,
        ffn_dim=4 * args.lm_dim,
        num_layers=args.lm_layers,
        num_heads=args.lm_heads,
        max_positions=args.max_units + 8,
    )
    model = TransformerDecoder(config)
    optim = torch.optim.AdamW(
        model.parameters(), lr=args.lm_lr, betas=(0.9, 0.98), weight_decay=0.01
    )
    rows = [r[1] for r in train]
    held = [r[1] for r in valid]
    steps = args.lm_epochs * math.ceil(len(rows) / args.lm_batch)
    warmup = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim,
        lambda s: min((s + 1) / warmup, 0.5 * (1 + math.cos(math.pi * min(s / steps, 1.0)))),
    )
    gen = random.Random(args.seed)
    best, best_state, history = float("inf"), None, []
    with timed("pretrain_lm"):
        for epoch in range(1, args.lm_epochs + 1):
            model.train()
            gen.shuffle(rows)
            for i in range(0, len(rows), args.lm_batch):
                loss = lm_loss(model, rows[i : i + args.lm_batch], args.lm_dropout)
                optim.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optim.step()
                sched.step()
            valid_loss = lm_valid_loss(model, held)
            history.append(round(valid_loss, 4))
            log(f"lm epoch {epoch}: train {float(loss.detach()):.3f} valid {valid_loss:.3f}")
            if valid_loss < best:
                best = valid_loss
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    save_unit_lm(model.eval(), vocab, lm_dir)
    with open(lm_dir / "train_log.json", "w", encoding="utf-8") as f:
        json.dump({"valid_loss": history, "best": best}, f)
    return lm_dir


# ----------------------------------------------------------------------------- stage 4
def accuracy(model: PromptedUnitLM, data, num_classes: int) -> tuple[float, list[int]]:
    candidates = torch.arange(NUM_SPECIALS, NUM_SPECIALS + num_classes)[:, None]
    predictions = []
    model.eval()
    for i in range(0, len(data), 128):
        batch = data[i : i + 128]
        units, lengths = pad_batch([r[1] for r in batch])
        best, _ = model.classify(units, lengths, candidates)
        predictions += [int(b) for b in best]
    correct = sum(p == r[2] for p, r in zip(predictions, data, strict=True))
    return correct / len(data), predictions


def tune(args: argparse.Namespace, backbone, vocab, keywords, train, valid, test, kind: str):
    torch.manual_seed(args.seed)
    num_classes = len(keywords)
    label_counts = Counter(r[2] for r in train)
    unit_counts = Counter(t for r in train for t in r[1])
    mapping = frequency_mapping([label_counts[c] for c in range(num_classes)], unit_counts)
    if kind == "learnable":
        verbalizer = LearnableVerbalizer(len(vocab), num_classes, init_tokens=mapping)
    else:
        verbalizer = FixedVerbalizer(mapping)
    prompt_config = PromptConfig(
        input_length=args.input_prompt, deep_length=args.deep_prompt, dropout=args.prompt_dropout
    )
    model = PromptedUnitLM(backbone, verbalizer, prompt_config)
    trainable = model.parameter_counts()[0]
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.Adam(params, lr=args.lr, betas=(0.9, 0.98))
    steps = args.epochs * math.ceil(len(train) / args.batch)
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: 0.5 * (1 + math.cos(math.pi * min(s / steps, 1.0)))
    )
    gen = random.Random(args.seed)
    data = list(train)
    best = (-1.0, None, 0)
    history = []
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        gen.shuffle(data)
        losses = []
        for i in range(0, len(data), args.batch):
            batch = data[i : i + args.batch]
            units, lengths = pad_batch([r[1] for r in batch])
            labels = torch.tensor([[NUM_SPECIALS + r[2]] for r in batch])
            out = model(units, lengths, labels, torch.ones(len(batch), dtype=torch.long))
            optim.zero_grad()
            out["loss"].backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optim.step()
            sched.step()
            losses.append(float(out["loss"].detach()))
        valid_acc, _ = accuracy(model, valid, num_classes)
        history.append(round(valid_acc, 4))
        log(f"{kind} epoch {epoch}: loss {np.mean(losses):.3f} valid acc {valid_acc:.4f}")
        if valid_acc > best[0]:
            best = (
                valid_acc,
                {k: v.clone() for k, v in model.trainable_state_dict().items()},
                epoch,
            )
    train_seconds = time.perf_counter() - start
    model.load_state_dict(best[1], strict=False)
    start = time.perf_counter()
    test_acc, predictions = accuracy(model, test, num_classes)
    per_voice = defaultdict(list)
    per_word = defaultdict(list)
    for p, r in zip(predictions, test, strict=True):
        per_voice[r[3]].append(p == r[2])
        per_word[keywords[r[2]]].append(p == r[2])
    return {
        "verbalizer": kind,
        "trainable_params": trainable,
        "best_epoch": best[2],
        "valid_acc": round(best[0], 4),
        "test_acc": round(test_acc, 4),
        "test_acc_per_voice": {
            k: round(float(np.mean(v)), 4) for k, v in sorted(per_voice.items())
        },
        "test_acc_per_word": {k: round(float(np.mean(v)), 4) for k, v in sorted(per_word.items())},
        "valid_history": history,
        "train_seconds": round(train_seconds, 1),
        "test_seconds": round(time.perf_counter() - start, 1),
    }


# ----------------------------------------------------------------------------- stage 5
def baselines(args: argparse.Namespace, train, valid, test, num_classes: int) -> dict:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    out = {}
    start = time.perf_counter()

    def grams(seq: list[int]) -> list[str]:
        return [str(t) for t in seq] + [f"{a}_{b}" for a, b in zip(seq, seq[1:], strict=False)]

    vec = CountVectorizer(analyzer=grams)
    lr = LogisticRegression(C=1.0, max_iter=3000)
    lr.fit(vec.fit_transform([r[1] for r in train]), [r[2] for r in train])
    out["logreg_bigram"] = {
        s: round(lr.score(vec.transform([r[1] for r in d]), [r[2] for r in d]), 4)
        for s, d in (("valid", valid), ("test", test))
    }
    out["logreg_bigram"]["seconds"] = round(time.perf_counter() - start, 1)
    log(f"logistic regression on unit bigrams: {out['logreg_bigram']}")

    torch.manual_seed(args.seed)
    vocab_size = max(t for d in (train, valid, test) for r in d for t in r[1]) + 1

    class BiGRU(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(vocab_size, 64, padding_idx=PAD)
            self.gru = torch.nn.GRU(64, 128, batch_first=True, bidirectional=True)
            self.out = torch.nn.Linear(256, num_classes)
            self.drop = torch.nn.Dropout(0.3)

        def forward(self, units, lengths):
            hidden, _ = self.gru(self.drop(self.embed(units)))
            mask = (torch.arange(units.shape[1])[None] < lengths[:, None]).float()[..., None]
            return self.out(self.drop((hidden * mask).sum(1) / lengths[:, None]))

    def gru_acc(model, data):
        model.eval()
        with torch.no_grad():
            units, lengths = pad_batch([r[1] for r in data])
            return float(
                (model(units, lengths).argmax(1) == torch.tensor([r[2] for r in data]))
                .float()
                .mean()
            )

    model = BiGRU()
    optim = torch.optim.Adam(model.parameters(), lr=2e-3)
    gen = random.Random(args.seed)
    data = list(train)
    best = (-1.0, None, 0)
    start = time.perf_counter()
    for epoch in range(1, args.gru_epochs + 1):
        model.train()
        gen.shuffle(data)
        for i in range(0, len(data), 32):
            units, lengths = pad_batch([r[1] for r in data[i : i + 32]])
            loss = F.cross_entropy(
                model(units, lengths), torch.tensor([r[2] for r in data[i : i + 32]])
            )
            optim.zero_grad()
            loss.backward()
            optim.step()
        valid_acc = gru_acc(model, valid)
        if valid_acc > best[0]:
            best = (valid_acc, {k: v.clone() for k, v in model.state_dict().items()}, epoch)
    model.load_state_dict(best[1])
    out["bigru"] = {
        "valid": round(best[0], 4),
        "test": round(gru_acc(model, test), 4),
        "best_epoch": best[2],
        "seconds": round(time.perf_counter() - start, 1),
    }
    log(f"supervised BiGRU on units: {out['bigru']}")
    return out


# ----------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--workdir", type=Path, default=Path("exp/measure"))
    p.add_argument("--nj", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--force", action="store_true", help="redo stages whose outputs exist")
    p.add_argument("--skip-synth", action="store_true", help="use <workdir>/data as it is")
    p.add_argument(
        "--synth-args", nargs=argparse.REMAINDER, default=[],
        help="the rest of the command line goes to synthesize.py",
    )  # fmt: skip
    g = p.add_argument_group("units")
    g.add_argument("--n-clusters", type=int, default=100)
    g.add_argument("--no-cmvn", action="store_true")
    g.add_argument("--max-units", type=int, default=200, help="longer unit sequences are cut")
    g = p.add_argument_group("unit LM")
    g.add_argument("--lm-dim", type=int, default=128)
    g.add_argument("--lm-layers", type=int, default=3)
    g.add_argument("--lm-heads", type=int, default=4)
    g.add_argument("--lm-epochs", type=int, default=10)
    g.add_argument("--lm-batch", type=int, default=32)
    g.add_argument("--lm-lr", type=float, default=2e-3)
    g.add_argument("--lm-dropout", type=float, default=0.1, help="input-embedding dropout")
    g = p.add_argument_group("prompt tuning")
    g.add_argument("--verbalizers", nargs="+", default=["learnable", "frequency"])
    g.add_argument("--input-prompt", type=int, default=0)
    g.add_argument("--deep-prompt", type=int, default=10)
    g.add_argument("--prompt-dropout", type=float, default=0.1)
    g.add_argument("--lr", type=float, default=5e-3)
    g.add_argument("--epochs", type=int, default=10)
    g.add_argument("--batch", type=int, default=32)
    g = p.add_argument_group("baselines")
    g.add_argument("--baselines", action="store_true", help="logistic regression and BiGRU")
    g.add_argument("--gru-epochs", type=int, default=8)
    g.add_argument("--skip-prompts", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    args.workdir.mkdir(parents=True, exist_ok=True)
    total = time.perf_counter()
    if not args.skip_synth:
        synthesize(args)
    make_units(args)

    keywords = [w.strip() for w in open(args.workdir / "data" / "keywords.txt") if w.strip()]
    counts = Counter()
    for seq in read_pairs(units_dir(args) / "train" / "units").values():
        counts.update(seq)
    # numeric dict.txt order (as hubert100's), counts from the train units
    symbols = [str(u) for u in range(args.n_clusters)]
    vocab = Dictionary(symbols, [counts.get(s, 0) for s in symbols])
    sets = {s: load_split(args, s, vocab, keywords) for s in SPLITS}
    lengths = [len(r[1]) for r in sets["train"]]
    log(
        f"units per utterance (train): mean {np.mean(lengths):.1f}, max {max(lengths)}; "
        + ", ".join(f"{s} {len(d)}" for s, d in sets.items())
    )
    results: dict = {"args": {k: str(v) for k, v in vars(args).items()}, "runs": []}
    if args.baselines:
        with timed("baselines"):
            results["baselines"] = baselines(
                args, sets["train"], sets["valid"], sets["test"], len(keywords)
            )
    if not args.skip_prompts:
        lm_dir = pretrain_lm(args, vocab, sets["train"], sets["valid"])
        backbone, loaded_vocab = load_unit_lm(lm_dir / "checkpoint_best.pt")
        assert loaded_vocab.symbols == vocab.symbols
        for kind in args.verbalizers:
            with timed(f"prompt_{kind}"):
                result = tune(
                    args,
                    backbone,
                    vocab,
                    keywords,
                    sets["train"],
                    sets["valid"],
                    sets["test"],
                    kind,
                )
            log(
                f"{kind}: test {result['test_acc']} (valid {result['valid_acc']}, epoch {result['best_epoch']})"
            )
            log(f"  per voice: {result['test_acc_per_voice']}")
            results["runs"].append(result)
    TIMES["total"] = round(time.perf_counter() - total, 1)
    results["times"] = TIMES
    out = args.workdir / "results.json"
    with open(out, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    log(f"wrote {out}; times {TIMES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
