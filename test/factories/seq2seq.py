"""A synthetic unit-to-unit family for encoder-decoder backbones (CPU, seconds).

A tiny encoder-decoder is pre-trained on several mappings over unit sequences (copy, reversal,
a fixed unit substitution), each announced by a marker token at the end of the source — a
stand-in for a pre-trained Unit mBART that "knows" several transformations. Prompt tuning then
has to elicit one of them from the frozen model *without* its marker.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from espnet2_speechprompt import training
from espnet2_speechprompt.batching import pad_batch
from espnet2_speechprompt.prompt.prompted_encdec import PromptedEncoderDecoder, append_eos
from espnet2_speechprompt.speechlm.encoder import EncoderDecoderModel
from espnet2_speechprompt.vocab import EOS, NUM_SPECIALS, PAD, Dictionary
from test.factories.encdec import tiny_encdec

Pair = tuple[list[int], list[int]]  # (source units, target units), as unit ids 0..U-1
Tensors = tuple[torch.Tensor, ...]

MAPPINGS: dict[str, Callable[[list[int], int], list[int]]] = {
    "copy": lambda units, num_units: list(units),
    "reverse": lambda units, num_units: units[::-1],
    "substitute": lambda units, num_units: [(3 * u + 1) % num_units for u in units],
}


@dataclass
class Seq2SeqCorpus:
    vocab: Dictionary  # unit symbols "0".."U-1", then one marker per mapping
    num_units: int

    def unit_tokens(self) -> list[int]:
        return [self.vocab.index(str(u)) for u in range(self.num_units)]

    def marker(self, mapping: str) -> int:
        return self.vocab.index(f"<{mapping}>")

    def pairs(self, mapping: str, n: int, seed: int, length=(3, 8)) -> list[Pair]:
        rng = random.Random(seed)
        out = []
        for _ in range(n):
            units = [rng.randrange(self.num_units) for _ in range(rng.randint(*length))]
            out.append((units, MAPPINGS[mapping](units, self.num_units)))
        return out


def make_corpus(num_units: int = 12, seed: int = 0) -> Seq2SeqCorpus:
    symbols = [str(u) for u in range(num_units)]
    random.Random(seed).shuffle(symbols)  # dict.txt order is not numeric order
    return Seq2SeqCorpus(Dictionary(symbols + [f"<{m}>" for m in MAPPINGS]), num_units)


def marked_batch(corpus: Seq2SeqCorpus, batch_size: int, rng: random.Random) -> Tensors:
    """Sources ``u_1..u_T </s> <marker>`` of every mapping in turn (the marker after ``</s>``,
    as mBART's language tag, so unit positions do not move), previous target tokens and gold
    targets ``f(u) </s>``."""
    names, units_of = list(MAPPINGS), corpus.unit_tokens()
    sources, targets = [], []
    for i, (src, _) in enumerate(corpus.pairs("copy", batch_size, rng.randrange(1 << 30))):
        mapping = names[i % len(names)]
        tgt = MAPPINGS[mapping](src, corpus.num_units)
        sources.append([units_of[u] for u in src] + [EOS, corpus.marker(mapping)])
        targets.append([units_of[u] for u in tgt])
    src, _ = pad_batch(sources)
    tgt, tgt_len = pad_batch(targets)
    prev = torch.cat([torch.full_like(tgt[:, :1], EOS), tgt], dim=1)
    return src, prev, append_eos(tgt, tgt_len)


def pretrain(
    corpus: Seq2SeqCorpus, steps: int = 600, batch_size: int = 48, lr: float = 3e-3, seed: int = 0
) -> EncoderDecoderModel:
    """Teacher-forced training on all mappings at once: ``steps`` Adam steps (one epoch)."""
    torch.manual_seed(seed)
    model = tiny_encdec(len(corpus.vocab))

    def steps_of_batches(rng: random.Random) -> Iterator[Tensors]:
        return (marked_batch(corpus, batch_size, rng) for _ in range(steps))

    def cross_entropy(batch: Tensors) -> tuple[torch.Tensor, int]:
        src, prev, gold = batch
        logits = model(src, None, prev)
        loss = F.cross_entropy(logits.transpose(1, 2), gold, ignore_index=PAD)
        return loss, int(gold.ne(PAD).sum())

    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98))
    training.train(model, steps_of_batches, cross_entropy, optimizer, 1, seed=seed)
    return model


def as_tensors(pairs: list[Pair], corpus: Seq2SeqCorpus) -> Tensors:
    """(backbone source tokens, lengths, label-space targets, lengths); label c = unit c."""
    units_of = corpus.unit_tokens()
    src, src_len = pad_batch([[units_of[u] for u in s] for s, _ in pairs])
    tgt, tgt_len = pad_batch([[NUM_SPECIALS + u for u in t] for _, t in pairs])
    return src, src_len, tgt, tgt_len


def tune(
    model: PromptedEncoderDecoder,
    pairs: list[Pair],
    corpus: Seq2SeqCorpus,
    epochs: int = 3,
    batch_size: int = 32,
    lr: float = 2e-2,
    seed: int = 0,
) -> list[float]:
    """Adam on the trainable parameters, gradient norm clipped at 1; every step's loss."""
    params = [p for p in model.parameters() if p.requires_grad]

    def sequence_loss(batch: list[Pair]) -> tuple[torch.Tensor, int]:
        return model(*as_tensors(batch, corpus))["loss"], len(batch)

    optimizer = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.98))
    batches = training.reshuffled(pairs, batch_size)
    history = training.train(
        model, batches, sequence_loss, optimizer, epochs, seed=seed, clip_norm=1.0
    )
    return history.step_losses


@torch.no_grad()
def generated_token_accuracy(
    model: PromptedEncoderDecoder, pairs: list[Pair], corpus: Seq2SeqCorpus, beam_size: int = 1
) -> float:
    """Position-wise accuracy of decoded sequences against the targets (length errors count)."""
    correct = total = 0
    for start in range(0, len(pairs), 64):
        src, src_len, tgt, tgt_len = as_tensors(pairs[start : start + 64], corpus)
        hyps, _ = model.generate(src, src_len, max_length=12, beam_size=beam_size)
        for hyp, row, n in zip(hyps, tgt, tgt_len.tolist(), strict=True):
            gold = row[:n].tolist()
            correct += sum(h == g for h, g in zip(hyp, gold, strict=False))
            total += max(len(gold), len(hyp))
    return correct / total
