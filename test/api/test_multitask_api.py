"""``MultiTaskSpeechPrompt``: packed tasks (fixed random weights) on one shared backbone answer
a mixed batch exactly as each package alone; the backbone is held once; packages of another
backbone, duplicate or unknown task names and unnamed packages get one clear message."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

pytest.importorskip("espnet2", reason="espnet (the task layer's dependency) is not installed")

from espnet2_speechprompt.api import SpeechPrompt  # noqa: E402
from espnet2_speechprompt.api.multitask import (  # noqa: E402
    MultiTaskSpeechPrompt,
    Request,
    StreamingTasks,
)
from espnet2_speechprompt.api.unpacking import PackageError  # noqa: E402
from espnet2_speechprompt.errors import SpeechPromptError  # noqa: E402
from test.factories.task_bank import KINDS, random_lm, task_bank, task_package  # noqa: E402


@pytest.fixture(scope="module")
def packages(unit_task_data, tmp_path_factory) -> dict[str, Path]:
    return task_bank(unit_task_data, tmp_path_factory.mktemp("multitask"), len(KINDS))


def valid_units(data: Path, count: int) -> list[list[int]]:
    lines = (data / "valid" / "units").read_text().splitlines()[:count]
    return [[int(u) for u in line.split()[1:]] for line in lines]


def test_a_mixed_batch_equals_each_package_alone(packages, unit_task_data):
    runner = MultiTaskSpeechPrompt.from_pretrained([str(p) for p in packages.values()])
    assert runner.names == list(KINDS)
    backbone = runner.tasks["commands"].prompted.backbone
    assert all(task.prompted.backbone is backbone for task in runner.tasks.values())
    units = valid_units(unit_task_data, 12)
    names = [list(KINDS)[i % len(KINDS)] for i in range(len(units))]
    requests = [Request(name, units=u) for name, u in zip(names, units, strict=True)]
    mixed = runner.predict(requests)
    alone = {name: SpeechPrompt.from_pretrained(str(path)) for name, path in packages.items()}
    for request, (label, score, ids) in zip(requests, mixed, strict=True):
        want = alone[request.task](request.units)
        assert (label, ids) == (want[0], want[2])
        assert score == pytest.approx(want[1], abs=1e-5)
    label, score, ids = runner("spelled", units=units[0])
    want = alone["spelled"](units[0])
    assert (label, ids) == (want[0], want[2]) and score == pytest.approx(want[1], abs=1e-5)


def test_backbone_held_once(packages):
    runner = MultiTaskSpeechPrompt.from_pretrained([str(p) for p in packages.values()])
    held = {id(p): p.numel() for t in runner.tasks.values() for p in t.prompted.parameters()}
    backbone = runner.tasks["commands"].prompted.backbone
    trainable = [t.prompted.trainable_state_dict() for t in runner.tasks.values()]
    added = sum(v.numel() for state in trainable for v in state.values())
    assert sum(held.values()) == sum(p.numel() for p in backbone.parameters()) + added


def test_names_unnamed_and_duplicate_packages(packages, unit_task_data, tmp_path, caplog):
    task = SpeechPrompt.from_pretrained(str(packages["commands"]))
    lm = Path(task.train_args.backbone_conf["checkpoint"])
    unnamed = task_package(unit_task_data, lm, tmp_path, "keywords", named=False)
    with caplog.at_level(logging.WARNING):
        runner = MultiTaskSpeechPrompt.from_pretrained([str(packages["commands"]), str(unnamed)])
    assert runner.names == ["commands", "keywords_pkg"]
    assert "the package names no task; it is task 'keywords_pkg'" in caplog.text
    twice = [str(packages["commands"])] * 2
    with pytest.raises(SpeechPromptError, match="two packages are task 'commands'"):
        MultiTaskSpeechPrompt.from_pretrained(twice)
    renamed = MultiTaskSpeechPrompt.from_pretrained(twice, names=["a", "b"])
    with pytest.raises(SpeechPromptError, match="unknown task 'c': the tasks are a, b"):
        renamed("c", units=[5, 6])


def test_a_package_of_another_backbone_is_refused(packages, unit_task_data, tmp_path):
    other_lm = random_lm(unit_task_data, tmp_path / "lm", seed=7)
    other = task_package(unit_task_data, other_lm, tmp_path, "keywords")
    with pytest.raises(PackageError, match="task 'keywords' .* was trained on another backbone"):
        MultiTaskSpeechPrompt.from_pretrained([str(packages["commands"]), str(other)])


def test_the_command_line_answers_a_data_dir_by_task_map(packages, unit_task_data, tmp_path):
    from espnet2_speechprompt.bin.speechprompt_inference import inference

    lines = (unit_task_data / "valid" / "units").read_text().splitlines()[:12]
    (tmp_path / "units").write_text("\n".join(lines) + "\n")
    keys, names = [line.split()[0] for line in lines], list(KINDS)
    task_map = tmp_path / "task_map"
    task_map.write_text("".join(f"{k} {names[i % len(names)]}\n" for i, k in enumerate(keys)))
    data = [(str(tmp_path / "units"), "units", "text_int")]
    tags = [str(p) for p in packages.values()]
    inference(str(tmp_path / "out"), data, None, None, batch_size=5, packages=tags,
              task_map=str(task_map))  # fmt: skip
    written = dict(
        line.split(" ", 1) for line in (tmp_path / "out" / "text").read_text().splitlines()
    )
    runner = MultiTaskSpeechPrompt.from_pretrained(tags)
    for i, line in enumerate(lines):
        units = [int(u) for u in line.split()[1:]]
        assert written[keys[i]] == runner(names[i % len(names)], units=units)[0]
    task_map.write_text(f"{keys[0]} nope\n")
    with pytest.raises(SpeechPromptError, match=f"utterance {keys[0]}: unknown task 'nope'"):
        inference(str(tmp_path / "bad"), data, None, None, packages=tags, task_map=str(task_map))
    task_map.write_text(f"{keys[0]} commands\n")
    with pytest.raises(SpeechPromptError, match=f"no task for utterance {keys[1]}"):
        inference(str(tmp_path / "bad"), data, None, None, packages=tags, task_map=str(task_map))
    assert not (tmp_path / "bad").exists()


def test_sampling_decoding_is_seeded_per_utterance(packages, unit_task_data):
    units = valid_units(unit_task_data, 6)
    sampler = SpeechPrompt.from_pretrained(str(packages["sampled"]), nbest=3, top_p=0.9)
    rows = [sampler.source_of(u) for u in units]
    source = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=1)
    lengths = torch.tensor([len(r) for r in rows])
    batched = sampler.predict_nbest(source, lengths)
    assert all(len(samples) == 3 for samples in batched)
    for i in range(len(units)):
        alone = sampler.predict_nbest(rows[i][None], lengths[i : i + 1])[0]
        assert [s[2] for s in alone] == [s[2] for s in batched[i]]
        assert [s[1] for s in alone] == pytest.approx([s[1] for s in batched[i]], rel=1e-6)
    other = SpeechPrompt.from_pretrained(str(packages["sampled"]), nbest=3, top_p=0.9, seed=5)
    assert other.predict_nbest(source, lengths) != batched
    with pytest.raises(SpeechPromptError, match="top_p"):
        SpeechPrompt.from_pretrained(str(packages["sampled"]), top_p=1.5)


def test_tasks_differing_only_in_length_limits_are_searched_together(packages, unit_task_data):
    """Per-task settings (``task_options``): a greedy task and a beam-size-1 task with other
    length limits share one search in a mixed batch, every row kept to its own task's limits."""
    own = {"spelled": {"max_len_b": 3}, "beamed": {"beam_size": 1, "max_len_b": 6}}
    chosen = {name: packages[name] for name in own}
    runner = MultiTaskSpeechPrompt.from_pretrained([str(p) for p in chosen.values()],
                                                   task_options=own)  # fmt: skip
    units = valid_units(unit_task_data, 6)
    requests = [Request(list(own)[i % 2], units=u) for i, u in enumerate(units)]
    assert len(runner._groups([runner.task(r.task) for r in requests])) == 1
    alone = {name: SpeechPrompt.from_pretrained(str(chosen[name]), **own[name]) for name in own}
    for request, (label, score, ids) in zip(requests, runner.predict(requests), strict=True):
        want = alone[request.task](request.units)
        assert (label, ids) == (want[0], want[2]) and len(ids) <= own[request.task]["max_len_b"]
        assert score == pytest.approx(want[1], abs=1e-5)
    with pytest.raises(SpeechPromptError, match="task_options for an unknown task 'nope'"):
        MultiTaskSpeechPrompt.from_pretrained([str(chosen["spelled"])], task_options={"nope": {}})


def test_streamed_generation_answers_as_a_mixed_batch(packages, unit_task_data):
    """``StreamingTasks`` (iteration-level batching) takes the greedy and sampled tasks and
    answers each source as ``predict_sources`` does, with two rows running at a time."""
    two_samples = {"sampled": {"nbest": 2}}
    runner = MultiTaskSpeechPrompt.from_pretrained([str(p) for p in packages.values()],
                                                   task_options=two_samples)  # fmt: skip
    streaming = StreamingTasks(runner, max_rows=2)
    assert [name for name in runner.names if streaming.accepts(name)] == ["spelled", "sampled"]
    names = ["spelled", "sampled", "sampled", "spelled", "sampled", "spelled"]
    units = valid_units(unit_task_data, len(names))
    sources = [runner.task(n).source_of(u) for n, u in zip(names, units, strict=True)]
    handles = [streaming.submit(name, source) for name, source in zip(names, sources, strict=True)]
    streamed = {}
    while streaming.busy:
        streamed.update(streaming.step())
    for handle, want in zip(handles, runner.predict_sources(names, sources), strict=True):
        got = streamed[handle]
        assert [(label, ids) for label, _, ids in got] == [(label, ids) for label, _, ids in want]
        assert [s for _, s, _ in got] == pytest.approx([s for _, s, _ in want], rel=1e-6)
