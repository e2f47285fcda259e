"""``--backbone wav2seq`` through the ESPnet task on 16 kHz audio (``speech``, ``sound``): dry run,
one training epoch, inference by score and greedy and ``SpeechPrompt(speech=...)`` (on fixed
random weights: a seeded tiny backbone, perturbed prompts), and the one-line errors for missing
speech data, ``--input units`` and the frequency verbalizer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import yaml

pytest.importorskip("espnet2", reason="espnet (the task layer's dependency) is not installed")

from espnet2_speechprompt.bin.speechprompt_inference import SpeechPrompt, inference  # noqa: E402
from espnet2_speechprompt.errors import SpeechPromptError  # noqa: E402
from espnet2_speechprompt.prompt.prompted_encdec import PromptedEncoderDecoder  # noqa: E402
from espnet2_speechprompt.tasks.speechprompt import SpeechPromptTask  # noqa: E402
from test.factories.encdec import save_tiny_wav2seq  # noqa: E402
from test.factories.random_weights import RANDOM_STATE, dry_run_with_random_state  # noqa: E402
from test.factories.task_data import SPEECH, data_args  # noqa: E402

LABELS = ["yes", "no", "up"]
SPEECH_DATA = "--train_data_path_and_name_and_type dump/raw/train/wav.scp,speech,sound"


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tone(i: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(16000 * (0.15 + 0.02 * (i % 5)))) / 16000
    wave = 0.3 * np.sin(2 * np.pi * (200 + 150 * (i % 3)) * t) + rng.normal(0, 0.05, t.shape)
    return wave.astype(np.float32)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """A tiny Wav2Seq (pseudo-language vocabulary) and 8 + 6 tones with labels."""
    root = tmp_path_factory.mktemp("wav2seq_task")
    save_tiny_wav2seq(root / "wav2seq")
    rng = np.random.default_rng(0)
    for split, count in (("train", 8), ("valid", 6)):
        (root / split / "wav").mkdir(parents=True)
        scp, lab = [], []
        for i in range(count):
            path = root / split / "wav" / f"{split}{i:02d}.wav"
            soundfile.write(path, _tone(i, rng), 16000)
            scp.append(f"{split}{i:02d} {path}\n")
            lab.append(f"{split}{i:02d} {LABELS[i % 3]}\n")
        (root / split / "wav.scp").write_text("".join(scp))
        (root / split / "label").write_text("".join(lab))
    (root / "label_list").write_text("\n".join(LABELS) + "\n")
    return root


def _args(data: Path, out: Path, source=SPEECH, verbalizer: str = "mode=random") -> list[str]:
    return [
        "--output_dir", str(out), "--backbone", "wav2seq",
        "--backbone_conf", f"checkpoint={data / 'wav2seq' / 'checkpoint.pt'}",
        "--label_list", str(data / "label_list"),
        "--verbalizer", "fixed", "--verbalizer_conf", verbalizer,
        "--prompt_conf", "{input_length: 2, deep_length: 2, decoder_deep_length: 2, "
        "separator: false, dropout: 0.0}",
        "--batch_type", "unsorted", "--batch_size", "4", "--num_workers", "0",
        "--use_tensorboard", "false", "--num_att_plot", "0", "--seed", "0",
    ] + data_args(data, source=source)  # fmt: skip


def test_dry_run_with_wav2seq(data, tmp_path):
    SpeechPromptTask.main(cmd=_args(data, tmp_path) + ["--dry_run", "true"])
    config = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert config["backbone"] == "wav2seq" and config["input"] == "speech"


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory) -> Path:
    exp = tmp_path_factory.mktemp("wav2seq_exp")
    SpeechPromptTask.main(cmd=_args(data, exp) + ["--max_epoch", "1"])
    return exp


@pytest.fixture(scope="module")
def random_exp(data, tmp_path_factory) -> Path:
    return dry_run_with_random_state(_args(data, tmp_path_factory.mktemp("wav2seq_random")))


def _decode(data: Path, exp: Path, out: Path, **options) -> dict[str, list[str]]:
    inference(
        output_dir=str(out),
        data_path_and_name_and_type=[(str(data / "valid" / "wav.scp"), "speech", "sound")],
        speechprompt_train_config=str(exp / "config.yaml"),
        speechprompt_model_file=str(exp / RANDOM_STATE),
        batch_size=1,
        max_len_b=3,
        **options,
    )
    return {name: (out / name).read_text().splitlines() for name in ("text", "score", "token")}


def test_one_epoch_then_inference_on_speech(data, trained, random_exp, tmp_path):
    assert (trained / "1epoch.pth").exists()
    scored = _decode(data, random_exp, tmp_path / "score")
    assert len(scored["text"]) == 6
    assert {line.split(" ", 1)[1] for line in scored["text"]} <= set(LABELS)
    greedy = _decode(data, random_exp, tmp_path / "greedy", decoding="greedy")
    assert len(greedy["token"]) == 6
    assert all(len(line.split()) <= 4 for line in greedy["token"])  # key + at most 3 labels
    runner = SpeechPrompt(random_exp / "config.yaml", random_exp / RANDOM_STATE)
    assert isinstance(runner.prompted, PromptedEncoderDecoder) and runner.input == "speech"
    key, path = (data / "valid" / "wav.scp").read_text().splitlines()[0].split()
    text, score, _ = runner(speech=soundfile.read(path, dtype="float32")[0])
    assert f"{key} {text}" == scored["text"][0]
    assert float(scored["score"][0].split()[1]) == pytest.approx(score, abs=1e-4)
    with pytest.raises(SpeechPromptError, match="reads speech: pass speech="):
        runner(units=[1, 2, 3])


def test_missing_speech_data_is_one_clear_line(data, tmp_path):
    (tmp_path / "units").write_text("train00 1 2 3\n")
    speech = f"{data / 'train' / 'wav.scp'},speech,sound"
    cmd = [a.replace(speech, f"{tmp_path / 'units'},units,text_int") for a in _args(data, tmp_path)]
    with pytest.raises(SpeechPromptError) as err:
        SpeechPromptTask.build_model(SpeechPromptTask.get_parser().parse_args(cmd))
    message = str(err.value)
    assert "\n" not in message and SPEECH_DATA in message
    model = SpeechPromptTask.build_model(
        SpeechPromptTask.get_parser().parse_args(_args(data, tmp_path))
    )
    labels = torch.tensor([[4], [5]])
    with pytest.raises(SpeechPromptError, match="reads 'speech'"):  # a batch without speech
        model(labels, torch.tensor([1, 1]), units=labels, units_lengths=torch.tensor([1, 1]))


def test_units_input_and_frequency_verbalizer_are_refused(data, tmp_path):
    parser = SpeechPromptTask.get_parser()
    with pytest.raises(SpeechPromptError, match="reads speech; use --input speech"):
        SpeechPromptTask.build_model(
            parser.parse_args(_args(data, tmp_path) + ["--input", "units"])
        )
    cmd = _args(data, tmp_path, verbalizer="mode=frequency")
    with pytest.raises(SpeechPromptError, match="init=random") as err:
        SpeechPromptTask.build_model(parser.parse_args(cmd))
    assert "\n" not in str(err.value)
