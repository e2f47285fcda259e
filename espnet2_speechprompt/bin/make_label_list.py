"""Label list (one label token per line) and candidate list (each distinct label sequence)
from a training ``label`` file (``utt token [token ...]``).

    python -m espnet2_speechprompt.bin.make_label_list --label dump/units/train/label \
        --output dump/label_list --candidates dump/candidate_list
"""

from __future__ import annotations

import argparse
import os
from collections import Counter

from ..errors import SpeechPromptError
from .cli_errors import exit_on_user_error


def write_lines(path: str, lines: list[str]) -> None:
    with open(f"{path}.tmp", "w", encoding="utf-8") as f:
        f.write("".join(f"{line}\n" for line in lines))
    os.replace(f"{path}.tmp", path)


def main(cmd: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True, help="training label file")
    parser.add_argument("--output", required=True, help="label list to write")
    parser.add_argument("--candidates", help="candidate list to write (classification)")
    args = parser.parse_args(cmd)
    with exit_on_user_error():
        if not os.path.isfile(args.label):
            raise SpeechPromptError(f"{args.label}: no such label file")
        tokens, sequences = Counter(), Counter()
        with open(args.label, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                utt, _, text = line.strip().partition(" ")
                if not text.strip():
                    raise SpeechPromptError(f"{args.label}:{number}: utterance {utt} has no label")
                tokens.update(text.split())
                sequences[" ".join(text.split())] += 1
        write_lines(args.output, sorted(tokens))
        if args.candidates:
            write_lines(args.candidates, sorted(sequences))
        print(f"{len(tokens)} labels, {len(sequences)} distinct label sequences")


if __name__ == "__main__":
    main()
