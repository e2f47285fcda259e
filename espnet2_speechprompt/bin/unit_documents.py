r"""Write unit-LM pre-training documents: utterances of one task concatenated.

    python -m espnet2_speechprompt.bin.unit_documents \
        --task_dirs dump/units/commands_en_train dump/units/language_id_train \
        --per_document 6 --distinct 3 --labels 2 --rounds 3 --seed 0 \
        --output dump/units/lm_train/units
    python -m espnet2_speechprompt.bin.unit_documents --kind key_value \
        --task_dirs dump/units/commands_en_train --pairs 3 --near 0.5 --value_length 3 \
        --rounds 3 --output dump/units/lm_pairs_train/units

Each task dir holds ``units`` (k-means ids) and ``label``; a document is ``--per_document``
utterances of one task: ``--distinct`` different ones with labels among ``--labels`` of the
task's labels, each at least once, the rest exact repeats of them. ``--kind key_value``:
``--pairs`` keys (utterances of different labels), each followed by ``--value_length`` units of
another utterance, then the pairs again in another order, each key replaced with probability
``--near`` by another utterance of its label (``data/documents.py``). The output is a units
file (``<id> <unit> ...``) for ``pretrain_unit_lm``, written whole or not at all.
"""

from __future__ import annotations

import argparse
import os

from ..data.documents import key_value_documents, unit_documents
from ..errors import SpeechPromptError
from ..fileio import atomic_open
from ..kaldi_text import read_table
from ..units.datadir import format_units, read_units
from .cli_errors import exit_on_user_error


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task_dirs", nargs="+", required=True, help="dirs with a units file")
    parser.add_argument("--per_document", type=int, default=6, help="utterances per document")
    parser.add_argument(
        "--distinct", type=int, default=3, help="different utterances in a document"
    )
    parser.add_argument(
        "--labels", type=int, default=2, help="labels of a document's distinct utterances"
    )
    parser.add_argument("--rounds", type=int, default=3, help="slots per utterance, about")
    parser.add_argument(
        "--kind", choices=["repeats", "key_value"], default="repeats", help="repeats: "
        "utterances said again; key_value: key-value pairs, then again with near-repeat keys",
    )  # fmt: skip
    parser.add_argument("--pairs", type=int, default=3, help="key_value: pairs per document")
    parser.add_argument(
        "--near", type=float, default=0.5, help="key_value: chance a key comes back as another "
        "utterance of its label",
    )  # fmt: skip
    parser.add_argument("--value_length", type=int, default=3, help="key_value: value units")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", required=True, help="the units file to write")
    return parser


def labelled_units(directory: str) -> list[tuple[list[int], str]]:
    """``(units, label)`` of each utterance of a task dir (one error for a missing label)."""
    labels = read_table(os.path.join(directory, "label"), "label file")
    rows = []
    for utt, units in read_units(os.path.join(directory, "units")):
        if utt not in labels:
            raise SpeechPromptError(f"{directory}/label: no label for utterance {utt}")
        rows.append((units, labels[utt]))
    return rows


def main(cmd: list[str] | None = None) -> None:
    args = get_parser().parse_args(cmd)
    with exit_on_user_error():
        tasks = []
        for directory in args.task_dirs:
            tasks.append((os.path.basename(os.path.normpath(directory)), labelled_units(directory)))
        if args.kind == "key_value":
            documents = key_value_documents(
                tasks, args.pairs, args.near, args.value_length, args.rounds, args.seed
            )
        else:
            documents = unit_documents(
                tasks, args.per_document, args.distinct, args.labels, args.rounds, args.seed
            )
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with atomic_open(args.output) as f:
            for name, units in documents:
                f.write(format_units(name, units))
    print(f"{len(documents)} documents: {args.output}")


if __name__ == "__main__":
    main()
