"""Score decoded labels against references: accuracy (classification), WER/CER (sequences).

    python -m espnet2_speechprompt.bin.speechprompt_score --ref data/test/label \
        --hyp exp/decode/text --metrics acc --output exp/decode/result.json

Both files are ``utt label tokens...``. Accuracy counts an utterance correct only when the whole
label sequence matches (e.g. all of action, object, location of an intent).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..errors import SpeechPromptError
from .cli_errors import exit_on_user_error

METRICS = ("acc", "wer", "cer")


def read_table(path: str | os.PathLike) -> dict[str, str]:
    if not os.path.isfile(path):
        raise SpeechPromptError(f"{path}: no such file")
    table = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            utt, _, text = line.rstrip("\n").partition(" ")
            if utt:
                table[utt] = text.strip()
    return table


def score(ref: dict[str, str], hyp: dict[str, str], metrics=METRICS) -> dict[str, float]:
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
    return result


def main(cmd: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", required=True)
    parser.add_argument("--hyp", required=True)
    parser.add_argument("--metrics", nargs="+", choices=METRICS, default=["acc"])
    parser.add_argument("--output", default=None, help="write the result as JSON here")
    args = parser.parse_args(cmd)
    with exit_on_user_error():
        result = score(read_table(args.ref), read_table(args.hyp), args.metrics)
    text = json.dumps(result, indent=2)
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".tmp").write_text(text + "\n")
        os.replace(out.with_suffix(".tmp"), out)
    sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
