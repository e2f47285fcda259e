"""``InContextSpeechPrompt``: demonstrations + query -> label, on fixed random prompt weights:
the episode it builds and the scores ``PromptedICL.predict`` gives on it, seeds, batches,
speech through the unit extractor, packing and ``SpeechPrompt.from_pretrained``; bad input in
one line."""

from __future__ import annotations

import random
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

pytest.importorskip("espnet2", reason="espnet (the task layer's dependency) is not installed")

from espnet2_speechprompt.api import InContextSpeechPrompt, SpeechPrompt  # noqa: E402
from espnet2_speechprompt.api.builder import load_state  # noqa: E402
from espnet2_speechprompt.api.config import ConfigError  # noqa: E402
from espnet2_speechprompt.api.icl_builder import build_icl, read_icl_config  # noqa: E402
from espnet2_speechprompt.api.packing import pack  # noqa: E402
from espnet2_speechprompt.data.episodes import read_task_pool  # noqa: E402
from espnet2_speechprompt.errors import CheckpointError, SpeechPromptError  # noqa: E402
from espnet2_speechprompt.prompt.icl import episode_tokens, label_mapping  # noqa: E402
from espnet2_speechprompt.tasks.icl import SpeechPromptICLTask  # noqa: E402
from test.factories.icl_data import EPISODE_CONF  # noqa: E402
from test.factories.random_weights import RANDOM_STATE, dry_run_with_random_state  # noqa: E402

WAVS = [(np.sin(np.arange(8000) * f) * 0.3).astype(np.float32) for f in (0.03, 0.05, 0.11)]


@pytest.fixture(scope="module")
def run(icl_task_data, tmp_path_factory) -> Path:
    """A warm-up config (dry run, MFCC unit extractor with 16 k-means centres) and seeded
    random prompt weights ``random.pth`` beside it."""
    root = tmp_path_factory.mktemp("icl_api")
    np.save(root / "km.npy", np.random.default_rng(0).normal(size=(16, 39)).astype(np.float32))
    cmd = [
        "--output_dir", str(root / "exp"), "--episode_conf", EPISODE_CONF,
        "--backbone_conf", f"checkpoint={icl_task_data / 'lm' / 'checkpoint_best.pt'}",
        "--unit_extractor_conf", f"{{kmeans: {root / 'km.npy'}, feature: mfcc}}",
        "--backbone_precision", "float32",  # equivalences to 1e-5
    ]  # fmt: skip
    return dry_run_with_random_state(cmd, seed=3, task=SpeechPromptICLTask)


@pytest.fixture(scope="module")
def runner(run) -> InContextSpeechPrompt:
    return InContextSpeechPrompt(run / "config.yaml", run / RANDOM_STATE)


@pytest.fixture(scope="module")
def examples(icl_task_data) -> list:
    """(units, label) of the digits task's validation utterances."""
    pool = read_task_pool(icl_task_data / "digits" / "valid")
    return [(list(e.units), e.label) for e in pool.examples]


def test_scores_are_those_of_prompted_predict_on_its_episode(run, runner, examples):
    demos, query = examples[:2], examples[5][0]
    options = read_icl_config(run / "config.yaml")
    built = build_icl(options)
    load_state(built.prompted, run / RANDOM_STATE)
    encode = built.unit_encoder.encode
    mapping = label_mapping([demos[0][1], demos[1][1]], built.label_tokens, random.Random(7))
    tokens = episode_tokens(
        [(encode(units).tolist(), mapping[label]) for units, label in demos],
        encode(query).tolist(),
        built.episode,
    )
    assert runner.encode(demos, query, seed=7).tokens == tokens
    candidates = torch.tensor([[mapping[demos[0][1]], mapping[demos[1][1]]]])
    best, scores, free = built.prompted.eval().predict(torch.tensor([tokens]), candidates)
    label, logprob, unconstrained = runner(demonstrations=demos, query=query, seed=7)
    assert label == demos[int(best)][1]
    assert logprob == pytest.approx(float(scores[0, int(best)]), abs=1e-5)
    hit = [d[1] for d, t in zip(demos, candidates[0].tolist(), strict=True) if t == int(free)]
    assert unconstrained == (hit[0] if hit else None)


def test_seed_draws_the_label_mapping(runner, examples):
    demos, query = examples[:2], examples[4][0]
    assert runner.encode(demos, query, seed=1) == runner.encode(demos, query, seed=1)
    drawn = {tuple(runner.encode(demos, query, seed=s).candidates) for s in range(6)}
    assert len(drawn) > 1
    assert runner(demos, query, seed=1) == runner(demos, query, seed=1)


def test_batch_equals_one_at_a_time(runner, examples):
    episodes = [
        runner.encode(examples[:2], examples[6][0], seed=0),
        runner.encode([examples[0], examples[3]], examples[7][0], seed=1),  # one label twice
        runner.encode(examples[2:4], examples[8][0], seed=2),
    ]
    assert len(episodes[1].labels) == 1 and len(episodes[0].labels) == 2
    batched = runner.predict_encoded(episodes)
    for episode, result in zip(episodes, batched, strict=True):
        alone = runner.predict_encoded([episode])[0]
        assert alone[0] == result[0] and alone[2] == result[2]
        assert alone[1] == pytest.approx(result[1], abs=1e-5)


def test_speech_goes_through_the_unit_extractor(runner):
    units = [runner.speech_units(wav) for wav in WAVS]
    by_speech = runner([(WAVS[0], "a"), (WAVS[1], "b")], query=WAVS[2], seed=4)
    by_units = runner([(units[0], "a"), (units[1], "b")], query=units[2], seed=4)
    assert by_speech == by_units


def test_bad_input_is_one_line(runner, run, examples, tmp_path):
    def error(*args, **kwargs) -> str:
        with pytest.raises(SpeechPromptError) as caught:
            runner(*args, **kwargs)
        assert "\n" not in str(caught.value)
        return str(caught.value)

    units = examples[0][0]
    assert "3 demonstrations given; this model was warmed up on episodes of 2" in error(
        examples[:3], units
    )
    assert "demonstration 2: no units" in error([examples[0], ([], "one")], units)
    assert "query: no units" in error(examples[:2], np.array([], dtype=np.int64))
    assert "demonstration 1 has an empty label" in error([(units, " "), examples[1]], units)
    assert "query: unit 99 is outside" in error(examples[:2], [1, 99])
    assert "give k-means units" in error(examples[:2], ["a", "b"])
    assert "demonstration 1: give a pair" in error([units, examples[1]], units)
    config = yaml.safe_load((run / "config.yaml").read_text())
    (tmp_path / "encdec.yaml").write_text(yaml.safe_dump({**config, "backbone": "unit_mbart"}))
    with pytest.raises(ConfigError, match="encdec.yaml: backbone 'unit_mbart': in-context"):
        InContextSpeechPrompt(tmp_path / "encdec.yaml")
    with pytest.raises(ConfigError, match="an in-context learning config"):
        SpeechPrompt(run / "config.yaml")


def test_packed_warm_up_loads_with_from_pretrained(run, runner, examples, tmp_path):
    packed = pack(run / "config.yaml", run / RANDOM_STATE, tmp_path / "icl.zip")
    with zipfile.ZipFile(packed) as archive:
        names = set(archive.namelist())
    assert "label_list" not in names and "kmeans/km.npy" in names
    loaded = SpeechPrompt.from_pretrained(str(packed))
    assert isinstance(loaded, InContextSpeechPrompt)
    assert loaded.label_tokens == runner.label_tokens and loaded.episode == runner.episode
    for seed, query in enumerate(examples[4:8]):
        a = loaded(demonstrations=examples[:2], query=query[0], seed=seed)
        b = runner(demonstrations=examples[:2], query=query[0], seed=seed)
        assert a[0] == b[0] and a[2] == b[2] and a[1] == pytest.approx(b[1], abs=1e-5)
    assert loaded([(WAVS[0], "a"), (WAVS[1], "b")], WAVS[2]) == runner(
        [(WAVS[0], "a"), (WAVS[1], "b")], WAVS[2]
    )


def test_pack_checks_the_model_file_against_the_config(run, tmp_path):
    state = torch.load(run / RANDOM_STATE, weights_only=True)
    state["prompted.prompts.input_prompt"] = torch.zeros(3, 16)
    torch.save(state, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="does not match the training config"):
        pack(run / "config.yaml", tmp_path / "other.pth", tmp_path / "icl.zip")
    assert not (tmp_path / "icl.zip").exists()
