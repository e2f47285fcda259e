r"""Label list (one label token per line) and candidate list (each distinct label sequence)
from ``label`` files (``utt token [token ...]``).

    python -m espnet2_speechprompt.bin.make_label_list --label dump/units/train/label \
        --label dump/units/valid/label --output dump/label_list --candidates dump/candidate_list

The lists are the union over every ``--label`` file (the recipes give train and valid, so a
character or slot tag seen only in valid does not stop training). With ``--fixed LIST`` the
label list is that file instead (e.g. a character set shared across experiments); every token
of the ``--label`` files must then be in it, else one error names the file, utterance and
token. Tokens of a test set that are not in the list cannot be generated: the scorer counts them
as errors (``speechprompt_score --label_list`` reports how many there are).
"""

from __future__ import annotations

import argparse
import os
from collections import Counter

from ..errors import SpeechPromptError
from ..fileio import atomic_write_text
from ..kaldi_text import read_entries, read_lines
from .cli_errors import exit_on_user_error


def write_lines(path: str, lines: list[str]) -> None:
    atomic_write_text(path, "".join(f"{line}\n" for line in lines))


def read_labels(path: str) -> list[tuple[int, str, list[str]]]:
    """``(line number, utterance, tokens)`` of a label file; an empty label is an error."""
    rows = []
    for entry in read_entries(path, "label file"):
        if not entry.value:
            raise SpeechPromptError(f"{entry.where}: utterance {entry.key} has no label")
        rows.append((entry.number, entry.key, entry.value.split()))
    return rows


def read_fixed_list(path: str) -> list[str]:
    if not os.path.isfile(path):
        raise SpeechPromptError(f"--fixed {path}: no such label list")
    labels = read_lines(path, "label list")
    if not labels:
        raise SpeechPromptError(f"--fixed {path}: the label list is empty")
    bad = [label for label in labels if len(label.split()) != 1]
    if bad:
        raise SpeechPromptError(f"--fixed {path}: {bad[0]!r} is not one token (one per line)")
    return labels


def main(cmd: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--label", action="append", required=True, help="a label file (repeat: union)"
    )
    parser.add_argument("--output", required=True, help="label list to write")
    parser.add_argument("--candidates", help="candidate list to write (classification)")
    parser.add_argument("--fixed", help="use this label list (checked against the labels)")
    args = parser.parse_args(cmd)
    with exit_on_user_error():
        tokens, sequences = Counter(), Counter()
        fixed = set(read_fixed_list(args.fixed)) if args.fixed else None
        for path in args.label:
            for number, utt, row in read_labels(path):
                if fixed is not None:
                    unknown = [t for t in row if t not in fixed]
                    if unknown:
                        raise SpeechPromptError(
                            f"{path}:{number}: utterance {utt}: label token {unknown[0]!r} is "
                            f"not in --fixed {args.fixed}; add it there or drop --fixed"
                        )
                tokens.update(row)
                sequences[" ".join(row)] += 1
        labels = read_fixed_list(args.fixed) if args.fixed else sorted(tokens)
        write_lines(args.output, labels)
        if args.candidates:
            write_lines(args.candidates, sorted(sequences))
        print(f"{len(labels)} labels, {len(sequences)} distinct label sequences")


if __name__ == "__main__":
    main()
