r"""Score decoded labels against references: accuracy (classification), WER/CER (sequences),
SUPERB slot filling, BLEU.

    python -m espnet2_speechprompt.bin.speechprompt_score --ref data/test/label \
        --hyp exp/decode/text --metrics acc --output exp/decode/result.json

Both files are ``utt label tokens...``. Metrics:

- ``acc``: an utterance is correct only when the whole label sequence matches (e.g. all of
  action, object, location of an intent);
- ``wer``, ``cer``: on the label tokens as words (jiwer);
- ``char_wer``, ``char_cer``: on the text of character labels (``H I | Y O U`` -> ``HI YOU``,
  ``|`` the word boundary), slot tags removed;
- ``slot_f1``, ``slot_cer``, ``slot_wer``: SUPERB slot-type F1 and slot-value CER/WER on the text
  of slot-tagged character labels;
- ``bleu``: corpus BLEU (sacrebleu, 13a) of the hypotheses as text against ``--ref`` and any
  ``--extra_ref`` files (several references, e.g. Fisher's four).

With ``--label_list``, reference tokens that are not in the task's label list (which the model
therefore cannot generate) are counted: ``ref_oov_tokens`` / ``ref_oov_rate`` in the result
and one warning line naming the first utterance and token.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .. import kaldi_text
from ..errors import SpeechPromptError
from ..fileio import atomic_write_text
from .cli_errors import exit_on_user_error

METRICS = ("acc", "wer", "cer", "char_wer", "char_cer", "slot_f1", "slot_cer", "slot_wer", "bleu")
DEFAULT_METRICS = ("acc", "wer", "cer")


def read_table(path: str | os.PathLike) -> dict[str, str]:
    """``{utt: text}`` of a reference or hypothesis file (Kaldi-style, as ESPnet reads it)."""
    return kaldi_text.read_table(path)


def score(
    ref: dict[str, str],
    hyp: dict[str, str],
    metrics=DEFAULT_METRICS,
    extra_refs: list[dict[str, str]] | None = None,
) -> dict[str, float]:
    missing = [utt for utt in ref if utt not in hyp]
    if missing:
        raise SpeechPromptError(
            f"utterance {missing[0]} has no hypothesis ({len(missing)} of {len(ref)} missing): "
            "decode the whole test set first"
        )
    keys = sorted(ref)
    result: dict[str, float] = {"num_utterances": len(keys)}
    if "acc" in metrics:
        result["acc"] = sum(ref[k].split() == hyp[k].split() for k in keys) / len(keys)
    if "wer" in metrics or "cer" in metrics:
        import jiwer

        refs = [ref[k] or "<empty>" for k in keys]
        hyps = [hyp[k] for k in keys]
        if "wer" in metrics:
            result["wer"] = jiwer.wer(refs, hyps)
        if "cer" in metrics:
            result["cer"] = jiwer.cer(refs, hyps)
    result.update(text_scores(ref, hyp, keys, metrics, extra_refs or []))
    return result


def text_scores(ref, hyp, keys, metrics, extra_refs) -> dict:
    """The metrics computed on the text of character labels, and BLEU."""
    from ..data.kaldi import label_to_text
    from ..scoring import cer, corpus_bleu, slot_type_f1, slot_value_cer, slot_value_wer, wer
    from ..scoring.slots import strip_slot_tags

    result: dict = {}
    ref_text = [label_to_text(ref[k]) for k in keys]
    hyp_text = [label_to_text(hyp[k]) for k in keys]
    plain_ref = [strip_slot_tags(t) for t in ref_text]
    plain_hyp = [strip_slot_tags(t) for t in hyp_text]
    functions = {
        "char_wer": lambda: wer(plain_hyp, plain_ref),
        "char_cer": lambda: cer(plain_hyp, plain_ref),
        "slot_f1": lambda: slot_type_f1(hyp_text, ref_text),
        "slot_cer": lambda: slot_value_cer(hyp_text, ref_text),
        "slot_wer": lambda: slot_value_wer(hyp_text, ref_text),
    }
    for name, function in functions.items():
        if name in metrics:
            result[name] = function()
    if "bleu" in metrics:
        streams = [[ref[k] for k in keys]]
        for number, extra in enumerate(extra_refs, 1):
            missing = [k for k in keys if k not in extra]
            if missing:
                raise SpeechPromptError(
                    f"utterance {missing[0]} is missing from extra reference {number}"
                )
            streams.append([extra[k] for k in keys])
        bleu = corpus_bleu([hyp[k] for k in keys], streams)
        result["bleu"] = bleu["score"]
        result["bleu_signature"] = bleu["signature"]
    return result


def label_oov(ref: dict[str, str], labels: list[str]) -> tuple[dict[str, float], str | None]:
    """Reference tokens outside the label list: counts, and a warning naming the first one."""
    known = set(labels)
    total = oov = 0
    first = None
    for utt in sorted(ref):
        for token in ref[utt].split():
            total += 1
            if token not in known:
                oov += 1
                first = first or (utt, token)
    if not oov:
        return {"ref_oov_tokens": 0, "ref_oov_rate": 0.0}, None
    warning = (
        f"warning: {oov} reference tokens ({100 * oov / max(total, 1):.2f}%) are not in the label "
        f"list and cannot be generated, e.g. utterance {first[0]}: {first[1]!r} (they count as "
        "errors; build the label list from more sets or give a fixed list)"
    )
    return {"ref_oov_tokens": oov, "ref_oov_rate": oov / max(total, 1)}, warning


def main(cmd: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", required=True)
    parser.add_argument("--hyp", required=True)
    parser.add_argument("--metrics", nargs="+", choices=METRICS, default=["acc"])
    parser.add_argument(
        "--extra_ref", action="append", default=[], help="another reference file (bleu)"
    )
    parser.add_argument("--output", default=None, help="write the result as JSON here")
    parser.add_argument("--label_list", help="count reference tokens not in this label list")
    args = parser.parse_args(cmd)
    with exit_on_user_error():
        extra = [read_table(path) for path in args.extra_ref]
        ref = read_table(args.ref)
        result = score(ref, read_table(args.hyp), args.metrics, extra)
        if args.label_list:
            labels = kaldi_text.read_lines(args.label_list, "label list")
            counts, warning = label_oov(ref, labels)
            result.update(counts)
            if warning:
                sys.stderr.write(warning + "\n")
    text = json.dumps(result, indent=2)
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, text + "\n")
    sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
