"""A tiny prompt-tuning data set on disk: a fairseq-format unit LM plus Kaldi-style files."""

from __future__ import annotations

from pathlib import Path

from espnet2_speechprompt.checkpoints.unit_lm import save_unit_lm
from test.factories import toy
from test.factories.unit_lm import save_random_unit_lm

TASK_LABELS = ["yes", "no", "up", "down"]
UNITS = ("units", "units", "text_int")
SPEECH = ("wav.scp", "speech", "sound")


def data_args(
    data: Path, shapes: Path | None = None, source: tuple[str, str, str] = UNITS
) -> list[str]:
    """Task options for ``data/{train,valid}/{<source file>,label}``: data paths and shape files
    (the source files themselves, or ``shapes/<split>/<name>_shape`` from a collect_stats run);
    ``source`` is (file, data name, type), e.g. ``SPEECH``."""
    file, name, kind = source
    args = []
    for split in ("train", "valid"):
        shape = shapes / split / f"{name}_shape" if shapes else data / split / file
        args += [
            f"--{split}_data_path_and_name_and_type", f"{data / split / file},{name},{kind}",
            f"--{split}_data_path_and_name_and_type", f"{data / split / 'label'},label,text",
            f"--{split}_shape_file", str(shape),
        ]  # fmt: skip
    return args


def make_task_data(root: Path, random_backbone: bool = False) -> Path:
    """``root/lm/{checkpoint_best.pt,dict.txt}``, ``root/{train,valid}/{units,label}`` and
    ``root/label_list``, from the synthetic toy corpus (seeded); the unit LM is pre-trained on
    it, or with ``random_backbone`` seeded and untrained (for equivalence tests)."""
    corpus = toy.make_toy_corpus(num_train=400, num_test=48, seed=1)
    if random_backbone:
        save_random_unit_lm(corpus.vocab, root / "lm", seed=1)
    else:
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


SEQ_WORDS = ["YES", "NO", "UP", "DOWN"]


def make_sequence_data(root: Path, num_train: int = 400, num_valid: int = 48, seed: int = 0):
    """A toy sequence task: two keyword-like unit segments -> their words as characters
    (``U P | N O``); a tiny unit LM pre-trained on the units; ``root/label_list`` from train
    and valid; units 0..23 (k-means ids, shuffled ``dict.txt`` order)."""
    import random

    from espnet2_speechprompt.data.kaldi import to_char_label
    from espnet2_speechprompt.vocab import Dictionary

    rng = random.Random(seed)
    symbols = [str(u) for u in range(24)]
    rng.shuffle(symbols)
    vocab = Dictionary(symbols)
    order = list(range(24))
    rng.shuffle(order)
    homes = [order[c * 5 : (c + 1) * 5] for c in range(len(SEQ_WORDS))]

    def segment(c: int) -> list[int]:
        n = rng.randint(5, 8)
        return [rng.choice(homes[c]) if rng.random() < 0.8 else rng.randrange(24) for _ in range(n)]

    def split(n: int) -> list[tuple[list[int], str]]:
        rows = []
        for _ in range(n):
            a, b = rng.randrange(len(SEQ_WORDS)), rng.randrange(len(SEQ_WORDS))
            rows.append((segment(a) + segment(b), to_char_label(f"{SEQ_WORDS[a]} {SEQ_WORDS[b]}")))
        return rows

    train, valid = split(num_train), split(num_valid)
    corpus = toy.ToyCorpus(vocab, [(vocab.encode(u), 0) for u, _ in train], [], 1)
    save_unit_lm(toy.pretrain_unit_lm(corpus, epochs=4, seed=seed), vocab, root / "lm")
    for split_name, rows in (("train", train), ("valid", valid)):
        (root / split_name).mkdir(parents=True, exist_ok=True)
        with (
            open(root / split_name / "units", "w") as units,
            open(root / split_name / "label", "w") as lab,
        ):
            for i, (seq, label) in enumerate(rows):
                units.write(f"{split_name}{i:03d} {' '.join(map(str, seq))}\n")
                lab.write(f"{split_name}{i:03d} {label}\n")
    tokens = sorted({t for _, label in train + valid for t in label.split()})
    (root / "label_list").write_text("".join(f"{t}\n" for t in tokens))
    return root
