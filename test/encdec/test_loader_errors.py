"""Unit mBART / Wav2Seq loading without fairseq: round trip, and one clear line per bad input."""

from __future__ import annotations

import os

import pytest
import torch

from espnet2_speechprompt.checkpoints.encdec import load_unit_mbart, load_wav2seq
from espnet2_speechprompt.checkpoints.unit_lm import save_unit_lm
from espnet2_speechprompt.errors import CheckpointError
from espnet2_speechprompt.speechlm.transformer_lm import EncoderConfig
from espnet2_speechprompt.vocab import Dictionary
from test.factories.encdec import save_unit_mbart, save_wav2seq, tiny_encdec, tiny_wav2seq
from test.factories.unit_lm import tiny_decoder

VOCAB = Dictionary([str(u) for u in (3, 0, 5, 1, 2, 4, 7, 6)] + ["<en>", "<es>"])


@pytest.fixture
def saved(tmp_path):
    model = tiny_encdec(len(VOCAB), dim=16, heads=2).eval()
    return model, save_unit_mbart(model, VOCAB, tmp_path / "unit_mBART")


def _rewrite(path, edit) -> None:
    state = torch.load(path, weights_only=False)
    edit(state["model"])
    torch.save(state, path)


def test_round_trip_and_shared_embeddings(saved):
    model, path = saved
    loaded, vocab = load_unit_mbart(path)
    assert vocab.symbols == VOCAB.symbols
    assert loaded.decoder.embed_tokens.weight is loaded.encoder.embed_tokens.weight
    # the encoder's config holds only what an encoder uses; the decoder's adds its own fields
    assert type(loaded.encoder.config) is EncoderConfig
    assert loaded.encoder.config == model.encoder.config
    assert loaded.decoder.config.cross_attention and loaded.decoder.config.encoder_dim == 16
    src = torch.tensor([[5, 6, 7, 2], [1, 8, 9, 2]])
    prev = torch.tensor([[2, 4, 5], [2, 6, 1]])
    torch.testing.assert_close(loaded(src, None, prev), model(src, None, prev), atol=0, rtol=0)


@pytest.mark.parametrize("shared, proj", [(True, None), (False, 12)], ids=["tied", "embed_out"])
def test_wav2seq_save_load_round_trip(tmp_path, shared, proj):
    model = tiny_wav2seq(len(VOCAB), shared=shared, proj_dim=proj)
    loaded, vocab = load_wav2seq(save_wav2seq(model, VOCAB, tmp_path / "wav2seq"))
    assert vocab.symbols == VOCAB.symbols and loaded.audio_input
    assert loaded.encoder.w2v_model.cfg == model.encoder.w2v_model.cfg
    assert loaded.decoder.config == model.decoder.config
    want, got = model.state_dict(), loaded.state_dict()
    assert set(got) == set(want)
    for key, value in want.items():
        assert torch.equal(got[key], value), key
    wav, lengths = torch.randn(2, 2400), torch.tensor([2400, 1700])
    prev = torch.tensor([[2, 4, 5], [2, 6, 1]])
    with torch.no_grad():
        expected = model(wav, lengths, prev)
        torch.testing.assert_close(loaded(wav, lengths, prev), expected, atol=0, rtol=0)


def test_mask_token_appended_when_the_table_has_one_more_row(tmp_path):
    model = tiny_encdec(len(VOCAB) + 1, dim=16, heads=2)
    path = save_unit_mbart(model, VOCAB, tmp_path)
    VOCAB.save(tmp_path / "dict.txt")  # the released dict.txt has no <mask>
    _, vocab = load_unit_mbart(path)
    assert vocab.symbol(len(vocab) - 1) == "<mask>"


@pytest.mark.parametrize(
    "edit,message",
    [
        (
            lambda s: s.pop("decoder.layers.1.fc2.bias"),
            r"missing key 'decoder\.layers\.1\.fc2\.bias' \(expected shape \[16\]\)",
        ),
        (
            lambda s: s.update({"encoder.layers.1.fc1.weight": torch.zeros(8, 16)}),
            r"key 'encoder\.layers\.1\.fc1\.weight' has shape \[8, 16\], expected \[32, 16\]",
        ),
        (
            lambda s: s.update({"encoder.layers.0.extra.weight": torch.zeros(2)}),
            r"unexpected key 'encoder\.layers\.0\.extra\.weight'",
        ),
    ],
    ids=["missing", "mis-shaped", "unexpected"],
)
def test_bad_keys(saved, edit, message):
    _, path = saved
    _rewrite(path, edit)
    with pytest.raises(CheckpointError, match=message):
        load_unit_mbart(path)


def test_truncated_file(saved):
    _, path = saved
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_unit_mbart(path)


def test_dictionary_size_mismatch(saved, tmp_path):
    _, path = saved
    Dictionary(["0", "1", "2"]).save(tmp_path / "small.txt")
    with pytest.raises(
        CheckpointError, match=r"3 symbols \+ 4 specials = 7 entries, but .* 14 rows"
    ):
        load_unit_mbart(path, tmp_path / "small.txt")


def test_other_architectures_are_named(saved, tmp_path):
    save_unit_lm(tiny_decoder(), Dictionary([str(i) for i in range(16)]), tmp_path / "gslm")
    gslm = tmp_path / "gslm" / "checkpoint_best.pt"
    with pytest.raises(CheckpointError, match="decoder-only LM .*not a Unit mBART"):
        load_unit_mbart(gslm)
    _, path = saved
    with pytest.raises(CheckpointError, match="unit_mbart model, not a Wav2Seq"):
        load_wav2seq(path)
    w2s = os.fspath(tmp_path / "w2s.pt")
    torch.save({"args": None, "model": {"encoder.w2v_model.x": torch.zeros(1)}}, w2s)
    with pytest.raises(CheckpointError, match="wav2seq model, not a Unit mBART"):
        load_unit_mbart(w2s)
