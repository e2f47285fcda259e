"""``bin/speechgen_unprompted``: the frozen backbones without prompts decode speechgen sources
(fixed random weights): the bare LM continues prefixes as ``continue_units`` does, the
encoder-decoder reads masked units as its ``<mask>``; a batch decodes as its utterances alone,
samples are seeded, ``--nbest`` writes the n-best dirs; masked units for an LM without
``<mask>`` are one error naming the utterance."""

from __future__ import annotations

import pytest
import torch

from espnet2_speechprompt.bin import speechgen_unprompted
from espnet2_speechprompt.checkpoints.encdec import save_unit_mbart
from espnet2_speechprompt.speechlm.continuation import continue_units
from espnet2_speechprompt.speechlm.denoise import DenoiseConfig, unit_mbart_shaped
from espnet2_speechprompt.speechlm.sampling import SamplingConfig
from espnet2_speechprompt.units.datadir import read_units
from espnet2_speechprompt.vocab import Dictionary
from test.factories.unit_lm import save_random_unit_lm

pytestmark = pytest.mark.usefixtures("one_thread")
VOCAB = Dictionary(str(u) for u in range(12))
SOURCES = {"a": [3, 4, 5, 6, 7], "b": [1, 1, 2], "c": [9, 8, 7, 6, 5, 4, 3], "d": [0, -1, -1, 5]}


def write_source(path, keys) -> str:
    path.write_text("".join(f"{k} {' '.join(map(str, SOURCES[k]))}\n" for k in keys))
    return str(path)


def decode(tmp_path, name, backbone, checkpoint, source, *options) -> dict[str, list[int]]:
    out = tmp_path / name
    speechgen_unprompted.main(["--backbone", backbone, "--backbone_checkpoint", str(checkpoint),
                               "--source", source, "--output_dir", str(out), "--max_len_a", "1",
                               "--max_len_b", "3", *options])  # fmt: skip
    return dict(read_units(out / "text"))


def test_the_bare_lm_continues_as_continue_units_alone_or_batched(tmp_path, capsys):
    checkpoint = save_random_unit_lm(VOCAB, tmp_path / "lm")
    source = write_source(tmp_path / "source", "abc")
    batched = decode(tmp_path, "greedy", "gslm", checkpoint, source)
    one = decode(tmp_path, "one", "gslm", checkpoint, source, "--batch_size", "1")
    assert batched == one
    lines = (tmp_path / "greedy" / "text").read_text().splitlines()
    assert [line.split()[0] for line in lines] == list("abc")  # one line each, no blank ones
    model, vocab = speechgen_unprompted.BACKBONES["gslm"](str(checkpoint)).load()
    for key, units in SOURCES.items():
        if key == "d":
            continue
        tokens = torch.tensor([[vocab.index(str(u)) for u in units]])
        hyp = continue_units(model.eval(), tokens, torch.tensor([len(units)]), [0],
                             SamplingConfig(0.0), 100)[0][0]  # fmt: skip
        assert batched[key] == [int(vocab.symbols[t]) for t in hyp.tokens][: len(units) + 3]
    samples = decode(tmp_path, "sample", "gslm", checkpoint, source, "--decoding", "sample",
                     "--nbest", "2", "--temperature", "1.0")  # fmt: skip
    assert samples == decode(tmp_path, "again", "gslm", checkpoint, source, "--decoding", "sample",
                             "--nbest", "2", "--temperature", "1.0")  # fmt: skip
    assert (tmp_path / "sample" / "2best_recog" / "text").is_file()
    with pytest.raises(SystemExit):  # -1 needs a <mask>: one line naming the utterance
        decode(tmp_path, "masked", "gslm", checkpoint, write_source(tmp_path / "d", "d"))
    assert "utterance d has masked units (-1)" in capsys.readouterr().err
    assert not (tmp_path / "masked").exists()


def test_the_encoder_decoder_reads_masked_units_as_its_mask(tmp_path):
    torch.manual_seed(0)
    model = unit_mbart_shaped(len(VOCAB) + 1, DenoiseConfig(16, 1, 2, 32, max_positions=64))
    checkpoint = save_unit_mbart(model, VOCAB, tmp_path / "mbart")
    source = write_source(tmp_path / "source", "abcd")
    batched = decode(tmp_path, "greedy", "unit_mbart", checkpoint, source)
    assert batched == decode(tmp_path, "one", "unit_mbart", checkpoint, source, "--batch_size", "1")
    assert set(batched) == set("abcd")
    assert all(len(units) <= len(SOURCES[k]) + 3 for k, units in batched.items())
    assert all(0 <= u < 12 for units in batched.values() for u in units)
    beam = decode(tmp_path, "beam", "unit_mbart", checkpoint, source, "--decoding", "beam",
                  "--beam_size", "3")  # fmt: skip
    bare, vocab, units = speechgen_unprompted.bare_backbone("unit_mbart", str(checkpoint))
    for key in "abc":  # the bare model's beam search, one utterance at a time
        tokens = torch.tensor([[vocab.index(str(u)) for u in SOURCES[key]]])
        best = bare.search(tokens, torch.tensor([tokens.shape[1]]), 3, max_len_a=1.0,
                           max_len_b=3)[0][0]  # fmt: skip
        assert beam[key] == [units[t - 4] for t in best.tokens if t >= 4]
    assert not (tmp_path / "beam" / "2best_recog").exists()  # --nbest 1: the best only


def test_beam_search_is_for_the_encoder_decoder(tmp_path, capsys):
    checkpoint = save_random_unit_lm(VOCAB, tmp_path / "lm")
    with pytest.raises(SystemExit):
        decode(tmp_path, "beam", "gslm", checkpoint, write_source(tmp_path / "s", "a"),
               "--decoding", "beam")  # fmt: skip
    assert "beam search is for --backbone unit_mbart" in capsys.readouterr().err
