"""Data files are checked before training or inference starts: tab-separated files are read
as ESPnet reads them everywhere, and bad data (empty label, unknown label, bytes that are not
UTF-8, repeated ids, bad unit lines, unknown conf keys, bad configs, missing files) is one
line naming the file and line or utterance, not a traceback or a silently wrong result."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("espnet2", reason="espnet (the task layer's dependency) is not installed")

from espnet2_speechprompt.api.preprocess import (  # noqa: E402
    LabelEncoder,
    UnitEncoder,
    train_statistics,
)
from espnet2_speechprompt.bin import (  # noqa: E402
    make_label_list,
    speechprompt_inference,
    speechprompt_score,
    train_baseline,
)
from espnet2_speechprompt.bin.speechprompt_inference import SpeechPrompt, inference  # noqa: E402
from espnet2_speechprompt.errors import SpeechPromptError  # noqa: E402
from espnet2_speechprompt.tasks.speechprompt import SpeechPromptTask  # noqa: E402
from espnet2_speechprompt.vocab import Dictionary  # noqa: E402
from test.factories.task_data import TASK_LABELS, data_args  # noqa: E402


@pytest.fixture
def data(unit_task_data: Path, tmp_path: Path) -> Path:
    """A copy of the tiny task data (train/valid units and label) to spoil; the LM is shared."""
    root = tmp_path / "data"
    for split in ("train", "valid"):
        shutil.copytree(unit_task_data / split, root / split)
    shutil.copy(unit_task_data / "label_list", root / "label_list")
    (root / "lm").symlink_to(unit_task_data / "lm")
    return root


def task_args(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--output_dir", str(out),
        "--backbone_conf", f"checkpoint={data / 'lm' / 'checkpoint_best.pt'}",
        "--label_list", str(data / "label_list"),
        "--verbalizer", "fixed", "--verbalizer_conf", "mode=frequency",
        "--prompt_conf", "{input_length: 2, deep_length: 2, dropout: 0.0}",
        "--batch_type", "unsorted", "--batch_size", "8", "--num_workers", "0",
        "--use_tensorboard", "false", "--num_att_plot", "0", "--seed", "0", *extra,
    ] + data_args(data)  # fmt: skip


def tabbed(path: Path) -> None:
    """Rewrite ``path`` with a tab between utterance id and value."""
    lines = path.read_text().splitlines()
    path.write_text("".join("\t".join(line.split(" ", 1)) + "\n" for line in lines))


def one_line_error(cmd: list[str], match: str) -> str:
    with pytest.raises(SpeechPromptError, match=match) as err:
        SpeechPromptTask.main(cmd=cmd)
    assert "\n" not in str(err.value)
    return str(err.value)


# ------------------------------------------------------------------ tab-separated files
def test_tab_separated_files_feed_the_frequency_statistics(data, tmp_path):
    for split in ("train", "valid"):
        tabbed(data / split / "label")
        tabbed(data / split / "units")
    args = SpeechPromptTask.get_parser().parse_args(task_args(data, tmp_path / "x"))
    vocab = Dictionary.load(data / "lm" / "dict.txt")
    files = args.train_data_path_and_name_and_type
    stats = train_statistics(files, LabelEncoder(TASK_LABELS), UnitEncoder(vocab))
    lines = (data / "train" / "label").read_text().splitlines()
    assert sum(stats.label_counts) == len(lines) and all(c > 0 for c in stats.label_counts)
    assert sum(stats.unit_counts.values()) > len(lines)
    SpeechPromptTask.main(cmd=task_args(data, tmp_path / "dry") + ["--dry_run", "true"])
    config = yaml.safe_load((tmp_path / "dry" / "config.yaml").read_text())
    assert len(set(config["verbalizer_conf"]["label_units"])) == len(TASK_LABELS)


def test_tab_separated_files_in_scoring_label_list_and_baseline(data, tmp_path):
    (tmp_path / "ref").write_text("u1\tyes\nu2\tno up\n")
    (tmp_path / "hyp").write_text("u1 yes\nu2\tno  up\n")
    ref, hyp = (speechprompt_score.read_table(tmp_path / n) for n in ("ref", "hyp"))
    assert ref == {"u1": "yes", "u2": "no up"}
    assert speechprompt_score.score(ref, hyp, ["acc"])["acc"] == 1.0
    labels = tmp_path / "label_list"
    make_label_list.main(["--label", str(tmp_path / "ref"), "--output", str(labels)])
    assert labels.read_text().split() == ["no", "up", "yes"]
    for name in ("units", "label"):
        tabbed(data / "valid" / name)
    index = {label: i for i, label in enumerate(TASK_LABELS)}
    rows = train_baseline.load_set(str(data / "valid"), index)
    assert len(rows) == len((data / "valid" / "label").read_text().splitlines())
    assert all(units for _, units, _ in rows)


# ------------------------------------------------------------------ labels before training
def test_empty_label_is_refused_before_training(data, tmp_path):
    lines = (data / "train" / "label").read_text().splitlines()
    utt = lines[5].split()[0]
    lines[5] = utt
    (data / "train" / "label").write_text("\n".join(lines) + "\n")
    out = tmp_path / "stats"
    message = one_line_error(
        task_args(data, out, "--collect_stats", "true"), rf"label:6: utterance {utt} has an empty"
    )
    assert str(data / "train" / "label") in message
    assert not (out / "train").exists()  # refused before the statistics stage ran


def test_label_missing_from_the_list_is_refused_before_training(data, tmp_path):
    lines = (data / "valid" / "label").read_text().splitlines()
    utt = lines[-1].split()[0]
    lines[-1] = f"{utt} maybe"
    (data / "valid" / "label").write_text("\n".join(lines) + "\n")
    message = one_line_error(
        task_args(data, tmp_path / "exp", "--max_epoch", "1"),
        rf"utterance {utt}: label 'maybe' is not in the label list",
    )
    assert f"{data / 'valid' / 'label'}:{len(lines)}" in message
    assert not (tmp_path / "exp" / "1epoch.pth").exists()  # not after a full epoch


# ------------------------------------------------------------------ one-line data errors
@pytest.mark.parametrize(
    ("split", "name", "spoil", "match"),
    [
        ("train", "label", lambda b: b.replace(b" yes", b" y\xe9s", 1), r"label:\d+: the text file .* is not UTF-8"),
        ("valid", "units", lambda b: b.replace(b" 1", b" \xff", 1), r"units:\d+: the units file .* is not UTF-8"),
        ("train", "units", lambda b: b + b.splitlines(True)[0], r"units:\d+: utterance train000 appears twice"),
        ("train", "label", lambda b: b"\n".join(b.splitlines()[1:]) + b"\n", r"units:1: utterance train000 is not in .*label"),
        ("valid", "units", lambda b: b.replace(b" ", b"\t").replace(b"\t", b" ", 1), r"units:1: utterance valid000: unit 1 .* is not an integer \(units are integers separated by single spaces\)"),
    ],
)  # fmt: skip
def test_bad_training_data_is_one_line(data, tmp_path, split, name, spoil, match):
    path = data / split / name
    path.write_bytes(spoil(path.read_bytes()))
    one_line_error(task_args(data, tmp_path / "x", "--dry_run", "true"), match)


@pytest.mark.parametrize(
    ("option", "value", "match"),
    [
        ("--prompt_conf", "{inpt_length: 3}", r"prompt_conf: unknown key 'inpt_length' \(did you mean 'input_length'\?\); valid keys: input_length, deep_length, separator, dropout, init_std, decoder_deep_length"),
        ("--verbalizer_conf", "{mode: random, sed: 1}", r"verbalizer_conf: unknown key 'sed' \(did you mean 'seed'\?\); valid keys: mode, seed, label_units$"),
        ("--backbone_conf", "checkpont=x", r"backbone_conf: unknown key 'checkpont' \(did you mean 'checkpoint'\?\); valid keys: checkpoint, dictionary$"),
    ],
)  # fmt: skip
def test_unknown_conf_key_names_it_and_the_valid_keys(data, tmp_path, option, value, match):
    one_line_error(task_args(data, tmp_path / "x", "--dry_run", "true", option, value), match)


# ------------------------------------------------------------------ inference
@pytest.fixture
def dry_config(data, tmp_path) -> Path:
    SpeechPromptTask.main(cmd=task_args(data, tmp_path / "dry") + ["--dry_run", "true"])
    return tmp_path / "dry" / "config.yaml"


def test_training_config_keys_are_task_options(dry_config):
    """What training writes is readable (every key an option), so unknown keys can be refused."""
    runner = SpeechPrompt(dry_config)
    assert runner.labels.labels == TASK_LABELS


def _decode(data: Path, config: Path, units: Path, out: Path) -> None:
    inference(str(out), [(str(units), "units", "text_int")], str(config), None, batch_size=4)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"valid000 1 2\nvalid001\nvalid002 3\n", r"units:2: utterance valid001 has no units"),
        (b"valid000 1 2\nvalid001 1 two\n", r"units:2: utterance valid001: unit 2 'two' is not an integer"),
        (b"valid000 1 2\n\nvalid001 3\n", r"units:2: blank line in the units file"),
        (b"valid000 1 \xfe\n", r"units:1: the units file .* is not UTF-8 text"),
    ],
)  # fmt: skip
def test_bad_unit_lines_at_inference_are_one_line(data, dry_config, tmp_path, content, match):
    (tmp_path / "units").write_bytes(content)
    with pytest.raises(SpeechPromptError, match=match) as err:
        _decode(data, dry_config, tmp_path / "units", tmp_path / "decode")
    assert "\n" not in str(err.value)


def test_inference_files_must_hold_the_same_utterances_in_order(data, dry_config, tmp_path):
    (tmp_path / "units").write_text("a 1 2\nb 3\n")
    (tmp_path / "label").write_text("b yes\na no\n")
    data_files = [(str(tmp_path / "units"), "units", "text_int"), (str(tmp_path / "label"), "label", "text")]  # fmt: skip
    with pytest.raises(SpeechPromptError, match=r"label:1: utterance b, but .*units:1 is a"):
        inference(str(tmp_path / "out"), data_files, str(dry_config), None)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda c: c.update(prompt_lenght=3), r"config.yaml: unknown key 'prompt_lenght'"),
        (lambda c: c.pop("label_list"), r"config.yaml: no label_list: the config.yaml that training writes"),
        (lambda c: c.update(backbone="gslm2"), r"config.yaml: backbone 'gslm2' is not one of gslm, unit_mbart, wav2seq"),
    ],
)  # fmt: skip
def test_bad_inference_config_is_one_line(dry_config, tmp_path, change, match):
    config = yaml.safe_load(dry_config.read_text())
    change(config)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(SpeechPromptError, match=match):
        SpeechPrompt(path)
    path.write_text("label_list: [a, b\n")
    with pytest.raises(SpeechPromptError, match=r"config.yaml:2: the training config is not valid"):
        SpeechPrompt(path)


def test_missing_files_given_to_speechprompt_inference(data, dry_config, tmp_path, capsys):
    units = data / "valid" / "units"
    nowhere = tmp_path / "nowhere"

    def run(config: Path, model: Path | None, data_file: Path) -> str:
        cmd = ["--output_dir", str(tmp_path / "out"), "--speechprompt_train_config", str(config),
               "--data_path_and_name_and_type", f"{data_file},units,text_int"]  # fmt: skip
        cmd += ["--speechprompt_model_file", str(model)] if model else []
        with pytest.raises(SystemExit) as exit_info:
            speechprompt_inference.main(cmd)
        assert exit_info.value.code == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ")
        return err[0]

    assert run(nowhere / "config.yaml", None, units).endswith("config.yaml: no such training config (the config.yaml of a training run)")  # fmt: skip
    assert run(dry_config, nowhere / "model.pth", units).endswith("model.pth: no such model file")
    assert f"{nowhere / 'units'}: no such units file" in run(dry_config, None, nowhere / "units")


def test_predict_from_units_still_works(dry_config, data):
    runner = SpeechPrompt(dry_config)
    first = (data / "valid" / "units").read_text().split("\n")[0].split()[1:]
    text, _, _ = runner(units=np.asarray([int(u) for u in first]))
    assert text in TASK_LABELS
