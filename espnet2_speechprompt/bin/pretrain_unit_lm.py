r"""Pre-train a small unit LM (or a denoising encoder-decoder) on a units file and save it as a
GSLM (or Unit mBART) release.

    python -m espnet2_speechprompt.bin.pretrain_unit_lm --config conf/unit_lm.yaml \
        --train_units dump/units/train/units --valid_units dump/units/valid/units \
        --n_units 100 --output_dir exp/unit_lm
    # continue a saved unit LM on other documents (its shape and units come from it):
    python -m espnet2_speechprompt.bin.pretrain_unit_lm --config conf/unit_lm_pairs.yaml \
        --init_from exp/unit_lm_repeats --train_units ... --output_dir exp/unit_lm
    # an mBART-style denoiser (text infilling) in the Unit mBART layout:
    python -m espnet2_speechprompt.bin.pretrain_unit_lm --objective denoising ...

writes ``checkpoint_best.pt`` (fairseq ``transformer_lm`` layout; with ``--objective denoising``
``checkpoint.pt`` in the Unit mBART layout, ``<mask>`` after the units) + ``dict.txt`` (units
0..K-1 in numeric order, like hubert100_lm); re-running after an interruption continues.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from dataclasses import asdict, fields
from pathlib import Path

import yaml

from ..checkpoints.encdec import save_unit_mbart
from ..checkpoints.unit_lm import load_unit_lm, save_unit_lm
from ..errors import SpeechPromptError
from ..speechlm.denoise import DenoiseConfig, evaluate_denoising, pretrain_denoiser
from ..speechlm.pretrain import PretrainConfig, evaluate, pretrain_unit_lm
from ..speechlm.transformer_lm import TransformerDecoder
from ..units.datadir import read_units
from ..vocab import Dictionary
from .cli_errors import exit_on_user_error


def load_rows(path: str, vocab: Dictionary) -> list[list[int]]:
    return [vocab.encode(units, f"{path}: utterance {utt}") for utt, units in read_units(path)]


OBJECTIVES = {"lm": PretrainConfig, "denoising": DenoiseConfig}


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="yaml with the objective's config fields")
    parser.add_argument("--objective", choices=list(OBJECTIVES), default="lm",
                        help="lm: a GSLM-layout unit LM; denoising: a Unit-mBART-layout "
                        "encoder-decoder (text infilling with <mask>)")  # fmt: skip
    parser.add_argument("--train_units", required=True)
    parser.add_argument("--valid_units")
    parser.add_argument("--n_units", type=int, help="k-means size (default: max unit id + 1)")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument(
        "--init_from", help="a unit LM dir (checkpoint_best.pt, dict.txt) to continue from "
        "(--objective lm): its shape and units are kept, the config's training fields apply",
    )  # fmt: skip
    names = {}
    for config in OBJECTIVES.values():
        names.update({f.name: type(f.default) for f in fields(config)})
    for name, kind in names.items():
        parser.add_argument(f"--{name}", type=kind, default=None)
    return parser


def read_config(args: argparse.Namespace):
    """The objective's config: its yaml, then the command line's fields."""
    kind = OBJECTIVES[args.objective]
    valid = {f.name for f in fields(kind)}
    conf = {}
    if args.config:
        with open(args.config, encoding="utf-8") as f:
            conf = yaml.safe_load(f) or {}
    unknown = set(conf) - valid
    if unknown:
        raise SpeechPromptError(f"{args.config}: unknown keys {sorted(unknown)}")
    given = {n for c in OBJECTIVES.values() for n in (f.name for f in fields(c))}
    for name in sorted(given - valid):
        if getattr(args, name) is not None:
            raise SpeechPromptError(f"--{name} is not an option of --objective {args.objective}")
    conf.update({n: getattr(args, n) for n in valid if getattr(args, n) is not None})
    return kind(**conf)


def run_id(
    objective: str, config, vocab_size: int, train: list, valid: list | None, init: str | None
) -> str:
    """A hash of what a run is of: the objective, the settings but the number of epochs (a run
    may go on for more), the vocabulary size, the data and the model continued from, if any
    (so a saved state of a run on other units, settings or a start is not continued)."""
    settings = {k: v for k, v in asdict(config).items() if k != "max_epoch"}
    start = None
    if init:
        start = hashlib.sha256(Path(init, "checkpoint_best.pt").read_bytes()).hexdigest()
    what = json.dumps([objective, settings, vocab_size, train, valid, start], sort_keys=True)
    return hashlib.sha256(what.encode()).hexdigest()


def start_model(args: argparse.Namespace) -> tuple[TransformerDecoder | None, Dictionary]:
    """The unit LM to continue (``--init_from``) and its dictionary, or None and a dictionary
    of ``--n_units`` units (default: the largest unit in the training data + 1)."""
    if args.init_from:
        if args.objective != "lm":
            raise SpeechPromptError("--init_from continues a unit LM (--objective lm)")
        init = Path(args.init_from)
        return load_unit_lm(init / "checkpoint_best.pt", init / "dict.txt")
    n_units = args.n_units or 1 + max(
        (max(u) for _, u in read_units(args.train_units) if u), default=-1
    )
    return None, Dictionary([str(u) for u in range(n_units)])


def main(cmd: list[str] | None = None) -> None:
    args = get_parser().parse_args(cmd)
    logging.basicConfig(level="INFO", format="%(asctime)s %(message)s")
    with exit_on_user_error():
        config = read_config(args)
        init, vocab = start_model(args)
        train = load_rows(args.train_units, vocab)
        valid = load_rows(args.valid_units, vocab) if args.valid_units else None
        out = Path(args.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        state = out / "train_state.pt"
        run = run_id(args.objective, config, len(vocab), train, valid, args.init_from)
        if args.objective == "denoising":  # <mask> after the units, as fairseq appends it
            model = pretrain_denoiser(train, valid, len(vocab) + 1, len(vocab), config, state, run)
            path = save_unit_mbart(model, vocab, out)
            nll = evaluate_denoising(model, valid or train, len(vocab), config)
        else:
            model = pretrain_unit_lm(train, valid, len(vocab), config, state, run, init)
            path = save_unit_lm(model, vocab, out)
            nll = evaluate(model, valid or train)
        (out / "pretrain_config.yaml").write_text(yaml.safe_dump(asdict(config)))
        logging.info(f"saved {path} (valid nll {nll:.3f} nats/unit, {len(vocab) - 4} units)")


if __name__ == "__main__":
    main()
