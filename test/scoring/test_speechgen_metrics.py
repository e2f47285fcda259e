"""Text-free metrics of generated units: unit BLEU, the unit error rate inside masked spans (from
an edit-distance alignment), Auto-BLEU (repetition within a sample) and Self-BLEU (sameness
across samples)."""

from __future__ import annotations

import json
import random

import pytest

from espnet2_speechprompt.errors import SpeechPromptError
from espnet2_speechprompt.scoring.metrics import edit_distance
from espnet2_speechprompt.scoring.speechgen import (
    alignment,
    auto_bleu,
    self_bleu,
    span_error_rate,
    unit_bleu,
)

REF = list(range(10, 20))


def test_unit_bleu_is_100_for_the_truth_and_0_for_other_units():
    assert unit_bleu([REF, REF[:6]], [REF, REF[:6]]) == pytest.approx(100.0)
    assert unit_bleu([[1, 2, 3, 4, 5]], [REF]) == 0.0


def test_the_alignment_costs_the_edit_distance():
    rng = random.Random(0)
    for _ in range(50):
        hyp = [rng.randrange(4) for _ in range(rng.randrange(8))]
        ref = [rng.randrange(4) for _ in range(rng.randrange(8))]
        ops = alignment(hyp, ref)
        assert sum(op != "=" for op, _ in ops) == edit_distance(hyp, ref)
        assert sum(op in "=sd" for op, _ in ops) == len(ref)


@pytest.mark.parametrize(
    "hyp, errors",
    [
        (REF, 0),
        (REF[:4] + [99] + REF[5:], 1),  # a span unit substituted
        (REF[:1] + [99] + REF[2:], 0),  # outside the span
        (REF[:4] + [99] + REF[4:], 1),  # an insertion inside the span
        (REF[:3] + REF[6:], 3),  # the span dropped
        (REF[:3] + [98, 99] + REF[3:], 0),  # inserted before the span, not in it
    ],
)
def test_span_error_rate_counts_errors_inside_the_span_only(hyp, errors):
    assert span_error_rate([hyp], [REF], [[(3, 6)]]) == pytest.approx(errors / 3)


def test_auto_and_self_bleu():
    assert auto_bleu([[1, 2, 1, 2]]) == pytest.approx(2 / 3)
    assert auto_bleu([[1, 2, 3, 4], [5, 5, 5]]) == pytest.approx(0.5)
    assert self_bleu([[REF, REF, REF]]) == pytest.approx(100.0)
    assert self_bleu([[REF, [1, 2, 3, 4, 5, 6]]]) < 10


def test_undefined_cases_are_one_error():
    with pytest.raises(SpeechPromptError, match="outside an utterance of 10 units"):
        span_error_rate([REF], [REF], [[(8, 12)]])
    with pytest.raises(SpeechPromptError, match="Auto-BLEU is undefined"):
        auto_bleu([[1]])
    with pytest.raises(SpeechPromptError, match="at least two samples"):
        self_bleu([[REF]])


def test_the_scoring_command(tmp_path, capsys):
    from espnet2_speechprompt.bin import speechgen_score

    ref = " ".join(map(str, REF))
    (tmp_path / "ref").write_text(f"a {ref}\nb {ref}\n")
    wrong = " ".join(map(str, REF[:4] + [99] + REF[5:]))
    (tmp_path / "hyp").write_text(f"a {ref}\nb {wrong}\n")
    (tmp_path / "spans").write_text("a 3 6\nb 3 6\n")
    for n, text in ((1, f"a {ref}\nb {wrong}\n"), (2, f"a {wrong}\nb {wrong}\n")):
        (tmp_path / f"{n}best_recog").mkdir()
        (tmp_path / f"{n}best_recog" / "text").write_text(text)
    speechgen_score.main(["--ref", str(tmp_path / "ref"), "--hyp", str(tmp_path / "hyp"),
                          "--spans", str(tmp_path / "spans"), "--nbest_dir", str(tmp_path),
                          "--output", str(tmp_path / "out.json")])  # fmt: skip
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["span_unit_error_rate"] == pytest.approx(1 / 6, abs=1e-4)
    assert result["num_utterances"] == 2 and 0 < result["unit_bleu"] < 100
    assert result["auto_bleu_2"] == 0.0 and 0 < result["self_bleu"] <= 100
    (tmp_path / "hyp").write_text("a 5\nb\n")  # a degenerate model: Auto-BLEU left out
    speechgen_score.main(["--ref", str(tmp_path / "ref"), "--hyp", str(tmp_path / "hyp"),
                          "--output", str(tmp_path / "short.json")])  # fmt: skip
    short = json.loads((tmp_path / "short.json").read_text())
    assert "auto_bleu_2" not in short and short["unit_bleu"] == 0.0
    (tmp_path / "hyp").write_text(f"a {ref}\n")
    with pytest.raises(SystemExit):
        speechgen_score.main(["--ref", str(tmp_path / "ref"), "--hyp", str(tmp_path / "hyp")])
    assert "no units for utterance b" in capsys.readouterr().err


def test_perplexity_under_a_unit_lm(tmp_path):
    from espnet2_speechprompt.bin import speechgen_score
    from espnet2_speechprompt.vocab import Dictionary
    from test.factories.unit_lm import save_random_unit_lm

    checkpoint = save_random_unit_lm(Dictionary(str(u) for u in range(30)), tmp_path / "lm")
    ref = " ".join(map(str, REF))
    (tmp_path / "ref").write_text(f"a {ref}\n")
    (tmp_path / "hyp").write_text(f"a {ref}\n")
    cmd = ["--ref", str(tmp_path / "ref"), "--hyp", str(tmp_path / "hyp"),
           "--backbone_checkpoint", str(checkpoint), "--output", str(tmp_path / "o.json")]  # fmt: skip
    speechgen_score.main(cmd)
    assert json.loads((tmp_path / "o.json").read_text())["perplexity"] > 1.0


def test_copying_the_neighbours_fills_every_span():
    from espnet2_speechprompt.baselines.speechgen import copy_neighbours

    assert copy_neighbours([1, -1, -1, -1, -1, 2]) == [1, 1, 1, 2, 2, 2]
    assert copy_neighbours([1, -1, -1, -1, 2]) == [1, 1, 1, 2, 2]  # the odd one from the left
    assert copy_neighbours([-1, -1, 3, 4, -1]) == [3, 3, 3, 4, 4]
    with pytest.raises(SpeechPromptError, match="every unit is masked"):
        copy_neighbours([-1, -1])


def test_the_copy_baseline_beside_the_model(tmp_path):
    from espnet2_speechprompt.bin import speechgen_score

    truth = [1, 2, 3, 3, 4, 4, 5]
    ref = " ".join(map(str, truth))
    (tmp_path / "ref").write_text(f"a {ref}\n")
    (tmp_path / "hyp").write_text(f"a {ref}\n")
    source = truth[:2] + [-1, -1, -1] + truth[5:]
    (tmp_path / "source").write_text(f"a {' '.join(map(str, source))}\n")
    (tmp_path / "spans").write_text("a 2 5\n")
    speechgen_score.main(["--ref", str(tmp_path / "ref"), "--hyp", str(tmp_path / "hyp"),
                          "--spans", str(tmp_path / "spans"), "--source", str(tmp_path / "source"),
                          "--output", str(tmp_path / "o.json")])  # fmt: skip
    result = json.loads((tmp_path / "o.json").read_text())
    # the copy fills 2 2 4 for 3 3 4: two of three wrong; the model's copy of the truth: none
    assert result["span_unit_error_rate"] == 0.0
    assert result["copy_span_unit_error_rate"] == pytest.approx(2 / 3, abs=1e-4)
