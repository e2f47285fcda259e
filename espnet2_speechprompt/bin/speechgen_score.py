r"""Score generated speech units without text (SpeechGen): unit BLEU against the true units, the
unit error rate inside masked spans (inpainting), Auto-BLEU (repetition within a sample) and
Self-BLEU (sameness across the samples of one input), and the perplexity of the generated
units under the frozen backbone without prompts (``--backbone_checkpoint``). With ``--source``
(the sources the prompted model read; -1 for masked units) also the span unit error rate of
filling each span by copying its neighbours, the model-free reference point.

    python -m espnet2_speechprompt.bin.speechgen_score --ref dump/speechgen/test/target \
        --hyp exp/decode/test/text [--spans dump/speechgen/test/spans] \
        [--source dump/speechgen/test/source] [--nbest_dir exp/decode/test] \
        [--backbone gslm|unit_mbart --backbone_checkpoint lm/checkpoint_best.pt] \
        [--output exp/decode/test/speechgen.json]

Perplexity (``perplexity``, and ``perplexity_given``: ``source`` or ``nothing``): per token of
``u_1..u_T </s>``, given the source where the backbone reads it (an encoder-decoder always, so
it needs ``--source``; a unit LM reads the source as the prefix of the units, but no masked
units, so for inpainting it scores the generated units alone, as without ``--source``).

``--hyp``: Kaldi-style units per utterance (an inference ``text`` of unit labels); ``--ref``:
the true units (for ``--spans``, the whole original utterance); ``--nbest_dir``: a decode dir
with ``{1..N}best_recog/text`` (samples), for Self-BLEU. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

import torch

from ..baselines.speechgen import copy_neighbours
from ..errors import SpeechPromptError
from ..fileio import atomic_write_text
from ..kaldi_text import parse_ints, read_entries
from ..scoring.speechgen import auto_bleu, self_bleu, span_error_rate, unit_bleu
from ..units.datadir import read_units as read_units_file
from .cli_errors import exit_on_user_error


def read_units(path: str | Path) -> dict[str, list[int]]:
    """Utterance -> units of a units file."""
    return dict(read_units_file(path))


def read_spans(path: str | Path) -> dict[str, list[tuple[int, int]]]:
    spans = {}
    for entry in read_entries(path, "spans file"):
        values = parse_ints(entry, "span position")
        if not values or len(values) % 2:
            raise SpeechPromptError(f"{entry.where}: utterance {entry.key}: give start end pairs")
        spans[entry.key] = list(zip(values[::2], values[1::2], strict=True))
    return spans


def nbest_samples(folder: Path) -> dict[str, list[list[int]]]:
    """Every utterance's samples from ``folder/{1..N}best_recog/text``."""
    files = sorted(folder.glob("*best_recog/text"), key=lambda p: int(p.parent.name[:-10]))
    if not files:
        raise SpeechPromptError(f"{folder}: no {{1..N}}best_recog/text (decode with --nbest N)")
    samples: dict[str, list[list[int]]] = {}
    for path in files:
        for key, units in read_units(path).items():
            samples.setdefault(key, []).append(units)
    return samples


def defined(metric, samples, where: str) -> float | None:
    """``metric(samples)``, or None (left out, with a warning) where it is undefined: too few
    units or samples were generated (an untrained or degenerate model)."""
    try:
        return metric(samples)
    except SpeechPromptError as exc:
        logging.warning(f"{where}: {exc}; left out")
        return None


def score(args: argparse.Namespace) -> dict[str, float | int | str]:
    refs, hyps = read_units(args.ref), read_units(args.hyp)
    missing = sorted(set(refs) - set(hyps))
    if missing:
        raise SpeechPromptError(f"{args.hyp}: no units for utterance {missing[0]} of {args.ref}")
    keys = sorted(refs)
    result: dict[str, float | int | str] = {"num_utterances": len(keys)}
    result["unit_bleu"] = round(unit_bleu([hyps[k] for k in keys], [refs[k] for k in keys]), 2)
    if (value := defined(auto_bleu, [hyps[k] for k in keys], args.hyp)) is not None:
        result["auto_bleu_2"] = round(100 * value, 2)  # in %
    if args.spans:
        spans = read_spans(args.spans)
        absent = [k for k in keys if k not in spans]
        if absent:
            raise SpeechPromptError(f"{args.spans}: no spans for utterance {absent[0]}")
        ser = span_error_rate(
            [hyps[k] for k in keys], [refs[k] for k in keys], [spans[k] for k in keys]
        )
        result["span_unit_error_rate"] = round(ser, 4)
        if args.source:
            sources = read_units(args.source)
            filled = [copy_neighbours(sources[k]) for k in keys]
            copied = span_error_rate(filled, [refs[k] for k in keys], [spans[k] for k in keys])
            result["copy_span_unit_error_rate"] = round(copied, 4)
    if args.nbest_dir:
        samples = nbest_samples(Path(args.nbest_dir))
        groups = [samples[k] for k in keys if k in samples]
        if (value := defined(self_bleu, groups, args.nbest_dir)) is not None:
            result["self_bleu"] = round(value, 2)
    if args.backbone_checkpoint:
        sources = read_units(args.source) if args.source else None
        result.update(perplexity(args.backbone, args.backbone_checkpoint, hyps, keys, sources))
    return result


def perplexity(
    kind: str,
    checkpoint: str,
    hyps: dict[str, list[int]],
    keys: list[str],
    sources: dict[str, list[int]] | None,
) -> dict[str, float | str]:
    """Perplexity of the generated units (``u_1..u_T </s>``) under the bare backbone, given the
    sources where it reads them (an encoder-decoder always; a unit LM unless they hold masked
    units, which it cannot read), else of the units alone (a unit LM only)."""
    if sources is not None:
        absent = [k for k in keys if k not in sources]
        if absent:
            raise SpeechPromptError(f"--source: no units for utterance {absent[0]}")
    masked = sources is not None and any(-1 in sources[k] for k in keys)
    if kind == "gslm":
        given = sources if sources is not None and not masked else {k: [] for k in keys}
        rows = [(given[k], hyps[k], k) for k in keys if hyps[k]]
        value = lm_perplexity(checkpoint, rows)
        return {
            "perplexity": round(value, 3),
            "perplexity_given": "source" if given is sources else "nothing",
        }
    if sources is None:
        raise SpeechPromptError(
            f"perplexity under an encoder-decoder ({kind}) is of the units given its input: "
            "give --source"
        )
    value = encdec_perplexity(kind, checkpoint, [(sources[k], hyps[k], k) for k in keys])
    return {"perplexity": round(value, 3), "perplexity_given": "source"}


def lm_perplexity(checkpoint: str, rows: list[tuple[list[int], list[int], str]]) -> float:
    """Perplexity of each ``(context, units, utt)`` row's ``units </s>`` after ``</s> context``
    under a unit LM (units mapped through its ``dict.txt``)."""
    from ..api.preprocess import UnitEncoder
    from ..batching import pad_batch
    from ..checkpoints.unit_lm import load_unit_lm
    from ..speechlm.continuation import perplexity as lm_ppl

    if not rows:
        raise SpeechPromptError("every generated utterance is empty: no perplexity")
    lm, vocab = load_unit_lm(checkpoint)
    encoder = UnitEncoder(vocab, "dict.txt")

    def batch_nll(batch: list) -> tuple[float, int]:
        units, lengths = pad_batch([encoder.encode(c + u, k).tolist() for c, u, k in batch])
        context = torch.tensor([len(c) for c, _, _ in batch])
        tokens = int((lengths - context).sum()) + len(batch)  # + </s> per row
        return math.log(lm_ppl(lm, units, lengths, context)) * tokens, tokens

    return _perplexity_over(rows, batch_nll)


def encdec_perplexity(
    kind: str, checkpoint: str, rows: list[tuple[list[int], list[int], str]]
) -> float:
    """Perplexity of each ``(source, units, utt)`` row's ``units </s>`` from the decoder of an
    encoder-decoder reading ``source`` (no prompts; -1 is its ``<mask>``)."""
    from ..api.preprocess import UnitEncoder
    from ..batching import pad_batch
    from .speechgen_unprompted import bare_backbone

    model, vocab, units = bare_backbone(kind, checkpoint)
    label = {unit: 4 + i for i, unit in enumerate(units)}  # the identity verbalizer's labels
    encoder = UnitEncoder(vocab, f"the dictionary of {checkpoint}")

    def batch_nll(batch: list) -> tuple[float, int]:
        source, lengths = pad_batch([encoder.encode(s, k).tolist() for s, _, k in batch])
        labels, label_lengths = pad_batch([_labels(u, label, k) for _, u, k in batch])
        with torch.no_grad():
            out = model(source, lengths, labels, label_lengths)
        return float(out["loss"]) * int(out["num_tokens"]), int(out["num_tokens"])

    return _perplexity_over(rows, batch_nll)


def _perplexity_over(rows: list, batch_nll, batch_size: int = 32) -> float:
    """exp of the summed negative log-likelihood over the summed token count of the rows'
    batches (``batch_nll(batch)`` gives both for a batch)."""
    total, count = 0.0, 0
    for start in range(0, len(rows), batch_size):
        nll, tokens = batch_nll(rows[start : start + batch_size])
        total, count = total + nll, count + tokens
    return math.exp(total / count)


def _labels(units: list[int], label: dict[int, int], utt: str) -> list[int]:
    unknown = next((u for u in units if u not in label), None)
    if unknown is not None:
        raise SpeechPromptError(
            f"utterance {utt}: generated unit {unknown} is not in the backbone's dictionary"
        )
    return [label[u] for u in units]


def main(cmd: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )  # fmt: skip
    parser.add_argument("--ref", required=True)
    parser.add_argument("--hyp", required=True)
    parser.add_argument("--spans")
    parser.add_argument(
        "--source", help="the sources (-1: masked): the copy baseline (with --spans), what the "
        "backbone reads for --backbone_checkpoint's perplexity")  # fmt: skip
    parser.add_argument("--nbest_dir")
    parser.add_argument("--backbone", choices=("gslm", "unit_mbart"), default="gslm")
    parser.add_argument("--backbone_checkpoint", help="the frozen backbone (dict.txt beside it)")
    parser.add_argument("--output")
    args = parser.parse_args(cmd)
    with exit_on_user_error():
        result = score(args)
    text = json.dumps(result, indent=2)
    if args.output:
        atomic_write_text(args.output, text + "\n")
    print(text)


if __name__ == "__main__":
    main()
