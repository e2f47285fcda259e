"""Scoring functions against hand-computed cases: accuracy, WER/CER, SUPERB slot-type F1 and
slot-value CER/WER (edge cases), corpus BLEU with one and four references, the score CLI."""

from __future__ import annotations

import json
import math
import sys

import pytest

from espnet2_speechprompt.bin import speechprompt_score
from espnet2_speechprompt.errors import SpeechPromptError
from espnet2_speechprompt.scoring import (
    accuracy,
    cer,
    corpus_bleu,
    edit_distance,
    error_rate,
    parse_slots,
    slot_type_f1,
    slot_value_cer,
    slot_value_wer,
    strip_slot_tags,
    wer,
)

# ---- accuracy, edit distance, WER/CER -------------------------------------------------------


def test_accuracy_counts_the_whole_intent():
    refs = ["activate lights none", "increase heat kitchen", "yes"]
    hyps = ["activate  lights none", "increase heat bedroom", "yes"]  # 2 of 3 slots: wrong
    assert accuracy(hyps, refs) == pytest.approx(2 / 3)
    with pytest.raises(SpeechPromptError, match="2 hypotheses for 3 references"):
        accuracy(hyps[:2], refs)


def test_edit_distance():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3 and edit_distance("abc", "") == 3
    assert edit_distance(["a", "b"], ["a", "b"]) == 0
    assert edit_distance("ab", "ba") == 2  # no transpositions


def test_wer_cer_by_hand_and_corpus_level():
    # one substitution (sat->sit) and one deletion (the): 2 errors / 6 words
    assert wer(["the cat sit on mat"], ["the cat sat on the mat"]) == pytest.approx(2 / 6)
    # corpus level: (1 + 0) / (2 + 4), not the mean of 1/2 and 0
    assert wer(["a", "c d e f"], ["a b", "c d e f"]) == pytest.approx(1 / 6)
    assert cer(["abd"], ["abc"]) == pytest.approx(1 / 3)
    assert cer(["ab"], ["a b"]) == pytest.approx(1 / 3)  # the space is a character
    assert cer(["a   b"], ["a b"]) == 0.0  # runs of whitespace are one space
    # an empty reference adds insertions to the numerator only
    assert wer(["x y", "a b"], ["", "a b"]) == pytest.approx(2 / 2)
    with pytest.raises(SpeechPromptError, match="every reference is empty"):
        error_rate([["x"]], [[]])


def test_wer_cer_agree_with_jiwer():
    jiwer = pytest.importorskip("jiwer")
    refs = ["the cat sat on the mat", "hello world", "a b c d e"]
    hyps = ["the cat sit on mat", "hello there world", "a c d x e f"]
    assert wer(hyps, refs) == pytest.approx(jiwer.wer(refs, hyps))
    assert cer(hyps, refs) == pytest.approx(jiwer.cer(refs, hyps))


# ---- SUPERB slot filling --------------------------------------------------------------------


def test_parse_slots():
    text = "play B-artist abba E-artist in B-room the kitchen E-room"
    assert parse_slots(text) == [("artist", "abba"), ("room", "the kitchen")]
    assert strip_slot_tags(text) == "play abba in the kitchen"
    assert parse_slots("B-artist abba") == []  # never closed
    assert parse_slots("B-a v E-ab") == []  # the closing tag must match exactly
    assert parse_slots("B-a E-a") == []  # a value has at least one token
    assert parse_slots("E-a x B-a") == []
    # non-overlapping: the scan resumes after the closing tag; hypotheses drop inner tags
    nested = "B-a x B-b y E-b E-a"
    assert parse_slots(nested) == [("a", "x B-b y E-b")]
    assert parse_slots(nested, clean_values=True) == [("a", "x y")]
    # a B- tag without its E- is skipped, the next B- can still open a slot
    assert parse_slots("B-a x B-b y E-b") == [("b", "y")]


def test_slot_type_f1_edge_cases_by_hand():
    refs = [
        "turn on the lights",  # no slots in either: F1 = 1
        "play B-artist abba E-artist",  # hypothesis has none: 0
        "hello",  # hypothesis has one, reference none: 0
        "B-artist abba E-artist B-album gold E-album",  # {artist, album} vs {artist, city}
        "B-artist abba E-artist",  # right type, wrong value: still 1 (types only)
        "B-city paris E-city B-city rome E-city",  # types form a set: {city} vs {city}
    ]
    hyps = [
        "turn on the lights",
        "play abba",
        "B-city x E-city",
        "B-artist abba E-artist B-city gold E-city",  # P = 1/2, R = 1/2 -> 1/2
        "B-artist queen E-artist",
        "B-city paris E-city",
    ]
    expected = [1.0, 0.0, 0.0, 0.5, 1.0, 1.0]
    for h, r, e in zip(hyps, refs, expected, strict=True):
        assert slot_type_f1([h], [r]) == pytest.approx(e), (h, r)
    assert slot_type_f1(hyps, refs) == pytest.approx(sum(expected) / 6)  # mean over utterances
    # P = 1/3 (a of a,b,c), R = 1/1 -> F1 = 2 * (1/3) / (4/3) = 1/2
    assert slot_type_f1(["B-a x E-a B-b y E-b B-c z E-c"], ["B-a x E-a"]) == pytest.approx(0.5)


def test_slot_value_cer_and_wer_by_hand():
    # one substitution in "new york" (8 characters): 1/8
    ref, hyp = "go to B-city new york E-city", "go to B-city new yrk E-city"
    assert slot_value_cer([hyp], [ref]) == pytest.approx(1 / 8)
    assert slot_value_wer([hyp], [ref]) == pytest.approx(1 / 2)
    # the best hypothesis value of the type is used: "pari" (1 edit) over "london"
    hyp2 = "B-city london E-city B-city pari E-city"
    assert slot_value_cer([hyp2], ["B-city paris E-city"]) == pytest.approx(1 / 5)
    # a reference slot whose type the hypothesis lacks scores against "": all deletions;
    # hypothesis-only types are ignored; corpus level: (1 + 5) / (8 + 5)
    refs = [ref, "B-date today E-date"]
    hyps = [hyp + " B-extra zzz E-extra", "B-time today E-time"]
    assert slot_value_cer(hyps, refs) == pytest.approx(6 / 13)
    assert slot_value_wer(hyps, refs) == pytest.approx(2 / 3)
    # every reference slot counts, also a type that appears twice (both against "rome"):
    # "paris" vs "rome" is 5 edits, "rome" 0: (5 + 0) / (5 + 4)
    refs3 = ["B-city paris E-city B-city rome E-city"]
    assert slot_value_cer(["B-city rome E-city"], refs3) == pytest.approx(5 / 9)
    with pytest.raises(SpeechPromptError, match="no slot values"):
        slot_value_cer(["x"], ["y"])


# ---- BLEU -----------------------------------------------------------------------------------

pytest.importorskip("sacrebleu", reason="BLEU needs sacrebleu (tools/requirements.txt)")


def geometric(precisions: list[float], bp: float = 1.0) -> float:
    return 100 * bp * math.exp(sum(math.log(p) for p in precisions) / len(precisions))


def test_bleu_single_reference_by_hand():
    hyp, ref = "the cat sat on a mat", "the cat sat on the mat"
    # matches: 1-grams 5/6, 2-grams 3/5, 3-grams 2/4, 4-grams 1/3; same length: BP = 1
    result = corpus_bleu([hyp], [[ref]])
    assert result["score"] == pytest.approx(geometric([5 / 6, 3 / 5, 2 / 4, 1 / 3]), abs=1e-6)
    assert result["bp"] == 1.0 and result["signature"].startswith("nrefs:1|")
    # shorter hypothesis, every n-gram matching: BLEU = BP = exp(1 - 6/5)
    short = corpus_bleu(["the cat sat on the"], [[ref]])["score"]
    assert short == pytest.approx(100 * math.exp(1 - 6 / 5), abs=1e-6)
    # 13a tokenization splits the final period off
    period = corpus_bleu(["the cat sat on the mat."], [["the cat sat on the mat ."]])["score"]
    assert period == pytest.approx(100.0)


def test_bleu_is_corpus_level():
    hyps = ["the cat sat on a mat", "a b c d"]
    refs = ["the cat sat on the mat", "a b c d"]
    # n-gram counts are summed over sentences: (5+4)/(6+4), (3+3)/(5+3), (2+2)/(4+2), (1+1)/(3+1)
    expected = geometric([9 / 10, 6 / 8, 4 / 6, 2 / 4])
    assert corpus_bleu(hyps, [refs])["score"] == pytest.approx(expected, abs=1e-6)


def test_bleu_multiple_references():
    hyp = "the cat sat on a mat"
    ref1, ref2 = "the cat sat on the mat", "a cat sat on a mat"
    # with both, every hypothesis n-gram is in one reference (clipped by the max count): 100
    assert corpus_bleu([hyp], [[ref1], [ref2]])["score"] == pytest.approx(100.0)
    four = corpus_bleu([hyp], [[ref1], [ref2], ["x"], ["y y y"]])
    assert four["score"] == pytest.approx(100.0) and four["signature"].startswith("nrefs:4|")
    with pytest.raises(SpeechPromptError, match="reference stream 1 has 2 lines for 1"):
        corpus_bleu([hyp], [[ref1], [ref1, ref2]])


def test_bleu_without_sacrebleu_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sacrebleu", None)
    with pytest.raises(SpeechPromptError, match="pip install sacrebleu==2.6.0"):
        corpus_bleu(["a"], [["a"]])


# ---- the score entry point ------------------------------------------------------------------


def write(path, rows: dict[str, str]):
    path.write_text("".join(f"{k} {v}\n" for k, v in rows.items()))
    return str(path)


def test_score_char_and_slot_labels(tmp_path):
    ref = {
        "u1": "P L A Y | B-artist | A B B A | E-artist",
        "u2": "H I | T H E R E",
    }
    hyp = {
        "u1": "P L A Y | B-artist | A B A | E-artist",  # one character deleted in the value
        "u2": "H I | T H E R E",
    }
    result = speechprompt_score.score(
        ref, hyp, ["acc", "char_wer", "char_cer", "slot_f1", "slot_cer", "slot_wer"]
    )
    assert result["acc"] == 0.5 and result["slot_f1"] == 1.0
    assert result["slot_cer"] == pytest.approx(1 / 4) and result["slot_wer"] == 1.0
    # text without tags: "PLAY ABBA" vs "PLAY ABA", "HI THERE": WER 1/4, CER 1/17
    assert result["char_wer"] == pytest.approx(1 / 4)
    assert result["char_cer"] == pytest.approx(1 / 17)


def test_score_cli_bleu_with_extra_references(tmp_path, capsys):
    hyp = write(tmp_path / "hyp", {"a": "the cat sat on a mat"})
    ref = write(tmp_path / "ref", {"a": "the cat sat on the mat"})
    ref2 = write(tmp_path / "ref2", {"a": "a cat sat on a mat"})
    out = tmp_path / "result.json"
    speechprompt_score.main(
        ["--ref", ref, "--hyp", hyp, "--metrics", "bleu", "--extra_ref", ref2, "--output", str(out)]
    )
    result = json.loads(out.read_text())
    assert result["bleu"] == pytest.approx(100.0) and "nrefs:2" in result["bleu_signature"]
    write(tmp_path / "ref3", {"b": "x"})
    with pytest.raises(SystemExit):
        speechprompt_score.main(
            ["--ref", ref, "--hyp", hyp, "--metrics", "bleu", "--extra_ref", str(tmp_path / "ref3")]
        )
    assert "error: utterance a is missing from extra reference 1" in capsys.readouterr().err
