"""Every dataset recipe's training confs pass ``speechprompt_train --dry_run`` with that recipe's
label format (tiny GSLM-format backbone with a hubert100-style dict.txt); the Unit mBART confs
with a tiny Unit-mBART-layout backbone, the Wav2Seq confs with a tiny Wav2Seq-layout one on
16 kHz audio; run.sh, READMEs and tools/download_pretrained.sh are in place.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml

pytest.importorskip("espnet2", reason="espnet (the task layer's dependency) is not installed")

from espnet2_speechprompt.checkpoints.unit_lm import save_unit_lm  # noqa: E402
from espnet2_speechprompt.data.kaldi import to_char_label  # noqa: E402
from espnet2_speechprompt.speechlm.transformer_lm import (  # noqa: E402
    DecoderConfig,
    TransformerDecoder,
)
from espnet2_speechprompt.tasks.speechprompt import SpeechPromptTask  # noqa: E402
from espnet2_speechprompt.vocab import Dictionary  # noqa: E402
from test.factories.encdec import save_tiny_wav2seq, save_unit_mbart, tiny_encdec  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RECIPES = (
    "mini_speechcommands",
    "speechcommands",
    "fsc",
    "librispeech_100",
    "snips",
    "covost2",
    "fisher_callhome_spanish",
    "ljspeech",
    "vctk",
)
KS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "_unknown_",
      "_silence_"]  # fmt: skip
SAMPLE_LABELS = {
    "TEMPLATE": KS[:10],
    "mini_speechcommands": KS[:10],
    "speechcommands": KS,
    "fsc": ["activate lights none", "change_language Chinese none", "increase heat kitchen"],
    "librispeech_100": [to_char_label(t) for t in ("HELLO WORLD", "IT'S A TEST", "ZOO QUAY")],
    "snips": [
        to_char_label(t, keep={t_ for t_ in t.split() if t_[:2] in ("B-", "E-")})
        for t in ("PLAY B-artist ABBA E-artist", "RATE B-object_name THIS BOOK E-object_name")
    ],
    "covost2": [" ".join(str(u) for u in range(i, 100, 7)) for i in range(3)],
    "fisher_callhome_spanish": [" ".join(str(u) for u in range(i, 100, 11)) for i in range(3)],
    "ljspeech": [" ".join(str(u) for u in range(i, 100, 13)) for i in range(3)],
    "vctk": [" ".join(str(u) for u in range(i, 100, 9)) for i in range(3)],
}


def confs(recipe: str) -> list[Path]:
    return sorted((ROOT / "egs2" / recipe / "speechprompt1" / "conf").glob("train*.yaml"))


@pytest.fixture(scope="module")
def backbone(tmp_path_factory) -> Path:
    """A tiny unit LM in the GSLM release layout; dict.txt = units 0..99 (hubert100 style)."""
    root = tmp_path_factory.mktemp("gslm")
    vocab = Dictionary([str(u) for u in range(100)])
    config = DecoderConfig(vocab_size=len(vocab), embed_dim=16, ffn_dim=32, num_layers=2,
                           num_heads=2, max_positions=4096)  # fmt: skip
    return save_unit_lm(TransformerDecoder(config).eval(), vocab, root / "hubert100_lm")


@pytest.fixture(scope="module")
def mbart_backbone(tmp_path_factory) -> Path:
    """A tiny encoder-decoder in the Unit mBART release layout; dict.txt = units 0..99."""
    vocab = Dictionary([str(u) for u in range(100)])
    model = tiny_encdec(len(vocab), dim=16, heads=2)
    return save_unit_mbart(model, vocab, tmp_path_factory.mktemp("unit_mBART"))


@pytest.fixture(scope="module")
def wav2seq_backbone(tmp_path_factory) -> Path:
    """A tiny encoder-decoder in the released Wav2Seq layout (pseudo-language dict.txt)."""
    return save_tiny_wav2seq(tmp_path_factory.mktemp("wav2seq"), num_symbols=30)


def write_data(root: Path, labels: list[str]) -> Path:
    """units, wav.scp (short 16 kHz noise) and label of train/valid, and the label list."""
    rng = random.Random(0)
    for split in ("train", "valid"):
        (root / split).mkdir(parents=True)
        with open(root / split / "units", "w") as units, open(root / split / "label", "w") as lab, \
                open(root / split / "wav.scp", "w") as scp:  # fmt: skip
            for i in range(2 * len(labels)):
                utt = f"{split}{i:03d}"
                seq = " ".join(str(rng.randrange(100)) for _ in range(rng.randint(5, 12)))
                units.write(f"{utt} {seq}\n")
                lab.write(f"{utt} {labels[i % len(labels)]}\n")
                wav = np.random.default_rng(i).normal(0, 0.1, 3200).astype(np.float32)
                soundfile.write(root / split / f"{utt}.wav", wav, 16000)
                scp.write(f"{utt} {root / split / f'{utt}.wav'}\n")
    tokens = sorted({t for label in labels for t in label.split()})
    (root / "label_list").write_text("".join(f"{t}\n" for t in tokens))
    return root


@pytest.mark.parametrize("recipe", ("TEMPLATE", *RECIPES))
def test_recipe_confs_pass_dry_run(recipe, backbone, mbart_backbone, wav2seq_backbone, tmp_path):
    data = write_data(tmp_path / "data", SAMPLE_LABELS[recipe])
    assert confs(recipe), f"{recipe} has no conf/train*.yaml"
    backbones = {"unit_mbart": mbart_backbone, "wav2seq": wav2seq_backbone}
    for conf in confs(recipe):
        out = tmp_path / conf.stem
        wanted = yaml.safe_load(conf.read_text())
        checkpoint = backbones.get(wanted.get("backbone"), backbone)
        source = ("wav.scp", "speech", "sound") if wanted.get("input") == "speech" else \
            ("units", "units", "text_int")  # fmt: skip
        cmd = ["--config", str(conf), "--dry_run", "true", "--output_dir", str(out),
               "--backbone_conf", f"{{checkpoint: {checkpoint}, dictionary: {checkpoint.parent / 'dict.txt'}}}", "--label_list",
               str(data / "label_list"), "--num_workers", "0", "--use_tensorboard", "false"]  # fmt: skip
        for split in ("train", "valid"):
            cmd += [f"--{split}_data_path_and_name_and_type", f"{data / split / source[0]},{source[1]},{source[2]}",
                    f"--{split}_data_path_and_name_and_type", f"{data / split / 'label'},label,text",
                    f"--{split}_shape_file", str(data / split / source[0])]  # fmt: skip
        SpeechPromptTask.main(cmd=cmd)
        config = yaml.safe_load((out / "config.yaml").read_text())
        assert config["prompt_conf"]["deep_length"] == wanted["prompt_conf"]["deep_length"]
        for key in ("backbone", "input", "decoding", "verbalizer", "max_epoch"):
            if key in wanted:
                assert config[key] == wanted[key], key
        assert config["label_list"] == (data / "label_list").read_text().split()


@pytest.mark.parametrize("recipe", RECIPES[1:])
def test_recipe_layout(recipe):
    d = ROOT / "egs2" / recipe / "speechprompt1"
    for name in ("speechprompt.sh", "utils", "path.sh", "db.sh"):
        assert (d / name).is_symlink() and (d / name).exists(), name
    template_cmd = ROOT / "egs2" / "TEMPLATE" / "speechprompt1" / "cmd.sh"
    assert (d / "cmd.sh").read_text() == template_cmd.read_text()
    for name in ("run.sh", "local/data.sh"):
        assert (d / name).stat().st_mode & 0o111, f"{name} is not executable"
    readme = (d / "README.md").read_text()
    for heading in ("## Stages", "## Corpus layout", "## Commands", "## Published numbers"):
        assert heading in readme, heading
    out = subprocess.run(["bash", "run.sh", "--help"], cwd=d, capture_output=True, text=True)
    assert out.returncode == 0 and "--train_set" in out.stdout, out.stderr


SCRIPT = ROOT / "tools" / "download_pretrained.sh"


def test_download_script_lists_items_and_rejects_unknown(tmp_path):
    out = subprocess.run(["bash", str(SCRIPT), "--list"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for item in ("hubert_base", "gslm_hubert100_lm", "gslm_km100", "mhubert", "mhubert_km1000",
                 "unit_mbart", "vocoder_mhubert_km1000_lj"):  # fmt: skip
        assert item in out.stdout
    assert "https://dl.fbaipublicfiles.com/" in out.stdout
    out = subprocess.run(["bash", str(SCRIPT), "--dest", str(tmp_path), "nope"],
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 2 and "unknown item 'nope'" in out.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_download_script_is_shellcheck_clean():
    out = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
