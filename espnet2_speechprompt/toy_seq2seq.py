"""A synthetic unit-to-unit family for encoder-decoder backbones (CPU, seconds).

A tiny encoder-decoder is pre-trained on several mappings over unit sequences (copy, reversal,
a fixed unit substitution), each announced by a marker token at the end of the source — a
stand-in for a pre-trained Unit mBART that "knows" several transformations. Prompt tuning then
has to elicit one of them from the frozen model *without* its marker.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .batching import pad_batch
from .prompt.prompted_encdec import PromptedEncoderDecoder, append_eos
from .speechlm.encoder import EncoderDecoderModel, TransformerEncoder
from .speechlm.transformer_lm import DecoderConfig, EncoderConfig, TransformerDecoder
from .vocab import EOS, NUM_SPECIALS, PAD, Dictionary

Pair = tuple[list[int], list[int]]  # (source units, target units), as unit ids 0..U-1

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


def tiny_encdec(vocab_size: int, dim: int = 32, layers: int = 2, heads: int = 4):
    """A Unit-mBART-shaped model (pre-LN, GELU, learned positions, layernorm_embedding)."""
    config = dict(
        vocab_size=vocab_size,
        embed_dim=dim,
        ffn_dim=2 * dim,
        num_layers=layers,
        num_heads=heads,
        activation="gelu",
        learned_positions=True,
        layernorm_embedding=True,
        max_positions=64,
    )
    decoder = TransformerDecoder(DecoderConfig(**config, cross_attention=True))
    encoder = TransformerEncoder(EncoderConfig(**config))
    encoder.embed_tokens.weight = decoder.embed_tokens.weight  # share_all_embeddings
    return EncoderDecoderModel(encoder, decoder)


def pretrain(
    corpus: Seq2SeqCorpus, steps: int = 600, batch_size: int = 48, lr: float = 3e-3, seed: int = 0
) -> EncoderDecoderModel:
    """Teacher-forced training on ``u_1..u_T </s> <marker>`` -> ``f(u) </s>``, all mappings
    (the marker after ``</s>``, as mBART's language tag, so unit positions do not move)."""
    torch.manual_seed(seed)
    model = tiny_encdec(len(corpus.vocab))
    optim = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98))
    names, rng = list(MAPPINGS), random.Random(seed)
    units_of = corpus.unit_tokens()
    model.train()
    for _ in range(steps):
        sources, targets = [], []
        for i, (src, _) in enumerate(corpus.pairs("copy", batch_size, rng.randrange(1 << 30))):
            mapping = names[i % len(names)]
            tgt = MAPPINGS[mapping](src, corpus.num_units)
            sources.append([units_of[u] for u in src] + [EOS, corpus.marker(mapping)])
            targets.append([units_of[u] for u in tgt])
        src, src_len = pad_batch(sources)
        tgt, tgt_len = pad_batch(targets)
        prev = torch.cat([torch.full_like(tgt[:, :1], EOS), tgt], dim=1)
        gold = append_eos(tgt, tgt_len)
        logits = model(src, None, prev)
        loss = F.cross_entropy(logits.transpose(1, 2), gold, ignore_index=PAD)
        optim.zero_grad()
        loss.backward()
        optim.step()
    return model.eval()


def batches(pairs: list[Pair], corpus: Seq2SeqCorpus, batch_size: int):
    """(backbone source tokens, lengths, label-space targets, lengths); label c = unit c."""
    units_of = corpus.unit_tokens()
    for i in range(0, len(pairs), batch_size):
        chunk = pairs[i : i + batch_size]
        src, src_len = pad_batch([[units_of[u] for u in s] for s, _ in chunk])
        tgt, tgt_len = pad_batch([[NUM_SPECIALS + u for u in t] for _, t in chunk])
        yield src, src_len, tgt, tgt_len


def tune(
    model: PromptedEncoderDecoder,
    pairs: list[Pair],
    corpus: Seq2SeqCorpus,
    epochs: int = 3,
    batch_size: int = 32,
    lr: float = 2e-2,
    seed: int = 0,
) -> list[float]:
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.98))
    rng, pairs, losses = random.Random(seed), list(pairs), []
    model.train()
    for _ in range(epochs):
        rng.shuffle(pairs)
        for batch in batches(pairs, corpus, batch_size):
            loss = model(*batch)["loss"]
            optim.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optim.step()
            losses.append(float(loss.detach()))
    model.eval()
    return losses


@torch.no_grad()
def generated_token_accuracy(
    model: PromptedEncoderDecoder, pairs: list[Pair], corpus: Seq2SeqCorpus, beam_size: int = 1
) -> float:
    """Position-wise accuracy of decoded sequences against the targets (length errors count)."""
    correct = total = 0
    for src, src_len, tgt, tgt_len in batches(pairs, corpus, 64):
        hyps, _ = model.generate(src, src_len, max_length=12, beam_size=beam_size)
        for hyp, row, n in zip(hyps, tgt, tgt_len.tolist(), strict=True):
            gold = row[:n].tolist()
            correct += sum(h == g for h, g in zip(hyp, gold, strict=False))
            total += max(len(gold), len(hyp))
    return correct / total
