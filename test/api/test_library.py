"""The library without ESPnet: importing it, building a task from its options, reading a training
config, running ``SpeechPrompt`` on a config and model file, and packing; on a seeded untrained
unit LM and random prompts (no training)."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import torch
import yaml

from espnet2_speechprompt.api import (
    SpeechPrompt,
    build_speechprompt,
    pack,
    read_train_config,
    trainable_state,
)
from espnet2_speechprompt.api.archive import write_archive
from espnet2_speechprompt.api.unpacking import PackageError
from espnet2_speechprompt.errors import CheckpointError, SpeechPromptError
from espnet2_speechprompt.vocab import Dictionary
from test.factories.unit_lm import save_random_unit_lm

LABELS = ["yes", "no", "up"]
ROWS = [[3, 1, 4, 1, 5, 9, 2, 6], [5, 3, 5], [8, 9, 7, 9, 3, 2, 3, 8, 4, 6]]
ESPNET = ("espnet", "espnet2", "espnet_model_zoo", "fairseq")  # none of them imported


@pytest.fixture(scope="module")
def task(tmp_path_factory) -> dict[str, Path]:
    """``config.yaml`` as training writes it (resolved options, trainer keys) and a model file
    of random prompts (the ESPnet model's keys), for an untrained unit LM."""
    root = tmp_path_factory.mktemp("library")
    lm = save_random_unit_lm(Dictionary(str(u) for u in range(12)), root / "lm")
    (root / "label_list").write_text("\n".join(LABELS) + "\n")
    options = {
        "backbone": "gslm",
        "backbone_conf": {"checkpoint": str(lm)},
        "label_list": str(root / "label_list"),
        "verbalizer": "learnable",
        "verbalizer_conf": {"mode": "random"},
        "prompt_conf": {"input_length": 2, "deep_length": 2, "dropout": 0.0},
        "optim": "adam",  # a trainer option: left to the trainer
        "batch_size": 8,
    }
    built = build_speechprompt(options)
    generator = torch.Generator().manual_seed(0)
    state = {
        k: v + 0.1 * torch.randn(v.shape, generator=generator)
        for k, v in trainable_state(built.prompted).items()
    }
    torch.save(state, root / "model.pth")
    (root / "config.yaml").write_text(yaml.safe_dump(options))
    return {"root": root, "config": root / "config.yaml", "model": root / "model.pth"}


def test_the_library_imports_builds_runs_and_packs_without_espnet(task, tmp_path):
    code = f"""
import json, sys, time
start = time.perf_counter()
import espnet2_speechprompt.api as api
imported = time.perf_counter() - start
runner = api.SpeechPrompt({str(task["config"])!r}, {str(task["model"])!r})
results = [runner(units=row) for row in {ROWS!r}]
packed = api.pack({str(task["config"])!r}, {str(task["model"])!r}, {str(tmp_path / "m.zip")!r})
loaded = api.SpeechPrompt.from_pretrained(str(packed), cache_dir={str(tmp_path / "cache")!r})
assert [loaded(units=row)[0] for row in {ROWS!r}] == [r[0] for r in results]
espnet = sorted(m for m in sys.modules if m.split(".")[0] in {ESPNET!r})
print(json.dumps({{"import_s": imported, "espnet": espnet, "labels": [r[0] for r in results]}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.splitlines()[-1])
    print(f"import espnet2_speechprompt.api: {report['import_s']:.2f} s")
    assert report["espnet"] == []
    assert set(report["labels"]) <= set(LABELS)


def test_model_files_keep_the_espnet_model_keys(task, tmp_path):
    runner = SpeechPrompt(task["config"], task["model"])
    state = torch.load(task["model"], weights_only=True)
    assert all(key.startswith("prompted.") for key in state)
    for key, value in trainable_state(runner.prompted).items():
        torch.testing.assert_close(value, state[key])
    unprefixed = {key.removeprefix("prompted."): value for key, value in state.items()}
    torch.save(unprefixed, tmp_path / "bare.pth")
    with pytest.raises(CheckpointError, match=r"bare.pth does not match the training config"):
        SpeechPrompt(task["config"], tmp_path / "bare.pth")


def test_building_writes_the_resolved_options_back(task):
    options = yaml.safe_load(task["config"].read_text())
    built = build_speechprompt(options)
    assert options["label_list"] == LABELS and options["input"] == built.input == "units"
    assert len(options["verbalizer_conf"]["label_units"]) == len(LABELS)
    assert options["prompt_conf"]["separator"] is True  # every prompt setting
    assert options["max_source_length"] == built.max_source_length > 0
    assert options["optim"] == "adam" and options["decoding"] == "score"


def _config(task, tmp_path: Path, **changes) -> Path:
    config = {**yaml.safe_load(task["config"].read_text()), "label_list": LABELS, **changes}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"prompt_lenght": 3}, r"config.yaml: unknown key 'prompt_lenght' \(did you mean 'prompt_conf'\?\)"),
        ({"label_weighing": "balanced"}, r"unknown key 'label_weighing' \(did you mean 'label_weighting'\?\)"),
        ({"backbone_conf": {"chekpoint": "x"}}, r"config.yaml: backbone_conf: unknown key 'chekpoint' \(did you mean 'checkpoint'\?\)"),
        ({"verbalizer_conf": {"modes": "random"}}, r"config.yaml: verbalizer_conf: unknown key 'modes'"),
        ({"prompt_conf": {"depth": 2}}, r"config.yaml: prompt_conf: unknown key 'depth'"),
        ({"unit_extractor_conf": {"kmean": "km.npy"}}, r"unit_extractor_conf: unknown key 'kmean'"),
        ({"verbalizer": "soft"}, r"config.yaml: verbalizer 'soft' is not one of fixed, learnable"),
        ({"label_list": None}, r"config.yaml: no label_list: the config.yaml that training writes"),
    ],
)  # fmt: skip
def test_config_errors_in_what_the_library_reads_are_one_line(task, tmp_path, changes, match):
    path = _config(task, tmp_path, **changes)
    with pytest.raises(SpeechPromptError, match=match) as error:
        read_train_config(path)
    assert "\n" not in str(error.value)


def test_trainer_keys_are_left_to_the_trainer(task, tmp_path):
    """Keys the library does not read, close to none of its options, are not its to refuse
    (``speechprompt_inference`` refuses every key that is not an option of the task)."""
    path = _config(task, tmp_path, max_epoch=3, optim_conf={"lr": 1.0}, seed=1, my_note="x")
    options = read_train_config(path)
    assert options.my_note == "x" and options.decoding == "score"


@pytest.mark.parametrize("name", ["p.zip", "p.tgz", "p.tar.gz", "p.tar"])
def test_archives_hold_meta_yaml_first_and_regular_files(tmp_path, name):
    root = tmp_path / "stage"
    (root / "images").mkdir(parents=True)
    (root / "config.yaml").write_text("a: 1\n")
    (root / "model.bin").write_bytes(b"\0\1")
    (root / "images" / "acc.png").write_bytes(b"png")
    (root / "images" / "link.png").symlink_to(root / "model.bin")
    files, yaml_files = {"model_file": "model.bin"}, {"train_config": "config.yaml"}
    out = write_archive(tmp_path / "out" / name, root, files, yaml_files, ["images"])
    if name.endswith(".zip"):
        with zipfile.ZipFile(out) as archive:
            names = archive.namelist()
            meta = yaml.safe_load(archive.read("meta.yaml"))
    else:
        with tarfile.open(out) as archive:
            assert all(member.isfile() for member in archive.getmembers())
            names = archive.getnames()
            meta = yaml.safe_load(archive.extractfile("meta.yaml").read())
    assert names == ["meta.yaml", "config.yaml", "model.bin", "images/acc.png", "images/link.png"]
    assert meta["files"] == files and meta["yaml_files"] == yaml_files
    with pytest.raises(PackageError, match=r"p.gz: name it .zip, .tgz, .tar.gz or .tar"):
        pack(tmp_path / "config.yaml", tmp_path / "model.pth", tmp_path / "p.gz")
