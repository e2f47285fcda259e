"""Sources longer than the backbone's trained context: inference warns once (and cuts where a
longer source would fail: learned positions), training cuts to ``--max_source_length`` (by
default the trained context) instead of failing with an index error, and an allocator failure
is one line naming the options."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
import yaml

pytest.importorskip("espnet2", reason="espnet (the task layer's dependency) is not installed")

from espnet2_speechprompt.bin.speechprompt_inference import SpeechPrompt, inference  # noqa: E402
from espnet2_speechprompt.errors import SpeechPromptError  # noqa: E402
from espnet2_speechprompt.prompt.builders import build_prompted  # noqa: E402
from espnet2_speechprompt.prompt.prompts import PromptConfig  # noqa: E402
from espnet2_speechprompt.tasks.espnet_model import ESPnetSpeechPromptModel  # noqa: E402
from espnet2_speechprompt.tasks.speechprompt import SpeechPromptTask  # noqa: E402
from espnet2_speechprompt.verbalizer.fixed import FixedVerbalizer  # noqa: E402
from espnet2_speechprompt.vocab import Dictionary  # noqa: E402
from test.factories.encdec import save_unit_mbart, tiny_encdec  # noqa: E402
from test.factories.task_data import data_args  # noqa: E402
from test.factories.unit_lm import tiny_decoder  # noqa: E402

PROMPTS = PromptConfig(input_length=2, deep_length=2, dropout=0.0)


def _prompted(backbone):
    return build_prompted(backbone, FixedVerbalizer([5, 6, 7]), PROMPTS).eval()


def _batch(length: int, vocab: int = 20, rows: int = 2):
    units = torch.randint(4, vocab, (rows, length))
    lengths = torch.tensor([length] + [length // 2] * (rows - 1))
    return units, lengths, torch.tensor([[4, 5]] * rows), torch.tensor([2] * rows)


def _cut_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "is cut to its first" in r.getMessage()]


@pytest.mark.parametrize(
    "backbone",
    [
        lambda: tiny_decoder(learned_positions=True),  # GSLM-like, 64 learned positions
        lambda: tiny_encdec(20, dim=16, heads=2),  # Unit-mBART-like, 64 learned positions
    ],
)
def test_training_cuts_sources_past_learned_positions(backbone, caplog):
    model = ESPnetSpeechPromptModel(_prompted(backbone()), "units", "test")
    units, lengths, labels, label_lengths = _batch(100)
    with caplog.at_level(logging.WARNING):
        loss, _, _ = model(labels, label_lengths, units=units, units_lengths=lengths)
        model(labels, label_lengths, units=units, units_lengths=lengths)
    assert torch.isfinite(loss)
    assert len(_cut_warnings(caplog)) == 1 and "--max_source_length" in _cut_warnings(caplog)[0]


def test_max_source_length_cuts_to_the_first_steps():
    prompted = _prompted(tiny_decoder())
    units, lengths, labels, label_lengths = _batch(30)
    model = ESPnetSpeechPromptModel(prompted, "units", "test", max_source_length=12)
    loss = model(labels, label_lengths, units=units, units_lengths=lengths)[0]
    expected = prompted(units[:, :12], lengths.clamp(max=12), labels, label_lengths)["loss"]
    torch.testing.assert_close(loss.reshape(()), expected)


@pytest.mark.parametrize(
    "backbone",
    [lambda: tiny_decoder(learned_positions=True), lambda: tiny_encdec(20, dim=16, heads=2)],
)
def test_generation_stays_within_learned_positions(backbone):
    prompted = _prompted(backbone())
    units, lengths, _, _ = _batch(40)
    fitted = prompted.fit_sources(units, lengths)
    hyps = prompted.search(fitted.source, fitted.lengths, beam_size=2, max_len_b=200)
    assert len(hyps) == 2  # no index error past the positions


def test_out_of_memory_is_one_line_naming_the_options(monkeypatch):
    model = ESPnetSpeechPromptModel(_prompted(tiny_decoder()), "units", "test")

    def allocator_failure(*args, **kwargs):
        raise RuntimeError("[enforce fail] DefaultCPUAllocator: can't allocate memory: you tried")

    monkeypatch.setattr(model.prompted, "forward", allocator_failure)
    units, lengths, labels, label_lengths = _batch(30)
    with pytest.raises(SpeechPromptError, match="out of memory on a batch of 2 sources of up to 30 units: lower --batch_size or --batch_bins, or cut long sources with --max_source_length"):  # fmt: skip
        model(labels, label_lengths, units=units, units_lengths=lengths)


# ------------------------------------------------------------------ through the task
def _gslm_args(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--output_dir", str(out),
        "--backbone_conf", f"checkpoint={data / 'lm' / 'checkpoint_best.pt'}",
        "--label_list", str(data / "label_list"),
        "--verbalizer", "fixed", "--verbalizer_conf", "mode=random",
        "--prompt_conf", "{input_length: 2, deep_length: 2, dropout: 0.0}",
        "--batch_type", "unsorted", "--batch_size", "8", "--num_workers", "0",
        "--use_tensorboard", "false", "--num_att_plot", "0", "--seed", "0", *extra,
    ] + data_args(data)  # fmt: skip


def test_gslm_inference_past_the_trained_context_warns_once(unit_task_data, tmp_path, caplog):
    SpeechPromptTask.main(cmd=_gslm_args(unit_task_data, tmp_path, "--dry_run", "true"))
    config = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert config["max_source_length"] == 254  # 256 sinusoidal positions less </s>, <sep>
    symbols = Dictionary.load(unit_task_data / "lm" / "dict.txt").symbols
    unit = next(s for s in symbols if s.isdigit())
    (tmp_path / "units").write_text("".join(f"u{i} {' '.join([unit] * n)}\n" for i, n in enumerate((300, 5, 260))))  # fmt: skip
    files = [(str(tmp_path / "units"), "units", "text_int")]
    with caplog.at_level(logging.WARNING):
        inference(str(tmp_path / "out"), files, str(tmp_path / "config.yaml"), None, batch_size=1)
    warnings = [r.getMessage() for r in caplog.records if "trained context" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].startswith("a source of 300 units is longer than the gslm backbone's trained context (253 units)")  # fmt: skip
    assert "cut to their first 254 units" in warnings[0]
    assert len((tmp_path / "out" / "text").read_text().splitlines()) == 3


def test_max_source_length_past_learned_positions_is_refused(tmp_path):
    vocab = Dictionary([str(u) for u in range(8)])
    save_unit_mbart(tiny_encdec(len(vocab), dim=16, heads=2), vocab, tmp_path / "mbart")
    for split in ("train", "valid"):
        (tmp_path / split).mkdir()
        (tmp_path / split / "units").write_text("a 1 2 3\nb 4 5\n")
        (tmp_path / split / "label").write_text("a yes\nb no\n")
    (tmp_path / "label_list").write_text("yes\nno\n")
    cmd = _gslm_args(tmp_path, tmp_path / "exp", "--dry_run", "true", "--backbone", "unit_mbart")
    cmd[3] = f"checkpoint={tmp_path / 'mbart' / 'checkpoint.pt'}"
    SpeechPromptTask.main(cmd=cmd)
    assert yaml.safe_load((tmp_path / "exp" / "config.yaml").read_text())["max_source_length"] == 63
    with pytest.raises(SpeechPromptError, match=r"--max_source_length 100 is past the unit_mbart backbone's learned positions \(63 for the source\): use at most 63"):  # fmt: skip
        SpeechPromptTask.main(cmd=cmd + ["--max_source_length", "100"])
    runner = SpeechPrompt(tmp_path / "exp" / "config.yaml")
    text, _, _ = runner(units=[1] * 200)  # cut to 63 units instead of an index error
    assert text in ("yes", "no")
