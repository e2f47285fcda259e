"""Score generated speech units without text (SpeechGen): unit BLEU against the true units, the
unit error rate inside masked spans (inpainting), Auto-BLEU (repetition within a sample) and
Self-BLEU (sameness across the samples of one input), and the perplexity of the generated
units under a bare GSLM unit LM (``--backbone_checkpoint``, no prompts). With ``--source``
(the inpainting sources, -1 for masked units) also the span unit error rate of filling each
span by copying its neighbours, the model-free reference point.

    python -m espnet2_speechprompt.bin.speechgen_score --ref dump/speechgen/test/target \
        --hyp exp/decode/test/text [--spans dump/speechgen/test/spans] \
        [--nbest_dir exp/decode/test] [--backbone_checkpoint lm/checkpoint_best.pt] \
        [--output exp/decode/test/speechgen.json]

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


def score(args: argparse.Namespace) -> dict[str, float | int]:
    refs, hyps = read_units(args.ref), read_units(args.hyp)
    missing = sorted(set(refs) - set(hyps))
    if missing:
        raise SpeechPromptError(f"{args.hyp}: no units for utterance {missing[0]} of {args.ref}")
    keys = sorted(refs)
    result: dict[str, float | int] = {"num_utterances": len(keys)}
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
        result["perplexity"] = round(lm_perplexity(args.backbone_checkpoint, hyps, keys), 3)
    return result


def lm_perplexity(checkpoint: str, hyps: dict[str, list[int]], keys: list[str]) -> float:
    """Perplexity of the generated units (mapped through the LM's ``dict.txt``) under it."""
    from ..api.preprocess import UnitEncoder
    from ..batching import pad_batch
    from ..checkpoints.unit_lm import load_unit_lm
    from ..speechlm.continuation import perplexity

    lm, vocab = load_unit_lm(checkpoint)
    encoder = UnitEncoder(vocab, "dict.txt")
    rows = [encoder.encode(hyps[k], k).tolist() for k in keys if hyps[k]]
    if not rows:
        raise SpeechPromptError("every generated utterance is empty: no perplexity")
    total, count = 0.0, 0
    for start in range(0, len(rows), 32):
        units, lengths = pad_batch(rows[start : start + 32])
        tokens = int(lengths.sum()) + len(lengths)  # + </s> per row
        total += math.log(perplexity(lm, units, lengths)) * tokens
        count += tokens
    return math.exp(total / count)


def main(cmd: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )  # fmt: skip
    parser.add_argument("--ref", required=True)
    parser.add_argument("--hyp", required=True)
    parser.add_argument("--spans")
    parser.add_argument("--source", help="with --spans: the sources, for the copy baseline")
    parser.add_argument("--nbest_dir")
    parser.add_argument("--backbone_checkpoint", help="a GSLM unit LM (dict.txt beside it)")
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
