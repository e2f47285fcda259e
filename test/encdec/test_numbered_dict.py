"""bin/numbered_dict: a placeholder dict.txt sized to a checkpoint released without one."""

from __future__ import annotations

import pytest

from espnet2_speechprompt.bin import numbered_dict
from espnet2_speechprompt.checkpoints.encdec import load_wav2seq
from espnet2_speechprompt.errors import CheckpointError
from test.factories.encdec import save_tiny_wav2seq


def test_numbered_dict_makes_a_wav2seq_release_loadable(tmp_path, capsys):
    checkpoint = save_tiny_wav2seq(tmp_path / "w2s", num_symbols=9)
    (tmp_path / "w2s" / "dict.txt").unlink()  # as released: no dictionary
    with pytest.raises(CheckpointError, match="no such dictionary file"):
        load_wav2seq(checkpoint)
    numbered_dict.main(["--checkpoint", str(checkpoint)])
    assert "13 entries (4 specials + 9 numbered symbols)" in capsys.readouterr().out
    model, loaded = load_wav2seq(checkpoint)
    assert len(loaded) == 13 and loaded.symbols[4:6] == ["t4", "t5"]
    assert model.decoder.config.vocab_size == len(loaded)
    # an existing dictionary is never overwritten; a missing checkpoint is one line
    with pytest.raises(SystemExit):
        numbered_dict.main(["--checkpoint", str(checkpoint)])
    assert "dict.txt exists" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        numbered_dict.main(["--checkpoint", str(tmp_path / "nope.pt")])
    assert "nope.pt: no such file" in capsys.readouterr().err
