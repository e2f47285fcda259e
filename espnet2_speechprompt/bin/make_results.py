r"""Write RESULTS.md (ESPnet style) and the plots for a trained and decoded task.

    python -m espnet2_speechprompt.bin.make_results --expdir exp/speechprompt_train \
        --inference_tag decode_speechprompt_model_valid.acc.best --dumpdir dump \
        --test_sets valid test --output exp/speechprompt_train/RESULTS.md

Reads the experiment dir ``{expdir}`` (config, model file, and ``checkpoint.pth``, whose
reporter state gives ESPnet's training curves in ``images/``, so training may run with
``use_matplotlib: false``), the scores of stage 9 (``{expdir}/{inference_tag}/<set>/
result.json``, for speech output ``asr_bleu/result.json``, for generated units
``speechgen.json``) for the ``--metrics`` columns, ``{expdir}/{inference_tag}/<set>/text``
and ``{dumpdir}/units/<set>/{label,utt2spk}``. The table has one row per decode
(``<decode dir>/<set>``, as ESPnet's): this one's, then the experiment's other decode dirs that
were scored. For classification it adds per-speaker accuracy and a
confusion matrix, and for every task the verbalizer's label->unit map, under
``{expdir}/images/``; the experiments beside ``{expdir}`` on the same backbone are listed too.
The environment records the date, the versions and the git commit of the code, as ESPnet's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import torch
import yaml

from .. import __version__
from ..checkpoints.trainable_state import load_trainable_state
from ..fileio import atomic_write_text
from ..kaldi_text import read_entries
from ..precision import cpu_bf16_flags, dtype_name, resolve_backbone_dtype
from ..vocab import NUM_SPECIALS, Dictionary
from .cli_errors import exit_on_user_error
from .speechprompt_score import read_table


def per_group_accuracy(ref: dict, hyp: dict, group: dict) -> dict[str, tuple[int, float]]:
    totals, correct = Counter(), Counter()
    for utt, text in ref.items():
        key = group.get(utt, "?")
        totals[key] += 1
        correct[key] += hyp.get(utt, "").split() == text.split()
    return {k: (totals[k], correct[k] / totals[k]) for k in sorted(totals)}


def plot_confusion(ref: dict, hyp: dict, labels: list[str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({*ref.values(), *(hyp.get(u, "") for u in ref)} - {""}, key=labels_order(labels))
    index = {n: i for i, n in enumerate(names)}
    counts = torch.zeros(len(names), len(names))
    for utt, text in ref.items():
        if hyp.get(utt) in index:
            counts[index[text], index[hyp[utt]]] += 1
    fig, ax = plt.subplots(figsize=(1 + 0.5 * len(names), 1 + 0.45 * len(names)))
    ax.imshow(counts, cmap="Blues")
    for (i, j), value in zip(torch.cartesian_prod(*[torch.arange(len(names))] * 2).tolist(),
                             counts.flatten().tolist(), strict=True):  # fmt: skip
        if value:
            ax.text(j, i, int(value), ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("reference")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_training_curves(train_dir: Path, images: Path) -> None:
    """ESPnet's per-epoch curves (``loss.png``, ``acc.png``, ...) from the reporter state in
    ``checkpoint.pth``, drawn once (training with ``use_matplotlib: true`` redraws them every
    epoch). The file is read with the resume allow-list (tensors, numpy scalars, timedeltas)."""
    checkpoint = train_dir / "checkpoint.pth"
    if not checkpoint.is_file():
        return
    from espnet2.train.reporter import Reporter

    from ..tasks.trainer import load_training_checkpoint

    reporter = Reporter()
    reporter.load_state_dict(load_training_checkpoint(checkpoint)["reporter"])
    reporter.matplotlib_plot(images)


def labels_order(labels: list[str]):
    rank = {label: i for i, label in enumerate(labels)}
    return lambda name: (rank.get(name, len(rank)), name)


def plot_verbalizer(state: dict, config: dict, vocab: Dictionary, path: Path) -> str:
    """Heatmap of which units each label weighs; returns a one-line description."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = config["label_list"]
    weight = state.get("prompted.verbalizer.linear.weight")
    if weight is not None:
        matrix, kind = weight[NUM_SPECIALS:].float(), "learnable (weights)"
    else:
        matrix = torch.zeros(len(labels), len(vocab))
        for i, unit in enumerate(config["verbalizer_conf"]["label_units"]):
            matrix[i, vocab.index(unit)] = 1.0
        kind = f"fixed ({config['verbalizer_conf']['mode']})"
    units = vocab.unit_indices()
    matrix = matrix[:, units]
    fig, ax = plt.subplots(figsize=(min(2 + 0.12 * len(units), 18), 1 + 0.3 * len(labels)))
    image = ax.imshow(matrix, aspect="auto", cmap="viridis")
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    step = max(1, len(units) // 25)
    ax.set_xticks(range(0, len(units), step), [vocab.symbol(u) for u in units[::step]], fontsize=6)
    ax.set_xlabel("unit")
    ax.set_title(f"verbalizer: label -> unit, {kind}")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    top = matrix.argmax(dim=1).tolist()
    return ", ".join(
        f"{label}->{vocab.symbol(units[t])}" for label, t in zip(labels, top, strict=True)
    )


def git_commit(path: Path) -> tuple[str, str] | None:
    """The commit of the git checkout holding ``path`` (noting uncommitted changes to tracked
    files) and its date; None outside a checkout or without git."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", str(path), *args], capture_output=True, text=True, timeout=60
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return None
    if git("status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    return commit, git("log", "-1", "--format=%cd") or "?"


def environment() -> list[str]:
    """ESPnet's ``## Environments`` lines, then this package and the machine."""
    try:
        import espnet

        espnet_version = espnet.__version__
    except ImportError:
        espnet_version = "not installed"
    lines = [
        f"- date: `{time.strftime('%a %b %d %H:%M:%S %Z %Y')}`",
        f"- python version: `{' '.join(sys.version.split())}`",
        f"- espnet version: `espnet {espnet_version}`",
        f"- pytorch version: `pytorch {torch.__version__}`",
        f"- espnet2_speechprompt version: `{__version__}`",
    ]
    commit = git_commit(Path(__file__).resolve().parent)
    if commit is None:
        lines.append("- Git hash: `unknown` (not run from a git checkout)")
    else:
        lines += [f"- Git hash: `{commit[0]}`", f"  - Commit date: `{commit[1]}`"]
    flags = ", ".join(cpu_bf16_flags()) or "none"
    lines.append(
        f"- machine: `{platform.machine()}`, {os.cpu_count()} CPU cores (bf16 matrix flags: "
        f"{flags}), GPU: {'yes' if torch.cuda.is_available() else 'no'}"
    )
    return lines


def precision_line(config: dict) -> str:
    """The frozen backbone's precision as configured and as it resolves on this machine's
    CPU (training and inference of the recipes run there unless --ngpu/--gpu_inference)."""
    requested = config.get("backbone_precision", "auto")
    resolved = dtype_name(resolve_backbone_dtype(requested, "cpu"))
    return f"- frozen backbone precision: `{requested}` (on this machine's CPU: {resolved})"


def set_results(decode: Path, ref_path: Path, metrics: list[str]) -> dict:
    """The scores of one decoded set: ``result.json`` (stage 9's text metrics) merged with
    ``asr_bleu/result.json`` (the vocoded speech: asr_bleu, asr_wer, asr_cer), ``asr_input/``
    (the vocoded corrupted input: input_asr_wer, ...) and ``speechgen.json``; accuracy is
    computed here when no result file has it."""
    result: dict = {}
    for path in (decode / "result.json", decode / "asr_bleu" / "result.json",
                 decode / "asr_input" / "result.json", decode / "speechgen.json"):  # fmt: skip
        if not path.exists():
            continue
        found = json.loads(path.read_text())
        if path.parent.name in ASR_DIRS:  # its scores named apart; details of asr_bleu/ only
            prefix = ASR_DIRS[path.parent.name]
            scores = {f"{prefix}{k}": found.pop(k) for k in ASR_SCORES if k in found}
            found = {**(found if prefix == "asr_" else {}), **scores}
        result.update(found)
    if "acc" in metrics and "acc" not in result:
        ref, hyp = read_table(ref_path), read_table(decode / "text")
        result["acc"] = sum(hyp.get(u, "").split() == t.split() for u, t in ref.items()) / len(ref)
        result["num_utterances"] = len(ref)
    return result


def scored_decodes(exp: Path, inference_tag: str, sets: list[str]) -> list[str]:
    """``<decode dir>/<set>`` of this decode, then of the experiment's other scored decodes."""
    others = sorted(
        f"{path.name}/{name}"
        for path in exp.iterdir()
        if path.is_dir() and path.name != inference_tag and not path.name.startswith(".")
        for name in sets
        if (path / name / "result.json").is_file()
    )
    return [f"{inference_tag}/{name}" for name in sets] + others


SPEECHGEN_COLUMNS = (
    "unit_bleu",
    "span_unit_error_rate",
    "copy_span_unit_error_rate",
    "auto_bleu_2",
    "self_bleu",
    "perplexity",
)


ASR_SCORES = ("bleu", "wer", "cer")  # of bin/asr_bleu, as columns asr_bleu, ...
ASR_DIRS = {"asr_bleu": "asr_", "asr_input": "input_asr_"}  # the speech, the corrupted input
# asr_wer: of the vocoded speech, then of the vocoded corrupted input (inpainting)
ASR_WER_COLUMNS = ("asr_wer", "asr_cer", "input_asr_wer", "input_asr_cer")


def as_is(metric: str) -> bool:
    """BLEU scores and perplexities are shown as they are; every other column is a rate, in %."""
    return "bleu" in metric or metric == "perplexity"


def expand_metrics(metrics: list[str]) -> list[str]:
    """The columns of ``--metrics``: ``speechgen`` and ``asr_wer`` stand for their scores'."""
    groups = {"speechgen": SPEECHGEN_COLUMNS, "asr_wer": ASR_WER_COLUMNS}
    return [c for m in metrics for c in groups.get(m, (m,))]


def metric_table(
    exp: Path, dump: Path, decodes: list[str], metrics: list[str], config
) -> list[str]:
    """One row per decoded set (``<decode dir>/<set>`` under ``exp``), one column per metric
    (ESPnet style: rates in %, BLEU and perplexity as they are)."""
    lines = [f"|dataset|Snt|{'|'.join(metrics)}|", "|---" * (len(metrics) + 2) + "|"]
    notes = []
    for name in decodes:
        dset = Path(name).name
        result = set_results(exp / name, dump / "units" / dset / "label", metrics)
        cells = []
        for metric in metrics:
            value = result.get(metric)
            if value is None:
                cells.append("-")
            elif as_is(metric):
                cells.append(f"{value:.2f}")
            else:
                cells.append(f"{100 * value:.2f}")
        lines.append(f"|{name}|{result.get('num_utterances', '-')}|{'|'.join(cells)}|")
        for key in ("bleu_signature", "asr_model"):
            if key in result and f"- {key}: `{result[key]}`" not in notes:
                notes.append(f"- {key}: `{result[key]}`")
        if result.get("ref_oov_tokens"):
            notes.append(
                f"- {name}: {result['ref_oov_tokens']} reference tokens "
                f"({100 * result['ref_oov_rate']:.2f}%) are not in the label list"
            )
    rates = [m for m in metrics if not as_is(m)]
    if rates:
        notes.insert(0, f"- in %: {', '.join(rates)}; decoding `{config.get('decoding', 'score')}`")
    return lines + ([""] + notes if notes else [])


def other_experiments(exp: Path, inference_tag: str, sets: list[str], backbone: str) -> list[str]:
    """A table of the experiments beside this one (``<exp>/../*/config.yaml``) on the same
    backbone (e.g. another verbalizer), from their stage 9 ``result.json`` files of the same
    decode dir name."""
    rows = []
    for config_path in sorted(exp.parent.glob("*/config.yaml")):
        other = config_path.parent
        config = yaml.safe_load(config_path.read_text()) or {}
        if other.resolve() == exp.resolve() or "verbalizer" not in config:
            continue
        if config.get("backbone_conf", {}).get("checkpoint") != backbone:
            continue
        cells = []
        for name in sets:
            result = other / inference_tag / name / "result.json"
            acc = json.loads(result.read_text()).get("acc") if result.exists() else None
            cells.append("-" if acc is None else f"{100 * acc:.2f}")
        rows.append(f"|`{other.name}`|{config['verbalizer']}|{'|'.join(cells)}|")
    if not rows:
        return []
    header = [f"|experiment|verbalizer|{'|'.join(f'{s} acc' for s in sets)}|"]
    header.append("|---" * (len(sets) + 2) + "|")
    return [
        "",
        f"### other experiments in `{exp.parent}` (same units and backbone; `{inference_tag}`)",
        "",
        *header,
        *rows,
    ]


def timing_table(paths: list[str]) -> list[str]:
    """The seconds per stage, from files of ``stage seconds`` lines (absent files skipped)."""
    times = defaultdict(float)
    for path in filter(os.path.isfile, paths):
        for entry in read_entries(path, "timings file", unique=False):
            times[entry.key] += float(entry.value or 0)
    if not times:
        return []
    lines = ["", "### run time", "", "|stage|seconds|", "|---|---|"]
    return lines + [f"|{stage}|{seconds:.0f}|" for stage, seconds in times.items()]


def main(cmd: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expdir", required=True, help="the experiment (training) dir")
    parser.add_argument(
        "--inference_tag", required=True, help="the decode dir in it: <expdir>/<tag>/<set>"
    )
    parser.add_argument("--dumpdir", required=True)
    parser.add_argument("--test_sets", nargs="+", required=True)
    parser.add_argument("--model_file", default="valid.acc.best.pth")
    parser.add_argument("--baseline", help="result.json of train_baseline")
    parser.add_argument("--timings", nargs="*", default=[], help="files of 'stage seconds' lines")
    parser.add_argument("--output", required=True)
    parser.add_argument(
        "--metrics", nargs="+", default=["acc"], help="the columns, as scored by stage 9"
    )
    args = parser.parse_args(cmd)
    with exit_on_user_error():
        write_results(args)


def write_results(args: argparse.Namespace) -> None:
    exp, dump = Path(args.expdir), Path(args.dumpdir)
    config = yaml.safe_load((exp / "config.yaml").read_text())
    model_file = exp / args.model_file
    state = load_trainable_state(model_file)
    trainable = sum(v.numel() for v in state.values())
    backbone = Path(config["backbone_conf"]["checkpoint"])
    vocab = Dictionary.load(
        config["backbone_conf"].get("dictionary") or backbone.with_name("dict.txt")
    )
    images = exp / "images"
    images.mkdir(parents=True, exist_ok=True)
    plot_training_curves(exp, images)
    prompt = config["prompt_conf"]
    lines = ["# RESULTS", "## Environments", *environment(), ""]
    lines += [
        f"## {exp.name}: {config['verbalizer']} verbalizer (`{exp}`)",
        f"- backbone: `{config['backbone']}` `{backbone}` ({backbone.stat().st_size / 2**20:.1f} MiB)",
        precision_line(config),
        f"- prompts: input {prompt['input_length']}, deep {prompt['deep_length']}, "
        f"separator {prompt['separator']}; verbalizer `{config['verbalizer']}` "
        f"{config['verbalizer_conf']}",
        f"- trainable parameters: {trainable:,}; model file `{model_file.name}` "
        f"{os.path.getsize(model_file):,} bytes "
        f"({os.path.getsize(model_file) / backbone.stat().st_size:.5f} of the backbone file)",
        f"- verbalizer map (top unit per label): {plot_verbalizer(state, config, vocab, images / 'verbalizer.png')}",
        "",
    ]
    classification = config.get("decoding", "score") == "score"
    decodes = scored_decodes(exp, args.inference_tag, args.test_sets)
    lines += metric_table(exp, dump, decodes, expand_metrics(args.metrics), config)
    per_speaker = {}
    for name in args.test_sets if classification else ():
        ref = read_table(dump / "units" / name / "label")
        hyp = read_table(exp / args.inference_tag / name / "text")
        utt2spk = dump / "units" / name / "utt2spk"
        if utt2spk.exists():
            per_speaker[name] = per_group_accuracy(ref, hyp, read_table(utt2spk))
        plot_confusion(ref, hyp, config["label_list"], images / f"confusion_{name}.png", name)
    for name, table in per_speaker.items():
        lines += ["", f"### per speaker: {name}", "", "|speaker|Snt|acc|", "|---|---|---|"]
        lines += [f"|{spk}|{n}|{100 * acc:.2f}|" for spk, (n, acc) in table.items()]
    if args.baseline and Path(args.baseline).exists():
        base = json.loads(Path(args.baseline).read_text())
        lines += ["", f"### baseline: {base['model']}", "",
                  f"- parameters: {base['parameters']:,} (all trained); training {base['train_seconds']} s",
                  "", "|dataset|acc|", "|---|---|"]  # fmt: skip
        lines += [f"|{name}|{100 * acc:.2f}|" for name, acc in base["acc"].items()]
    checkpoint = config["backbone_conf"]["checkpoint"]
    lines += other_experiments(exp, args.inference_tag, args.test_sets, checkpoint)
    lines += timing_table(args.timings)
    lines += ["", "Images: " + ", ".join(f"`{p.name}`" for p in sorted(images.glob("*.png")))]
    out = Path(args.output)
    atomic_write_text(out, "\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
