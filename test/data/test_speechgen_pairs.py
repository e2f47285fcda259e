"""Continuation and inpainting pairs from a units file: cut points, seeded spans that never
overlap nor leave the utterance (the same for an utterance in any file order), both inpainting
targets, and one-line errors for a ratio outside (0, 1) and a span longer than an utterance."""

from __future__ import annotations

import pytest

from espnet2_speechprompt.bin import speechgen_pairs
from espnet2_speechprompt.data.speechgen import (
    InpaintingConfig,
    PairError,
    continuation_pair,
    inpainting_pair,
)
from espnet2_speechprompt.vocab import MASK_UNIT

UNITS = list(range(100, 140))  # 40 units


def test_continuation_cuts_at_the_ratio():
    assert continuation_pair("u", UNITS, 0.25) == (UNITS[:10], UNITS[10:])
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(PairError, match="must be in \\(0, 1\\)"):
            continuation_pair("u", UNITS, bad)
    with pytest.raises(PairError, match="utterance u: 1 units cannot be cut"):
        continuation_pair("u", [5], 0.5)


@pytest.mark.parametrize("num_spans", [1, 3])
def test_inpainting_spans_stay_inside_and_apart(num_spans):
    config = InpaintingConfig(span_seconds=0.1, num_spans=num_spans, units_per_second=40)
    for utt in (f"u{i}" for i in range(50)):
        source, target, spans = inpainting_pair(utt, UNITS, config)
        assert target == UNITS and len(spans) == num_spans and len(source) == len(UNITS)
        assert all(0 <= s < e <= len(UNITS) and e - s == 4 for s, e in spans)
        assert all(e1 <= s2 for (_, e1), (s2, _) in zip(spans, spans[1:], strict=False))
        masked = {i for s, e in spans for i in range(s, e)}
        assert [t == MASK_UNIT for t in source] == [i in masked for i in range(len(UNITS))]
        assert inpainting_pair(utt, UNITS, config) == (source, target, spans)  # seeded by utt
    spans_only = InpaintingConfig(0.1, 2, 40, target="span")
    _, target, spans = inpainting_pair("u1", UNITS, spans_only)
    assert target == [u for s, e in spans for u in UNITS[s:e]]


def test_a_span_longer_than_the_utterance_is_one_error():
    with pytest.raises(PairError, match="utterance short: 1 span\\(s\\) of 25 units .* longer"):
        inpainting_pair("short", UNITS[:10], InpaintingConfig(span_seconds=0.5))
    with pytest.raises(PairError, match="target 'all'"):
        InpaintingConfig(target="all")


def test_the_command_writes_a_whole_directory_or_nothing(tmp_path, capsys):
    units = tmp_path / "units"
    units.write_text("a 1 2 3 4 5 6 7 8\nb 1 2\n")
    out = tmp_path / "pairs"
    common = ["--units", str(units), "--task", "inpainting", "--span_seconds", "0.06"]
    with pytest.raises(SystemExit):  # b is too short for a span of 3 units
        speechgen_pairs.main([*common, "--out_dir", str(out)])
    assert "utterance b" in capsys.readouterr().err and not out.exists()
    speechgen_pairs.main([*common, "--out_dir", str(out), "--skip_short"])
    assert (out / "source").read_text().split()[1:].count("-1") == 3
    assert (out / "spans").read_text().startswith("a ")
    speechgen_pairs.main(["--units", str(units), "--task", "continuation", "--ratio", "0.5",
                          "--out_dir", str(tmp_path / "cont")])  # fmt: skip
    assert (tmp_path / "cont" / "target").read_text() == "a 5 6 7 8\nb 2\n"
