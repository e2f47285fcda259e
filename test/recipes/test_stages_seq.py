"""The stage script with sequence and speech targets: label list union (4), prompt tuning with
greedy generation (6-7), inference (8), character metrics and RESULTS.md (9); target units from
tgt_wav.scp (3), vocoding of generated units (8) and ASR-BLEU with a fake ASR (9)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml

pytest.importorskip("espnet2", reason="espnet (the task layer's dependency) is not installed")


from test.factories.task_data import make_sequence_data  # noqa: E402
from test.factories.vocoder import native_state, save_released, tiny_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "egs2" / "TEMPLATE" / "speechprompt1"
PYTHON = sys.executable


def setup_recipe(root: Path) -> Path:
    out = subprocess.run(["bash", str(TEMPLATE / "setup.sh"), str(root)], capture_output=True)
    assert out.returncode == 0, out.stderr
    return root


def stages(recipe: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    cmd = ["bash", "./speechprompt.sh", "--python", PYTHON, *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=recipe, capture_output=True, text=True, timeout=timeout, env=env)


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def train_conf(**extra) -> dict:
    return {
        "verbalizer": "learnable", "verbalizer_conf": {"mode": "random"},
        "prompt_conf": {"input_length": 4, "deep_length": 4, "dropout": 0.0},
        "decoding": "greedy", "optim": "adam", "optim_conf": {"lr": 0.05},
        "batch_type": "unsorted", "batch_size": 16, "max_epoch": 8, "num_workers": 0,
        "use_tensorboard": False, "num_att_plot": 0, "keep_nbest_models": 1, "seed": 0, **extra,
    }  # fmt: skip


def test_character_sequence_task_through_stages_4_to_9(tmp_path):
    data = make_sequence_data(tmp_path / "toy")
    recipe = setup_recipe(tmp_path / "seq" / "speechprompt1")
    for split in ("train", "valid"):
        (recipe / "dump" / "units" / split).mkdir(parents=True)
        for name in ("units", "label"):
            (recipe / "dump" / "units" / split / name).write_bytes(
                (data / split / name).read_bytes()
            )
    # a character only in valid must not break training (the list is the union)
    with open(recipe / "dump" / "units" / "valid" / "label", "a") as f:
        f.write("valid999 Z O O\n")
    with open(recipe / "dump" / "units" / "valid" / "units", "a") as f:
        f.write("valid999 1 2 3 4 5\n")
    np.save(tmp_path / "km.npy", np.zeros((24, 39), dtype=np.float32))
    write_yaml(recipe / "conf" / "seq.yaml", train_conf())
    (recipe / "conf" / "decode_seq.yaml").write_text("batch_size: 8\nmax_length: 20\n")
    out = stages(
        recipe, "--train_set", "train", "--valid_set", "valid", "--stage", "4",
        "--stop_stage", "9", "--nj", "2", "--kmeans", str(tmp_path / "km.npy"),
        "--backbone_checkpoint", str(data / "lm" / "checkpoint_best.pt"),
        "--speechprompt_config", "conf/seq.yaml", "--inference_config", "conf/decode_seq.yaml",
        "--metrics", "char_wer char_cer acc", "--mfcc_smooth", "3", "--trim_db", "20",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Z" in (recipe / "dump" / "label_list").read_text().split()
    exp = recipe / "exp" / "speechprompt_seq"
    decode = exp / "decode_seq_speechprompt_model_valid.acc.best"
    result = json.loads((decode / "valid" / "result.json").read_text())
    # the stages' plumbing, not how well 8 epochs learn (test_sequence_task.py measures that)
    assert result["num_utterances"] == 49 and "char_cer" in result, result
    print(f"stages 4-9, character task: {result}")
    assert result["ref_oov_tokens"] == 0
    results = (exp / "RESULTS.md").read_text()
    assert "|dataset|Snt|char_wer|char_cer|acc|" in results
    row = next(line for line in results.splitlines() if line.startswith(f"|{decode.name}/valid|"))
    assert row.split("|")[2] == "49"
    assert float(row.split("|")[4]) == pytest.approx(100 * result["char_cer"], abs=0.01)
    assert "## Environments" in results and "confusion_valid.png" not in results
    config = yaml.safe_load((exp / "config.yaml").read_text())
    assert config["candidate_list"] is None  # greedy: the candidate list is not embedded
    extractor = config["unit_extractor_conf"]  # a package's speech input gets stage 3's units
    assert (extractor["smooth"], extractor["trim_db"]) == (3, 20)


def tone(freq: float, seconds: float = 0.4) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def tone_recipe(tmp_path: Path, name: str, sound: Callable[[int], np.ndarray]) -> Path:
    """A recipe with random k-means (tmp_path/km.npy) and 3 tones in dump/raw/{train,valid},
    ``sound(i)`` the i-th utterance's samples."""
    recipe = setup_recipe(tmp_path / name / "speechprompt1")
    np.save(tmp_path / "km.npy", np.random.default_rng(0).normal(size=(24, 39)).astype(np.float32))
    for split in ("train", "valid"):
        raw = recipe / "dump" / "raw" / split
        raw.mkdir(parents=True)
        for i in range(3):
            soundfile.write(raw / f"{split}{i}.wav", sound(i), 16000)
        (raw / "wav.scp").write_text(
            "".join(f"{split}{i} {raw}/{split}{i}.wav\n" for i in range(3))
        )
    return recipe


def test_target_units_stage_3(tmp_path):
    recipe = setup_recipe(tmp_path / "s2st" / "speechprompt1")
    rng = np.random.default_rng(0)
    np.save(tmp_path / "km.npy", rng.normal(size=(24, 39)).astype(np.float32))
    for split in ("train", "valid"):
        raw = recipe / "dump" / "raw" / split
        raw.mkdir(parents=True)
        src, tgt = [], []
        for i in range(3):
            utt = f"{split}{i}"
            soundfile.write(raw / f"{utt}.wav", tone(200 + 50 * i), 16000)
            soundfile.write(raw / f"{utt}_en.wav", tone(300 + 70 * i, 0.6), 16000)
            src.append(f"{utt} {raw / f'{utt}.wav'}\n")
            tgt.append(f"{utt} {raw / f'{utt}_en.wav'}\n")
        (raw / "wav.scp").write_text("".join(src))
        (raw / "tgt_wav.scp").write_text("".join(tgt))
    common = ["--train_set", "train", "--valid_set", "valid", "--stage", "3", "--stop_stage", "3",
              "--kmeans", str(tmp_path / "km.npy"), "--nj", "2"]  # fmt: skip
    out = stages(recipe, *common, "--tgt_units", "true")
    assert out.returncode == 0, out.stderr[-3000:]
    from espnet2_speechprompt.bin import dump_units

    dump_units.main(["--wav-scp", str(recipe / "dump/raw/valid/tgt_wav.scp"), "--feature", "mfcc",
                     "--km", str(tmp_path / "km.npy"), "--dedup", "--out-dir", str(tmp_path / "d")])  # fmt: skip
    label = (recipe / "dump" / "units" / "valid" / "label").read_text()
    assert label == (tmp_path / "d" / "units").read_text() and len(label.splitlines()) == 3
    assert label != (recipe / "dump" / "units" / "valid" / "units").read_text()
    os.remove(recipe / "dump" / "raw" / "train" / "tgt_wav.scp")
    out = stages(recipe, *common, "--tgt_units", "true")
    assert out.returncode == 1
    assert "stage 3 needs dump/raw/train/tgt_wav.scp: run --stage 2 first" in out.stderr


def test_mfcc_smoothing_and_trimming_reach_stage_3(tmp_path):
    silence = np.zeros(4000, dtype=np.float32)
    recipe = tone_recipe(
        tmp_path, "smooth", lambda i: np.concatenate([silence, tone(200 + 80 * i), silence])
    )
    common = ["--train_set", "train", "--valid_set", "valid", "--stage", "3", "--stop_stage", "3",
              "--kmeans", str(tmp_path / "km.npy"), "--nj", "1"]  # fmt: skip
    out = stages(recipe, *common, "--mfcc_smooth", "3", "--trim_db", "20")
    assert out.returncode == 0, out.stderr[-3000:]
    from espnet2_speechprompt.bin import dump_units

    wav_scp, km = str(recipe / "dump/raw/valid/wav.scp"), str(tmp_path / "km.npy")
    for name, extra in (("plain", []), ("smooth", ["--smooth-frames", "3", "--trim-db", "20"])):
        dump_units.main(["--wav-scp", wav_scp, "--feature", "mfcc", "--km", km, *extra,
                         "--dedup", "--out-dir", str(tmp_path / name)])  # fmt: skip
    units = (recipe / "dump" / "units" / "valid" / "units").read_text()
    assert units == (tmp_path / "smooth" / "units").read_text()
    assert units != (tmp_path / "plain" / "units").read_text()
    for bad, error in ((["--mfcc_smooth", "2"], "--mfcc_smooth must be odd (got 2)"),
                       (["--trim_db", "loud"], "--trim_db must be a positive number of dB")):  # fmt: skip
        out = stages(recipe, *common, *bad)
        assert out.returncode == 1 and error in out.stderr.splitlines()[-1]


def test_speechgen_pairs_stage_3(tmp_path):
    """--speechgen_task: inpainting pairs of every set's units, the target units as label."""
    recipe = tone_recipe(tmp_path, "gen", lambda i: tone(200 + 50 * i))
    out = stages(
        recipe, "--train_set", "train", "--valid_set", "valid", "--stage", "3", "--stop_stage",
        "3", "--kmeans", str(tmp_path / "km.npy"), "--nj", "2", "--dedup", "false",
        "--speechgen_task", "inpainting", "--speechgen_opts", "--span_seconds 0.1 --seed 3",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    pairs = recipe / "dump" / "units" / "valid" / "speechgen"
    units = (recipe / "dump" / "units" / "valid" / "units").read_text()
    assert (recipe / "dump" / "units" / "valid" / "label").read_text() == units  # whole target
    assert (pairs / "target").read_text() == units
    source = (pairs / "source").read_text().splitlines()
    assert len(source) == 3 and all(line.split()[1:].count("-1") == 5 for line in source)
    assert len((pairs / "spans").read_text().splitlines()) == 3
    bad = stages(recipe, "--train_set", "train", "--valid_set", "valid", "--stage", "3",
                 "--speechgen_task", "denoise")  # fmt: skip
    assert (
        bad.returncode == 1
        and "--speechgen_task denoise: use continuation or inpainting" in bad.stderr
    )


def test_speech_continuation_through_stages_4_to_9(tmp_path, unit_task_data):
    """Continuation pairs (as stage 3 derives them) through the label list, prompt tuning with
    unit targets, sampling and the speechgen scores in RESULTS.md."""
    recipe = setup_recipe(tmp_path / "cont" / "speechprompt1")
    from espnet2_speechprompt.bin import speechgen_pairs

    for split in ("train", "valid"):
        out = recipe / "dump" / "units" / split
        out.mkdir(parents=True)
        (out / "units").write_bytes((unit_task_data / split / "units").read_bytes())
        speechgen_pairs.main(["--units", str(out / "units"), "--task", "continuation",
                              "--ratio", "0.5", "--out_dir", str(out / "speechgen")])  # fmt: skip
        (out / "label").write_bytes((out / "speechgen" / "target").read_bytes())
    np.save(tmp_path / "km.npy", np.zeros((24, 39), dtype=np.float32))
    conf = train_conf(verbalizer="fixed", verbalizer_conf={"mode": "identity"}, max_epoch=2,
                      decoding="sample")  # fmt: skip
    write_yaml(recipe / "conf" / "cont.yaml", conf)
    (recipe / "conf" / "decode_cont.yaml").write_text("batch_size: 8\nmax_length: 12\nnbest: 2\n")
    out = stages(
        recipe, "--train_set", "train", "--valid_set", "valid", "--stage", "4",
        "--stop_stage", "9", "--nj", "2", "--kmeans", str(tmp_path / "km.npy"),
        "--backbone_checkpoint", str(unit_task_data / "lm" / "checkpoint_best.pt"),
        "--speechprompt_config", "conf/cont.yaml", "--inference_config", "conf/decode_cont.yaml",
        "--speechgen_task", "continuation", "--metrics", "speechgen",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    exp = recipe / "exp" / "speechprompt_cont"
    decode = next(exp.glob("decode_cont*/valid"))
    scores = json.loads((decode / "speechgen.json").read_text())
    assert scores["num_utterances"] == 48 and 0 <= scores["unit_bleu"] <= 100
    samples = (decode / "2best_recog" / "text").read_text().splitlines()  # two per utterance
    assert len(samples) == 48 and "self_bleu" in scores
    assert scores["perplexity"] > 1.0 and scores["perplexity_given"] == "source"  # the bare LM's
    results = (exp / "RESULTS.md").read_text()
    assert "|dataset|Snt|unit_bleu|span_unit_error_rate|copy_span_unit_error_rate|" in results
    assert "|self_bleu|perplexity|" in results


def constant_asr(device: str = "cpu"):
    """A fake ASR for the stage test: every wav says the same sentence."""
    return lambda wav, rate: "hello there general kenobi"


def speech_output_stages(recipe: Path, tmp_path: Path, data: Path, conf: dict, *options: str):
    """Stages 4-9 of ``conf`` (conf/speech.yaml) on ``data``'s tiny LM with a tiny unit
    HiFi-GAN and the fake ASR (conf/asr.yaml)."""
    np.save(tmp_path / "km.npy", np.zeros((24, 39), dtype=np.float32))
    cfg = tiny_config(dur=True, num_embeddings=24)
    vocoder, _ = save_released(tmp_path / "voc", native_state(cfg), cfg)
    write_yaml(recipe / "conf" / "speech.yaml", conf)
    (recipe / "conf" / "decode.yaml").write_text("batch_size: 8\nmax_length: 8\n")
    (recipe / "conf" / "asr.yaml").write_text(
        "asr_factory: test.recipes.test_stages_seq:constant_asr\n"
    )
    return stages(
        recipe, "--train_set", "train", "--valid_set", "valid", "--stage", "4",
        "--stop_stage", "9", "--nj", "1", "--kmeans", str(tmp_path / "km.npy"),
        "--backbone_checkpoint", str(data / "lm" / "checkpoint_best.pt"),
        "--speechprompt_config", "conf/speech.yaml", "--inference_config", "conf/decode.yaml",
        "--vocoder_checkpoint", vocoder, "--asr_bleu_config", "conf/asr.yaml", *options,
    )  # fmt: skip


def test_speech_output_vocoding_and_asr_bleu_stages_8_9(tmp_path, unit_task_data):
    """Units -> target units (identity verbalizer), vocoded, transcribed by a fake ASR."""
    data = unit_task_data  # units 0..23 of a tiny LM; target: the source units reversed
    recipe = setup_recipe(tmp_path / "s2st" / "speechprompt1")
    units = recipe / "dump" / "units"
    for split in ("train", "valid"):
        (units / split).mkdir(parents=True)
        lines = (data / split / "units").read_text().splitlines()
        (units / split / "units").write_text("".join(f"{line}\n" for line in lines))
        with open(units / split / "label", "w") as f:
            for line in lines:
                utt, *seq = line.split()
                f.write(f"{utt} {' '.join(reversed(seq[:6]))}\n")
        raw = recipe / "dump" / "raw" / split
        raw.mkdir(parents=True)
        refs = "".join(f"{line.split()[0]} Hello there, general Kenobi!\n" for line in lines)
        (raw / "tgt_text").write_text(refs)
        (raw / "tgt_text.1").write_text(refs.replace("Hello", "Hi"))
    conf = train_conf(verbalizer="fixed", verbalizer_conf={"mode": "identity"}, max_epoch=2)
    out = speech_output_stages(recipe, tmp_path, data, conf, "--metrics", "asr_bleu")
    assert out.returncode == 0, out.stderr[-3000:]
    exp = recipe / "exp" / "speechprompt_speech"
    decode = exp / "decode_speechprompt_model_valid.acc.best" / "valid"
    generated = [line.split()[1:] for line in (decode / "text").read_text().splitlines()]
    assert len(generated) == 48 and all(u.isdigit() for row in generated for u in row)
    wavs = (decode / "wav" / "wav.scp").read_text().splitlines()
    assert all(line.split()[1].startswith(f"{decode.relative_to(recipe)}/wav/") for line in wavs)
    assert all((recipe / line.split()[1]).is_file() for line in wavs)
    result = json.loads((decode / "asr_bleu" / "result.json").read_text())
    assert len(wavs) == sum(bool(row) for row in generated) > 0  # measured 48 of 48
    print(f"stages 8-9, speech output: {len(wavs)} of 48 rows vocoded")
    assert result["missing_wavs"] == 48 - len(wavs)
    assert result["asr_model"] == "test.recipes.test_stages_seq:constant_asr"
    assert "nrefs:2" in result["bleu_signature"]
    if not result["missing_wavs"]:
        assert result["bleu"] == pytest.approx(100.0)
    results = (exp / "RESULTS.md").read_text()
    assert "|dataset|Snt|asr_bleu|" in results
    assert f"|{decode.parent.name}/valid|48|{result['bleu']:.2f}|" in results
    log = (exp / "logs" / "stage9.cmd").read_text()
    assert "espnet2_speechprompt.bin.asr_bleu" in log and "--extra_ref" in log


def test_speech_input_wav2seq_through_stages_2_to_9(tmp_path):
    """``--input speech``: no units or k-means; stages 6-8 read dump/raw/<set>/wav.scp."""
    from test.factories.encdec import save_tiny_wav2seq

    save_tiny_wav2seq(tmp_path / "wav2seq")
    recipe = setup_recipe(tmp_path / "w2s" / "speechprompt1")
    labels = ["yes", "no", "up"]
    for split, count in (("train", 6), ("valid", 6)):
        data = recipe / "data" / split
        data.mkdir(parents=True)
        rows = {"wav.scp": [], "label": [], "utt2spk": []}
        for i in range(count):
            utt = f"{split}{i:02d}"
            soundfile.write(data / f"{utt}.wav", tone(200 + 150 * (i % 3), 0.2), 16000)
            rows["wav.scp"].append(f"{utt} {data / f'{utt}.wav'}\n")
            rows["label"].append(f"{utt} {labels[i % 3]}\n")
            rows["utt2spk"].append(f"{utt} {utt}\n")
        for name, lines in rows.items():
            (data / name).write_text("".join(lines))
        (data / "spk2utt").write_text(
            "".join(f"{u} {u}\n" for u, _ in map(str.split, rows["utt2spk"]))
        )
    conf = train_conf(
        backbone="wav2seq", decoding="score", max_epoch=1, batch_size=3,
        verbalizer="fixed", verbalizer_conf={"mode": "random"},
        prompt_conf={"input_length": 2, "deep_length": 2, "dropout": 0.0, "separator": False},
    )  # fmt: skip
    write_yaml(recipe / "conf" / "w2s.yaml", conf)
    common = ["--train_set", "train", "--valid_set", "valid", "--nj", "2", "--input", "speech",
              "--backbone_checkpoint", str(tmp_path / "wav2seq" / "checkpoint.pt"),
              "--speechprompt_config", "conf/w2s.yaml"]  # fmt: skip
    out = stages(recipe, *common, "--stage", "2", "--stop_stage", "9")
    assert out.returncode == 0, out.stderr[-3000:]
    assert not (recipe / "dump" / "units" / "valid" / "units").exists()  # no units were made
    exp = recipe / "exp" / "speechprompt_w2s"
    assert (exp / "stats" / "train" / "speech_shape").is_file()
    assert "--input speech" in (exp / "logs" / "stage7.cmd").read_text()
    decode = "inference_speechprompt_model_valid.acc.best"  # no --inference_config
    hyps = (exp / decode / "valid" / "text").read_text().splitlines()
    assert len(hyps) == 6 and all(line.split()[1] in labels for line in hyps)
    assert f"|{decode}/valid|6|" in (exp / "RESULTS.md").read_text()
    # a unit LM cannot be made for speech input, nor a GRU baseline trained
    out = stages(recipe, *common[:-4], "--stage", "5", "--stop_stage", "5")
    assert out.returncode == 1 and "--input speech needs the backbone" in out.stderr
    out = stages(recipe, *common, "--baseline", "true", "--stage", "7")
    assert out.returncode == 1 and "not with --input speech" in out.stderr


def test_inpainting_with_vocoded_speech_and_asr_wer_stages_4_9(tmp_path, unit_task_data):
    """Inpainting pairs (mask vector: the tiny LM's dictionary has no ``<mask>``), the whole
    utterance generated and vocoded, and the corrupted input (masked units left out) vocoded
    as the reference point; a fake ASR's WER/CER of both in RESULTS.md."""
    from espnet2_speechprompt.bin import speechgen_pairs

    recipe = setup_recipe(tmp_path / "inpaint" / "speechprompt1")
    for split in ("train", "valid"):
        out = recipe / "dump" / "units" / split
        out.mkdir(parents=True)
        (out / "units").write_bytes((unit_task_data / split / "units").read_bytes())
        speechgen_pairs.main(["--units", str(out / "units"), "--task", "inpainting",
                              "--span_seconds", "0.04", "--units_per_second", "50",
                              "--out_dir", str(out / "speechgen"), "--skip_short"])  # fmt: skip
        (out / "label").write_bytes((out / "speechgen" / "target").read_bytes())
        raw = recipe / "dump" / "raw" / split
        raw.mkdir(parents=True)
        keys = [line.split()[0] for line in (out / "label").read_text().splitlines()]
        (raw / "text").write_text("".join(f"{k} Hello there{', general Kenobi' * (i % 2)}!\n"
                                          for i, k in enumerate(keys)))  # fmt: skip
    prompts = {"input_length": 2, "deep_length": 2, "dropout": 0.0, "mask_vector": True}
    conf = train_conf(verbalizer="fixed", verbalizer_conf={"mode": "identity"}, max_epoch=1,
                      prompt_conf=prompts)  # fmt: skip
    out = speech_output_stages(recipe, tmp_path, unit_task_data, conf, "--speechgen_task",
                               "inpainting", "--metrics", "speechgen asr_wer")  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    exp = recipe / "exp" / "speechprompt_speech"
    decode = exp / "decode_speechprompt_model_valid.acc.best" / "valid"
    source = (recipe / "dump" / "units" / "valid" / "speechgen" / "source").read_text()
    corrupted = (decode / "input_units").read_text()
    assert "-1" in source.split() and "-1" not in corrupted.split()
    assert corrupted.splitlines() == [
        " ".join(u for u in line.split() if u != "-1") for line in source.splitlines()
    ]
    inputs = (decode / "input_wav" / "wav.scp").read_text().splitlines()
    assert len(inputs) == len(source.splitlines()) and all(
        (recipe / line.split()[1]).is_file() for line in inputs
    )
    speech = json.loads((decode / "asr_bleu" / "result.json").read_text())
    reference = json.loads((decode / "asr_input" / "result.json").read_text())
    if not speech["missing_wavs"]:  # one fake transcript for every wav: the same error rates
        assert speech["wer"] == reference["wer"] > 0 and speech["cer"] == reference["cer"]
    results = (exp / "RESULTS.md").read_text()
    assert "|asr_wer|asr_cer|input_asr_wer|input_asr_cer|" in results
    assert (
        f"|{100 * reference['wer']:.1f}|" in results or f"{100 * reference['wer']:.2f}" in results
    )
