"""A ``dict.txt`` of numbered placeholder symbols sized to a checkpoint's decoder embedding table,
for a backbone released without its dictionary (the Wav2Seq checkpoints: their pseudo-language
``dict.<labels>.txt`` was made from the pre-training data and is not published).

    python -m espnet2_speechprompt.bin.numbered_dict --checkpoint wav2seq/wav2seq-hubert-base-25k.pt

writes ``dict.txt`` beside the checkpoint (or ``--output``): the 4 specials are implicit, then
``t4 1``, ``t5 1``, ... so that the vocabulary has exactly as many entries as the table. Only
the learnable and random verbalizers make sense with it (they learn or draw the token-label
mapping); identity and frequency need the real symbols.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..checkpoints.safe_pickle import read_fairseq_checkpoint
from ..errors import SpeechPromptError
from ..fileio import atomic_path
from ..vocab import Dictionary
from .cli_errors import exit_on_user_error

EMBEDDING_KEYS = ("decoder.embed_tokens.weight",)


def numbered_dictionary(checkpoint: str | os.PathLike) -> Dictionary:
    """Placeholder symbols ``t<index>`` for every row of the decoder's embedding table."""
    state = read_fairseq_checkpoint(checkpoint).model_state
    key = next((k for k in EMBEDDING_KEYS if k in state), None)
    if key is None:
        raise SpeechPromptError(
            f"{checkpoint}: no {' or '.join(EMBEDDING_KEYS)}: not a fairseq decoder checkpoint"
        )
    rows = state[key].shape[0]
    vocab = Dictionary()
    for index in range(len(vocab), rows):
        vocab.add(f"t{index}")
    return vocab


def main(cmd: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="fairseq checkpoint (.pt)")
    parser.add_argument("--output", help="dict.txt to write (default: beside the checkpoint)")
    args = parser.parse_args(cmd)
    with exit_on_user_error():
        if not os.path.isfile(args.checkpoint):
            raise SpeechPromptError(f"--checkpoint {args.checkpoint}: no such file")
        output = Path(args.output or Path(args.checkpoint).with_name("dict.txt"))
        if output.exists():
            raise SpeechPromptError(f"{output} exists: delete it or give another --output")
        vocab = numbered_dictionary(args.checkpoint)
        with atomic_path(output) as tmp:
            vocab.save(tmp)
        print(f"{output}: {len(vocab)} entries (4 specials + {len(vocab) - 4} numbered symbols)")


if __name__ == "__main__":
    main()
