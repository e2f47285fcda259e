"""Entry points for sequence and speech targets: label list union / fixed list, OOV reference
tokens, ASR-BLEU (fake transcriber injected, no download), RESULTS.md metric columns."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from espnet2_speechprompt.bin import asr_bleu, make_label_list, speechprompt_score
from espnet2_speechprompt.bin.make_results import metric_table

# ---- make_label_list --------------------------------------------------------------------------


def test_label_list_is_the_union_of_the_label_files(tmp_path):
    (tmp_path / "train").write_text("a H I | Y O U\nb B-x H I E-x\n")
    (tmp_path / "valid").write_text("c Z O O\n")
    make_label_list.main(["--label", str(tmp_path / "train"), "--label", str(tmp_path / "valid"),
                          "--output", str(tmp_path / "list")])  # fmt: skip
    assert (tmp_path / "list").read_text().split() == sorted(
        ["B-x", "E-x", "H", "I", "O", "U", "Y", "Z", "|"]
    )


def test_fixed_label_list_is_kept_and_checked(tmp_path, capsys):
    (tmp_path / "train").write_text("a H I\nb H O\n")
    (tmp_path / "fixed").write_text("I\nH\nO\nX\n")
    make_label_list.main(["--label", str(tmp_path / "train"), "--fixed", str(tmp_path / "fixed"),
                          "--output", str(tmp_path / "list")])  # fmt: skip
    assert (tmp_path / "list").read_text().split() == ["I", "H", "O", "X"]  # order kept
    (tmp_path / "valid").write_text("c H Q\n")
    with pytest.raises(SystemExit):
        make_label_list.main(["--label", str(tmp_path / "train"), "--label",
                              str(tmp_path / "valid"), "--fixed", str(tmp_path / "fixed"),
                              "--output", str(tmp_path / "list2")])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (
        f"error: {tmp_path / 'valid'}:1: utterance c: label token 'Q' is not in --fixed "
        f"{tmp_path / 'fixed'}; add it there or drop --fixed"
    )
    assert not (tmp_path / "list2").exists()


# ---- speechprompt_score --label_list ----------------------------------------------------------


def test_score_counts_reference_tokens_outside_the_label_list(tmp_path, capsys):
    (tmp_path / "ref").write_text("u1 H I | Q\nu2 H O\n")
    (tmp_path / "hyp").write_text("u1 H I\nu2 H O\n")
    (tmp_path / "labels").write_text("H\nI\nO\n|\n")
    out = tmp_path / "r.json"
    speechprompt_score.main(["--ref", str(tmp_path / "ref"), "--hyp", str(tmp_path / "hyp"),
                             "--metrics", "char_cer", "acc", "--label_list",
                             str(tmp_path / "labels"), "--output", str(out)])  # fmt: skip
    result = json.loads(out.read_text())
    assert result["ref_oov_tokens"] == 1 and result["ref_oov_rate"] == pytest.approx(1 / 6)
    assert result["char_cer"] == pytest.approx(2 / 6)  # "HI Q" vs "HI": 2 of 6 characters
    assert "utterance u1: 'Q'" in capsys.readouterr().err


# ---- asr_bleu ---------------------------------------------------------------------------------

SENTENCES = {1: "the cat sat on the mat", 2: "a dog ran in the park today", 3: "hello there"}


def fake_transcriber(wav: np.ndarray, rate: int) -> str:
    """The sentence whose number is the wav's length in tenths of a second."""
    return SENTENCES.get(round(len(wav) / rate * 10), "")


def make_factory(device: str = "cpu"):
    return fake_transcriber


@pytest.fixture
def speech(tmp_path) -> Path:
    """wavs for u1..u3 (lengths 0.1/0.2/0.3 s; u3 missing from wav.scp), references."""
    lines = []
    for i in (1, 2):
        soundfile.write(tmp_path / f"u{i}.wav", np.zeros(1600 * i, dtype=np.float32), 16000)
        lines.append(f"u{i} {tmp_path / f'u{i}.wav'}\n")
    (tmp_path / "wav.scp").write_text("".join(lines))
    (tmp_path / "ref").write_text(
        "u1 The cat sat on the mat.\nu2 A dog ran in the park, today!\nu3 Hello there.\n"
    )
    return tmp_path


def test_normalize_text():
    assert asr_bleu.normalize_text("Hello, World!  It's   fine.") == "hello world it's fine"


def test_asr_bleu_with_injected_transcriber(speech):
    args = asr_bleu.get_parser().parse_args(["--wav_scp", str(speech / "wav.scp"), "--ref",
                                             str(speech / "ref"), "--output_dir",
                                             str(speech / "out")])  # fmt: skip
    result = asr_bleu.run(args, transcriber=fake_transcriber)
    assert result["missing_wavs"] == 1 and result["num_utterances"] == 3
    assert 0 < result["bleu"] < 100  # u3 has no wav: an empty transcript
    text = (speech / "out" / "text").read_text().splitlines()
    assert text == ["u1 the cat sat on the mat", "u2 a dog ran in the park today", "u3 "]
    full = asr_bleu.asr_bleu(
        {"u1": SENTENCES[1], "u2": SENTENCES[2], "u3": SENTENCES[3]},
        speechprompt_score.read_table(speech / "ref"),
    )
    assert full["bleu"] == pytest.approx(100.0) and full["wer"] == full["cer"] == 0
    raw = asr_bleu.asr_bleu(
        {"u1": SENTENCES[1], "u2": SENTENCES[2], "u3": SENTENCES[3]},
        speechprompt_score.read_table(speech / "ref"),
        normalize=False,
    )
    assert raw["bleu"] < 100


def test_asr_bleu_several_references():
    hyps = {"a": "the cat is on the mat", "b": "there is a dog here"}
    one = asr_bleu.asr_bleu(hyps, {"a": "a cat is on a mat", "b": "a dog is there"})
    two = asr_bleu.asr_bleu(
        hyps, {"a": "a cat is on a mat", "b": "a dog is there"},
        [{"a": "the cat is on the mat", "b": "there is a dog here"}],
    )  # fmt: skip
    assert two["bleu"] == pytest.approx(100.0) and one["bleu"] < 50
    # error rates against the first reference: 2 edits of 6 words, then 4 edits of 4 words
    assert one["wer"] == two["wer"] == pytest.approx((2 + 4) / 10)
    assert 0 < one["cer"] == two["cer"] < 1


def test_asr_bleu_cli_with_a_factory(speech, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    sys.modules.pop("test_seq_tools", None)
    asr_bleu.main(["--wav_scp", str(speech / "wav.scp"), "--ref", str(speech / "ref"),
                   "--output_dir", str(speech / "cli"), "--asr_factory",
                   "test_seq_tools:make_factory"])  # fmt: skip
    result = json.loads((speech / "cli" / "result.json").read_text())
    assert result["asr_model"] == "test_seq_tools:make_factory" and result["missing_wavs"] == 1
    assert "norm:lc-nopunct" in result["bleu_signature"]


def test_asr_bleu_without_a_model_is_one_error_line(speech, capsys):
    with pytest.raises(SystemExit):
        asr_bleu.main(["--wav_scp", str(speech / "wav.scp"), "--ref", str(speech / "ref"),
                       "--output_dir", str(speech / "x")])  # fmt: skip
    assert capsys.readouterr().err.strip().startswith("error: name an ASR model: --asr_model_tag")
    with pytest.raises(SystemExit):
        asr_bleu.main(["--wav_scp", str(speech / "wav.scp"), "--ref", str(speech / "ref"),
                       "--output_dir", str(speech / "x"), "--asr_factory", "nowhere_mod:f"])  # fmt: skip
    assert "--asr_factory nowhere_mod:f: cannot import it" in capsys.readouterr().err


# ---- make_results: the metric table ----------------------------------------------------------


def test_metric_table_columns_from_the_result_files(tmp_path):
    exp, dump = tmp_path / "exp", tmp_path / "dump"
    for name, cer in (("dev", 0.1234), ("test", 0.2)):
        (exp / "decode" / name).mkdir(parents=True)
        (exp / "decode" / name / "result.json").write_text(
            json.dumps({"num_utterances": 7, "char_cer": cer, "char_wer": 0.5, "ref_oov_tokens": 0})
        )
    (exp / "decode" / "test" / "asr_bleu").mkdir()
    (exp / "decode" / "test" / "asr_bleu" / "result.json").write_text(
        json.dumps({"bleu": 12.345, "bleu_signature": "nrefs:1|x", "asr_model": "m"})
    )
    lines = metric_table(exp, dump, ["decode/dev", "decode/test"],
                         ["char_wer", "char_cer", "asr_bleu"], {"decoding": "greedy"})  # fmt: skip
    assert lines[:4] == [
        "|dataset|Snt|char_wer|char_cer|asr_bleu|",
        "|---|---|---|---|---|",
        "|decode/dev|7|50.00|12.34|-|",
        "|decode/test|7|50.00|20.00|12.35|",
    ]
    assert "- asr_model: `m`" in lines and any("decoding `greedy`" in line for line in lines)


# ---- units_to_wav --skip_empty ----------------------------------------------------------------


def test_units_to_wav_skips_empty_generations(tmp_path):
    from espnet2_speechprompt.bin import units_to_wav
    from espnet2_speechprompt.bin.units_cli import run
    from test.factories.vocoder import native_state, save_released, tiny_config

    cfg = tiny_config(dur=True)
    ckpt, _ = save_released(tmp_path / "voc", native_state(cfg), cfg)
    (tmp_path / "units").write_text("a 1 2 3\nb\nc 4 5\n")
    common = ["--units", str(tmp_path / "units"), "--checkpoint", ckpt]
    assert run(units_to_wav.main, [*common, "--out-dir", str(tmp_path / "x")]) == 1
    assert run(units_to_wav.main, [*common, "--out-dir", str(tmp_path / "w"), "--skip_empty"]) == 0
    assert [line.split()[0] for line in (tmp_path / "w" / "wav.scp").read_text().splitlines()] == [
        "a",
        "c",
    ]
