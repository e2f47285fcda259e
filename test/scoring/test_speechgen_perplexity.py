"""Perplexity of generated units under the frozen backbone without prompts (fixed random
weights): a unit LM scores them after their source (the prefix it continued), or alone where
the source holds masked units; an encoder-decoder scores them given its input, the same
log-likelihood as decoding them step by step with cached keys and values; an encoder-decoder
without ``--source`` is one error."""

from __future__ import annotations

import json
import math

import pytest
import torch

from espnet2_speechprompt.bin import speechgen_score
from espnet2_speechprompt.bin.speechgen_unprompted import bare_backbone
from espnet2_speechprompt.checkpoints.encdec import save_unit_mbart
from espnet2_speechprompt.checkpoints.unit_lm import load_unit_lm
from espnet2_speechprompt.speechlm.denoise import DenoiseConfig, unit_mbart_shaped
from espnet2_speechprompt.vocab import EOS, Dictionary
from test.factories.unit_lm import save_random_unit_lm

pytestmark = pytest.mark.usefixtures("one_thread")
VOCAB = Dictionary(str(u) for u in range(12))
SOURCES = {"a": [3, 4, 5, 6], "b": [1, 1, 2], "c": [9, 8, 7, 6, 5]}
HYPS = {"a": [7, 8, 9], "b": [2, 3, 3, 4, 5], "c": [4]}


def write(path, rows: dict[str, list[int]]) -> str:
    path.write_text("".join(f"{k} {' '.join(map(str, v))}\n" for k, v in rows.items()))
    return str(path)


def score(tmp_path, backbone: str, checkpoint, sources: dict | None) -> dict:
    cmd = ["--ref", write(tmp_path / "ref", HYPS), "--hyp", write(tmp_path / "hyp", HYPS),
           "--backbone", backbone, "--backbone_checkpoint", str(checkpoint),
           "--output", str(tmp_path / "o.json")]  # fmt: skip
    if sources is not None:
        cmd += ["--source", write(tmp_path / "source", sources)]
    speechgen_score.main(cmd)
    return json.loads((tmp_path / "o.json").read_text())


def lm_logprob(lm, vocab, context: list[int], units: list[int]) -> float:
    """log p(units </s> | </s> context) under the LM, one row at a time."""
    tokens = [EOS] + [vocab.index(str(u)) for u in context + units] + [EOS]
    logprobs = torch.log_softmax(lm(torch.tensor([tokens]))[0, :-1].float(), dim=-1)
    picked = logprobs[torch.arange(len(tokens) - 1), torch.tensor(tokens[1:])]
    return float(picked[len(context) :].sum())


def test_a_unit_lm_scores_the_units_after_their_source_or_alone(tmp_path):
    checkpoint = save_random_unit_lm(VOCAB, tmp_path / "lm")
    lm, vocab = load_unit_lm(str(checkpoint))
    tokens = sum(len(u) + 1 for u in HYPS.values())
    with torch.no_grad():
        given = sum(lm_logprob(lm.eval(), vocab, SOURCES[k], HYPS[k]) for k in HYPS)
        alone = sum(lm_logprob(lm, vocab, [], HYPS[k]) for k in HYPS)
    result = score(tmp_path, "gslm", checkpoint, SOURCES)
    assert result["perplexity_given"] == "source"
    assert result["perplexity"] == pytest.approx(math.exp(-given / tokens), rel=1e-4)
    masked = {**SOURCES, "b": [1, -1, 2]}  # the LM has no <mask>: the units alone
    for sources in (None, masked):
        result = score(tmp_path, "gslm", checkpoint, sources)
        assert result["perplexity_given"] == "nothing"
        assert result["perplexity"] == pytest.approx(math.exp(-alone / tokens), rel=1e-4)


def test_an_encoder_decoder_scores_the_units_given_its_input(tmp_path, capsys):
    torch.manual_seed(0)
    model = unit_mbart_shaped(len(VOCAB) + 1, DenoiseConfig(16, 1, 2, 32, max_positions=64))
    checkpoint = save_unit_mbart(model, VOCAB, tmp_path / "mbart")
    sources = {**SOURCES, "b": [1, -1, -1, 2]}  # masked units: its <mask>
    result = score(tmp_path, "unit_mbart", checkpoint, sources)
    assert result["perplexity_given"] == "source"
    bare, vocab, units = bare_backbone("unit_mbart", str(checkpoint))
    encode = {u: vocab.index(str(u)) for u in units} | {-1: vocab.index("<mask>")}
    total = 0.0
    for key, hyp in HYPS.items():  # step by step from the decoder's cache, one row at a time
        source = torch.tensor([[encode[u] for u in sources[key]]])
        labels = torch.tensor([[4 + units.index(u) for u in hyp]])
        total += float(bare.score_candidates(source, torch.tensor([source.shape[1]]), labels))
    tokens = sum(len(u) + 1 for u in HYPS.values())
    assert result["perplexity"] == pytest.approx(math.exp(-total / tokens), rel=1e-4)
    other = score(tmp_path, "unit_mbart", checkpoint, {k: [0, 0] for k in SOURCES})
    assert other["perplexity"] != pytest.approx(result["perplexity"], rel=1e-3)  # it reads them
    with pytest.raises(SystemExit):
        score(tmp_path, "unit_mbart", checkpoint, None)
    assert "give --source" in capsys.readouterr().err
