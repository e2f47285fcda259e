"""The speech generation recipes' local/data.sh on small fake corpora in their real layouts:
VCTK (inpainting) in release 0.92 (flac per microphone, silence-trimmed) and 0.80 (wav)."""

from __future__ import annotations

from pathlib import Path

import pytest

from test.recipes.test_datasets import check_dir, data_sh, wav

SPEAKERS = ("p225", "p226", "p244", "p259", "p280", "p300", "p315")


def fake_vctk(root: Path, release: str) -> Path:
    """Three utterances per speaker; p315 without transcripts (as in the corpus); 0.92 with
    both microphones."""
    base = root / ("VCTK-Corpus-0.92" if release == "0.92" else "VCTK-Corpus")
    for speaker in SPEAKERS:
        for n in range(1, 4):
            utt = f"{speaker}_{n:03d}"
            if release == "0.92":
                for mic in ("mic1", "mic2"):
                    audio = base / "wav48_silence_trimmed" / speaker / f"{utt}_{mic}.flac"
                    wav(audio, rate=48000, fmt="FLAC")
            else:
                wav(base / "wav48" / speaker / f"{utt}.wav", rate=48000)
            if speaker != "p315":
                text = base / "txt" / speaker / f"{utt}.txt"
                text.parent.mkdir(parents=True, exist_ok=True)
                text.write_text(f"Please call  Stella {n}.\n")
    return root


@pytest.mark.parametrize("release", ["0.92", "0.80"])
def test_vctk(release, tmp_path):
    root = fake_vctk(tmp_path / "corpus", release)
    out = data_sh("vctk", tmp_path / "data", VCTK=root)
    assert out.returncode == 0, out.stderr
    train = check_dir(tmp_path / "data" / "train", 3, ("wav.scp", "text", "utt2spk"))
    dev = check_dir(tmp_path / "data" / "dev", 6, ("wav.scp", "text", "utt2spk"))
    evaluation = check_dir(tmp_path / "data" / "eval", 9, ("wav.scp", "text", "utt2spk"))
    assert set(train["utt2spk"].values()) == {"p300"}  # p315 has no transcripts
    assert set(dev["utt2spk"].values()) == {"p225", "p226"}
    assert set(evaluation["utt2spk"].values()) == {"p244", "p259", "p280"}
    assert evaluation["text"]["p244_002"] == "Please call Stella 2."
    suffix = "_mic1.flac" if release == "0.92" else ".wav"
    assert train["wav.scp"]["p300_001"].endswith(f"p300_001{suffix}")
    assert not (tmp_path / "data" / "train" / "label").exists()
    if release == "0.92":
        out = data_sh("vctk", tmp_path / "mic2", "--mic", "mic2", VCTK=root)
        assert out.returncode == 0, out.stderr
        mic2 = check_dir(tmp_path / "mic2" / "train", 3, ("wav.scp", "utt2spk"))
        assert mic2["wav.scp"]["p300_001"].endswith("p300_001_mic2.flac")


def test_vctk_bad_speakers_and_layouts_are_one_line(tmp_path):
    root = fake_vctk(tmp_path / "corpus", "0.92")
    out = data_sh("vctk", tmp_path / "a", "--eval_speakers", "p244 p999", VCTK=root)
    assert out.returncode == 1
    assert "--eval_speakers: speaker p999 has no transcribed utterance" in out.stderr
    out = data_sh("vctk", tmp_path / "b", "--dev_speakers", "p244", VCTK=root)
    assert out.returncode == 1 and "must not share a speaker" in out.stderr
    (tmp_path / "empty").mkdir()
    out = data_sh("vctk", tmp_path / "c", VCTK=tmp_path / "empty")
    assert out.returncode == 1 and "neither wav48_silence_trimmed/" in out.stderr
    assert "Traceback" not in out.stderr
