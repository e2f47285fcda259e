"""Speech input (Wav2Seq) at another rate than 16 kHz is resampled, as the unit extractors do,
and said once: in ``SpeechPrompt(speech=..., sample_rate=...)`` and on ESPnet's ``sound`` data
path (whose loaders drop the rate), in the statistics stage, training and inference."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import torchaudio

pytest.importorskip("espnet2", reason="espnet (the task layer's dependency) is not installed")

from espnet2_speechprompt.api import preprocess, trainable_state  # noqa: E402
from espnet2_speechprompt.bin.speechprompt_inference import SpeechPrompt, inference  # noqa: E402
from espnet2_speechprompt.errors import SpeechPromptError  # noqa: E402
from espnet2_speechprompt.tasks.speechprompt import SpeechPromptTask  # noqa: E402
from test.factories.encdec import save_tiny_wav2seq  # noqa: E402
from test.factories.task_data import SPEECH, data_args  # noqa: E402

LABELS = ["yes", "no", "up"]
RESAMPLED = "resampled to 16 kHz"


@pytest.fixture(autouse=True)
def _fresh_notes(monkeypatch):
    """Each test is a run of its own: nothing logged yet."""
    monkeypatch.setattr(preprocess, "NOTES", set())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tone(i: int, rate: int) -> np.ndarray:
    t = np.arange(int(rate * (0.2 + 0.02 * i))) / rate
    return (0.3 * np.sin(2 * np.pi * (200 + 150 * (i % 3)) * t)).astype(np.float32)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """A tiny Wav2Seq; train/valid tones at 8 kHz and the same tones resampled to 16 kHz."""
    root = tmp_path_factory.mktemp("wav2seq_rates")
    save_tiny_wav2seq(root / "wav2seq")
    for split in ("train", "valid"):
        for rate in (8000, 16000):
            (root / split / f"wav{rate}").mkdir(parents=True)
        scp8, scp16, lab = [], [], []
        for i in range(4):
            utt = f"{split}{i:02d}"
            wav8 = _tone(i, 8000)
            wav16 = torchaudio.functional.resample(torch.from_numpy(wav8), 8000, 16000).numpy()
            soundfile.write(root / split / "wav8000" / f"{utt}.wav", wav8, 8000, "FLOAT")
            soundfile.write(root / split / "wav16000" / f"{utt}.wav", wav16, 16000, "FLOAT")
            scp8.append(f"{utt} {root / split / 'wav8000' / f'{utt}.wav'}\n")
            scp16.append(f"{utt} {root / split / 'wav16000' / f'{utt}.wav'}\n")
            lab.append(f"{utt} {LABELS[i % 3]}\n")
        (root / split / "wav.scp").write_text("".join(scp8))
        (root / split / "wav16.scp").write_text("".join(scp16))
        (root / split / "label").write_text("".join(lab))
    (root / "label_list").write_text("\n".join(LABELS) + "\n")
    return root


def _args(data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--output_dir", str(out), "--backbone", "wav2seq",
        "--backbone_conf", f"checkpoint={data / 'wav2seq' / 'checkpoint.pt'}",
        "--label_list", str(data / "label_list"),
        "--verbalizer", "fixed", "--verbalizer_conf", "mode=random",
        "--prompt_conf", "{input_length: 2, deep_length: 2, decoder_deep_length: 2, "
        "separator: false, dropout: 0.0}",
        "--batch_type", "unsorted", "--batch_size", "2", "--num_workers", "0",
        "--use_tensorboard", "false", "--num_att_plot", "0", "--seed", "0", *extra,
    ] + data_args(data, source=SPEECH)  # fmt: skip


@pytest.fixture(scope="module")
def config(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wav2seq_rates_dry")
    SpeechPromptTask.main(cmd=_args(data, out, "--dry_run", "true"))
    return out / "config.yaml"


@pytest.fixture(scope="module")
def model_file(config) -> Path:
    """Prompts at their (seeded) initial values, so every decode uses the same ones."""
    torch.manual_seed(0)
    path = config.with_name("init.pth")
    torch.save(trainable_state(SpeechPrompt(config).prompted), path)
    return path


def _resampled_logs(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if RESAMPLED in r.getMessage()]


def test_speechprompt_call_resamples_and_says_so_once(data, config, caplog):
    runner = SpeechPrompt(config)
    wav8, _ = soundfile.read(data / "valid" / "wav8000" / "valid01.wav", dtype="float32")
    wav16, _ = soundfile.read(data / "valid" / "wav16000" / "valid01.wav", dtype="float32")
    with caplog.at_level(logging.INFO):
        text, score, ids = runner(speech=wav8, sample_rate=8000, utt="a")
        again = runner(speech=wav8, sample_rate=8000, utt="b")
    direct = runner(speech=wav16, sample_rate=16000)
    assert text == direct[0] and ids == direct[2] and score == pytest.approx(direct[1], abs=1e-4)
    assert again[0] == text
    assert _resampled_logs(caplog) == ["audio at 8000 Hz (e.g. a) is resampled to 16 kHz"]
    stereo = np.stack([wav16, wav16], axis=1)  # channels mixed down, as for units
    assert runner(speech=stereo, sample_rate=16000)[0] == direct[0]


def test_inference_on_8khz_wav_scp_equals_16khz(data, config, model_file, tmp_path, caplog):
    def decode(scp: str, out: Path) -> list[str]:
        files = [(str(data / "valid" / scp), "speech", "sound")]
        inference(str(out), files, str(config), str(model_file), batch_size=2, num_workers=0)
        return [(out / name).read_text() for name in ("text", "score")]

    with caplog.at_level(logging.INFO):
        resampled = decode("wav.scp", tmp_path / "d8")
    assert len(_resampled_logs(caplog)) == 1
    text, score = decode("wav16.scp", tmp_path / "d16")
    assert resampled[0] == text
    scores = [[float(line.split()[1]) for line in s.splitlines()] for s in (resampled[1], score)]
    assert scores[0] == pytest.approx(scores[1], abs=1e-4)


def test_statistics_and_training_see_16khz_speech(data, tmp_path, caplog):
    """The statistics stage writes the speech lengths at 16 kHz (one rate note for the run);
    one epoch on the 8 kHz files trains the same prompts as on the 16 kHz files."""
    with caplog.at_level(logging.INFO):
        SpeechPromptTask.main(cmd=_args(data, tmp_path / "stats", "--collect_stats", "true"))
    shapes = dict(
        line.split() for line in (tmp_path / "stats" / "train" / "speech_shape").read_text().splitlines()
    )  # fmt: skip
    for utt, shape in shapes.items():
        wav16 = soundfile.info(data / "train" / "wav16000" / f"{utt}.wav")
        assert int(shape) == wav16.frames
    assert len(_resampled_logs(caplog)) == 1
    SpeechPromptTask.main(cmd=_args(data, tmp_path / "exp8", "--max_epoch", "1"))
    cmd16 = [a.replace("wav.scp", "wav16.scp") for a in _args(data, tmp_path / "exp16", "--max_epoch", "1")]  # fmt: skip
    SpeechPromptTask.main(cmd=cmd16)
    prompts = [
        torch.load(tmp_path / d / "1epoch.pth", weights_only=True) for d in ("exp8", "exp16")
    ]
    assert prompts[0].keys() == prompts[1].keys()
    for key, value in prompts[0].items():
        torch.testing.assert_close(value, prompts[1][key], rtol=1e-4, atol=1e-5)


def test_command_entries_in_sound_data_are_one_line(data, tmp_path):
    scp = tmp_path / "wav.scp"
    scp.write_text(f"train00 cat {data / 'train' / 'wav8000' / 'train00.wav'} |\n")
    cmd = [
        a.replace(str(data / "train" / "wav.scp"), str(scp)) for a in _args(data, tmp_path / "x")
    ]
    with pytest.raises(SpeechPromptError, match=r"wav.scp:1: utterance train00 is a command .*stage 2 \(format_audio\)"):  # fmt: skip
        SpeechPromptTask.main(cmd=cmd + ["--dry_run", "true"])


def test_wav_scp_that_is_not_utf8_is_one_line(data, tmp_path):
    scp = tmp_path / "wav.scp"
    scp.write_bytes(b"train00 /data/caf\xe9.wav\n")
    cmd = [
        a.replace(str(data / "train" / "wav.scp"), str(scp)) for a in _args(data, tmp_path / "x")
    ]
    with pytest.raises(
        SpeechPromptError, match=r"wav.scp:1: the wav.scp file .* is not UTF-8 text"
    ):
        SpeechPromptTask.main(cmd=cmd + ["--dry_run", "true"])
