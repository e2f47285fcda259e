"""A tiny prompt-tuning data set on disk: a fairseq-format unit LM plus Kaldi-style files."""

from __future__ import annotations

from pathlib import Path

from espnet2_speechprompt import toy
from espnet2_speechprompt.checkpoints.unit_lm import save_unit_lm

TASK_LABELS = ["yes", "no", "up", "down"]


def make_task_data(root: Path) -> Path:
    """``root/lm/{checkpoint_best.pt,dict.txt}``, ``root/{train,valid}/{units,label}`` and
    ``root/label_list``, from the synthetic toy corpus (seeded)."""
    corpus = toy.make_toy_corpus(num_train=400, num_test=48, seed=1)
    save_unit_lm(toy.pretrain_unit_lm(corpus, epochs=4, seed=1), corpus.vocab, root / "lm")
    for split, rows in (("train", corpus.train), ("valid", corpus.test)):
        (root / split).mkdir()
        with open(root / split / "units", "w") as units, open(root / split / "label", "w") as lab:
            for i, (tokens, label) in enumerate(rows):
                symbols = " ".join(corpus.vocab.symbol(t) for t in tokens)
                units.write(f"{split}{i:03d} {symbols}\n")
                lab.write(f"{split}{i:03d} {TASK_LABELS[label]}\n")
    (root / "label_list").write_text("\n".join(TASK_LABELS) + "\n")
    return root
