r"""Train the supervised GRU baseline on the same units and score it on test sets.

    python -m espnet2_speechprompt.bin.train_baseline --label_list dump/label_list \
        --train dump/units/train --valid dump/units/valid --test dump/units/test \
        --output exp/baseline/result.json

Each set directory holds ``units`` and ``label`` (single-token labels). Writes the accuracy per
test set, the number of parameters and the training time.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..baselines.gru import GRUConfig, predict, train_gru
from ..errors import SpeechPromptError
from ..fileio import atomic_write_text
from ..kaldi_text import read_entries, read_lines
from ..units.datadir import read_units
from .cli_errors import exit_on_user_error


def load_set(directory: str, index: dict[str, int]) -> list[tuple[str, list[int], int]]:
    labels = {}
    for entry in read_entries(Path(directory) / "label", "label file"):
        if entry.value not in index:
            raise SpeechPromptError(
                f"{entry.where}: utterance {entry.key}: label {entry.value!r} "
                "is not a single label of the label list"
            )
        labels[entry.key] = index[entry.value]
    rows = []
    for utt, units in read_units(Path(directory) / "units"):
        if utt not in labels:
            raise SpeechPromptError(f"{directory}/label: utterance {utt} has no label")
        rows.append((utt, units, labels[utt]))
    return rows


def main(cmd: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label_list", required=True)
    parser.add_argument("--train", required=True)
    parser.add_argument("--valid", required=True)
    parser.add_argument("--test", nargs="+", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--max_epoch", type=int, default=GRUConfig.max_epoch)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(cmd)
    with exit_on_user_error():
        labels = read_lines(args.label_list, "label list")
        index = {label: i for i, label in enumerate(labels)}
        train, valid = load_set(args.train, index), load_set(args.valid, index)
        num_units = 1 + max(max(u) for _, u, _ in train + valid if u)
        start = time.time()
        config = GRUConfig(max_epoch=args.max_epoch, seed=args.seed)
        model = train_gru([(u, c) for _, u, c in train], [(u, c) for _, u, c in valid],
                          num_units, len(labels), config)  # fmt: skip
        result = {
            "model": "bidirectional GRU (supervised, same units)",
            "parameters": sum(p.numel() for p in model.parameters()),
            "train_seconds": round(time.time() - start, 1),
            "acc": {},
        }
        for directory in args.test:
            rows = load_set(directory, index)
            preds = predict(model, [[min(x, num_units - 1) for x in u] for _, u, _ in rows])
            correct = sum(p == c for p, (_, _, c) in zip(preds, rows, strict=True))
            result["acc"][Path(directory).name] = correct / len(rows)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
