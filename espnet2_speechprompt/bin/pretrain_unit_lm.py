"""Pre-train a small unit LM on a units file and save it as a GSLM release.

    python -m espnet2_speechprompt.bin.pretrain_unit_lm --config conf/unit_lm.yaml \
        --train_units dump/units/train/units --valid_units dump/units/valid/units \
        --n_units 100 --output_dir exp/unit_lm

writes ``checkpoint_best.pt`` (fairseq ``transformer_lm`` layout) + ``dict.txt`` (units 0..K-1 in
numeric order, like hubert100_lm); re-running after an interruption continues training.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import asdict, fields
from pathlib import Path

import yaml

from ..checkpoints.unit_lm import save_unit_lm
from ..errors import SpeechPromptError
from ..speechlm.pretrain import PretrainConfig, evaluate, pretrain_unit_lm
from ..units.datadir import read_units
from ..vocab import Dictionary
from .cli_errors import exit_on_user_error


def load_rows(path: str, vocab: Dictionary) -> list[list[int]]:
    return [vocab.encode(units, f"{path}: utterance {utt}") for utt, units in read_units(path)]


def main(cmd: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="yaml with PretrainConfig fields")
    parser.add_argument("--train_units", required=True)
    parser.add_argument("--valid_units")
    parser.add_argument("--n_units", type=int, help="k-means size (default: max unit id + 1)")
    parser.add_argument("--output_dir", required=True)
    for f in fields(PretrainConfig):
        parser.add_argument(f"--{f.name}", type=type(f.default), default=None)
    args = parser.parse_args(cmd)
    logging.basicConfig(level="INFO", format="%(asctime)s %(message)s")
    with exit_on_user_error():
        conf = {}
        if args.config:
            with open(args.config, encoding="utf-8") as f:
                conf = yaml.safe_load(f) or {}
        unknown = set(conf) - {f.name for f in fields(PretrainConfig)}
        if unknown:
            raise SpeechPromptError(f"{args.config}: unknown keys {sorted(unknown)}")
        conf.update({f.name: getattr(args, f.name) for f in fields(PretrainConfig)
                     if getattr(args, f.name) is not None})  # fmt: skip
        config = PretrainConfig(**conf)
        n_units = args.n_units or 1 + max(
            (max(u) for _, u in read_units(args.train_units) if u), default=-1
        )
        vocab = Dictionary([str(u) for u in range(n_units)])
        train = load_rows(args.train_units, vocab)
        valid = load_rows(args.valid_units, vocab) if args.valid_units else None
        out = Path(args.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        model = pretrain_unit_lm(train, valid, len(vocab), config, out / "train_state.pt")
        path = save_unit_lm(model, vocab, out)
        (out / "pretrain_config.yaml").write_text(yaml.safe_dump(asdict(config)))
        nll = evaluate(model, valid or train)
        logging.info(f"saved {path} (valid nll {nll:.3f} nats/unit, {len(vocab) - 4} units)")


if __name__ == "__main__":
    main()
