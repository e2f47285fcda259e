"""SpeechPromptTask: ESPnet's task-test pattern, then train -> infer -> score -> pack -> load.

Inference, packing and loading are checked on fixed random weights; training is checked by what
it writes, by resuming, and against the untrained model with a wide margin."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

pytest.importorskip("espnet2", reason="espnet (the task layer's dependency) is not installed")

from espnet2_speechprompt.api.inputs import SpeechPromptDataError  # noqa: E402
from espnet2_speechprompt.api.packing import pack as pack_task  # noqa: E402
from espnet2_speechprompt.api.preprocess import LabelEncoder, UnitEncoder  # noqa: E402
from espnet2_speechprompt.bin import speechprompt_score  # noqa: E402
from espnet2_speechprompt.bin.speechprompt_inference import SpeechPrompt, inference  # noqa: E402
from espnet2_speechprompt.errors import CheckpointError  # noqa: E402
from espnet2_speechprompt.tasks.speechprompt import SpeechPromptTask  # noqa: E402
from espnet2_speechprompt.vocab import Dictionary  # noqa: E402
from test.factories.random_weights import RANDOM_STATE, dry_run_with_random_state  # noqa: E402
from test.factories.task_data import TASK_LABELS as LABELS  # noqa: E402
from test.factories.task_data import data_args  # noqa: E402
from test.factories.unit_lm import save_random_unit_lm  # noqa: E402


@pytest.fixture(scope="module")
def data(unit_task_data: Path) -> Path:
    return unit_task_data


def common_args(data: Path, out: Path, shapes: Path | None = None) -> list[str]:
    args = [
        "--output_dir", str(out),
        "--backbone_conf", f"checkpoint={data / 'lm' / 'checkpoint_best.pt'}",
        "--label_list", str(data / "label_list"),
        "--verbalizer", "learnable", "--verbalizer_conf", "mode=frequency",
        "--prompt_conf", "{input_length: 4, deep_length: 4, dropout: 0.0}",
        "--optim_conf", "lr=0.02",
        "--batch_type", "unsorted", "--batch_size", "16", "--num_workers", "0",
        "--use_tensorboard", "false", "--num_att_plot", "0", "--seed", "0",
    ] + data_args(data, shapes)  # fmt: skip
    return args


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory) -> Path:
    """collect_stats, then 5 epochs of prompt tuning through ESPnet's Trainer."""
    root = tmp_path_factory.mktemp("exp")
    SpeechPromptTask.main(cmd=common_args(data, root / "stats") + ["--collect_stats", "true"])
    cmd = common_args(data, root / "exp", root / "stats") + ["--max_epoch", "5"]
    SpeechPromptTask.main(cmd=cmd)
    return root


@pytest.fixture(scope="module")
def random_task(data, tmp_path_factory) -> Path:
    """The task on fixed random weights: an untrained unit LM, random prompts and verbalizer;
    the backbone in float32 (recorded in config.yaml), so batched == single holds to 1e-5."""
    root = tmp_path_factory.mktemp("random")
    lm = save_random_unit_lm(Dictionary.load(data / "lm" / "dict.txt"), root / "lm")
    return dry_run_with_random_state(
        common_args(data, root / "exp")
        + ["--backbone_conf", f"checkpoint={lm}", "--backbone_precision", "float32"]
    )


def decode(data: Path, config: Path, model_file: Path | None, out: Path) -> dict[str, str]:
    """Batched inference on the valid units; the ``text`` written, by utterance."""
    inference(
        output_dir=str(out),
        data_path_and_name_and_type=[(str(data / "valid" / "units"), "units", "text_int")],
        speechprompt_train_config=str(config),
        speechprompt_model_file=str(model_file) if model_file else None,
        batch_size=8,
    )
    for name in ("text", "score", "token"):
        assert len((out / name).read_text().splitlines()) == 48
    return speechprompt_score.read_table(out / "text")


def test_parser_help_and_required_arguments():
    parser = SpeechPromptTask.get_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    with pytest.raises(SystemExit):
        SpeechPromptTask.main(cmd=["--print_config"])
    with pytest.raises(SystemExit):
        SpeechPromptTask.main(cmd=[])  # --output_dir and --label_list are required


def test_print_config_round_trip(tmp_path):
    config = tmp_path / "config.yaml"
    with open(config, "w") as f:
        SpeechPromptTask.print_config(file=f)
    loaded = yaml.safe_load(config.read_text())
    assert loaded["optim"] == "adam" and loaded["prompt_conf"]["deep_length"] == 5
    args = SpeechPromptTask.get_parser().parse_args(["--config", str(config)])
    assert args.verbalizer == "learnable" and args.backbone == "gslm"


def test_data_names():
    """Only ``label`` is required: the model checks for its backbone's input (units/speech)."""
    assert SpeechPromptTask.required_data_names() == ("label",)
    assert SpeechPromptTask.optional_data_names() == ("units", "speech")
    assert SpeechPromptTask.required_data_names(train=False, inference=True) == ()


def test_dry_run_embeds_label_list_and_resolved_verbalizer(data, tmp_path):
    SpeechPromptTask.main(cmd=common_args(data, tmp_path) + ["--dry_run", "true"])
    config = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert config["label_list"] == LABELS
    units = config["verbalizer_conf"]["label_units"]
    assert len(units) == 4 and all(u.isdigit() for u in units)  # frequency, from train data


def test_build_model_tiny_and_frozen(data):
    parser = SpeechPromptTask.get_parser()
    args = parser.parse_args(common_args(data, Path("unused")))
    model = SpeechPromptTask.build_model(args)
    trainable = {k for k, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(not k.startswith("prompted.backbone.") for k in trainable)
    assert not any(k.startswith("prompted.backbone.") for k in model.state_dict())


def test_preprocess_errors_name_the_utterance(data):
    from espnet2_speechprompt.vocab import Dictionary

    labels = LabelEncoder(LABELS)
    with pytest.raises(SpeechPromptDataError, match="utterance u7: label 'maybe' is not"):
        labels.encode("yes maybe", "u7")
    units = UnitEncoder(Dictionary.load(data / "lm" / "dict.txt"), "dict.txt")
    with pytest.raises(SpeechPromptDataError, match="utterance u8: unit 99 is outside"):
        units.encode(np.array([1, 99]), "u8")
    with pytest.raises(SpeechPromptDataError, match="utterance u9: no units"):
        units.encode(np.array([], dtype=np.int64), "u9")


def test_training_writes_prompt_only_checkpoints(trained):
    exp = trained / "exp"
    for name in ("1epoch.pth", "checkpoint.pth", "valid.acc.best.pth", "valid.acc.ave.pth"):
        assert (exp / name).exists(), name
    state = torch.load(exp / "valid.acc.best.pth", weights_only=True)
    assert state and not any("backbone" in k for k in state)
    config = yaml.safe_load((exp / "config.yaml").read_text())
    from espnet2_speechprompt.checkpoints.backbones import GSLMBackbone

    lm, _ = GSLMBackbone(**config["backbone_conf"]).load()
    full = sum(v.numel() for v in lm.state_dict().values()) + sum(v.numel() for v in state.values())
    assert sum(v.numel() for v in state.values()) / full < 0.1
    assert os.path.getsize(exp / "3epoch.pth") < 20_000


def test_prompt_tuning_through_the_task_learns(trained, data, tmp_path):
    """Valid accuracy of the best checkpoint against the untrained model's (4 labels: chance
    0.25; measured 1.0 against 0.146): the margin leaves room for other CPUs' arithmetic."""
    exp, ref = trained / "exp", speechprompt_score.read_table(data / "valid" / "label")
    tuned = decode(data, exp / "config.yaml", exp / "valid.acc.best.pth", tmp_path / "t")
    untuned = decode(data, exp / "config.yaml", None, tmp_path / "u")
    tuned_acc = speechprompt_score.score(ref, tuned)["acc"]
    untuned_acc = speechprompt_score.score(ref, untuned)["acc"]
    print(f"task prompt tuning: accuracy {untuned_acc:.3f} untrained, {tuned_acc:.3f} trained")
    assert tuned_acc >= untuned_acc + 0.4, (tuned_acc, untuned_acc)


def test_inference_pack_and_from_pretrained(random_task, data, tmp_path):
    """Batched inference == one utterance at a time == the packed task, loaded back."""
    config, model_file = random_task / "config.yaml", random_task / RANDOM_STATE
    decoded = decode(data, config, model_file, tmp_path / "decode")
    scores = speechprompt_score.read_table(tmp_path / "decode" / "score")
    (tmp_path / "RESULTS.md").write_text("acc 0.000\n")
    packed = pack_task(config, model_file, tmp_path / "model.zip", results=tmp_path / "RESULTS.md")
    direct = SpeechPrompt(config, model_file)
    loaded = SpeechPrompt.from_pretrained(str(packed))
    for line in (data / "valid" / "units").read_text().splitlines()[:10]:
        utt, units = line.split()[0], [int(u) for u in line.split()[1:]]
        assert loaded(units)[0] == direct(units)[0] == decoded[utt]
        assert loaded(units)[1] == pytest.approx(direct(units)[1], abs=1e-5)
        assert direct(units)[1] == pytest.approx(float(scores[utt]), abs=1e-4)
    assert len(set(scores.values())) > 40  # the scores depend on the utterance


def test_from_pretrained_checks_the_backbone(random_task, tmp_path):
    exp = random_task
    packed = pack_task(exp / "config.yaml", exp / RANDOM_STATE, tmp_path / "m.zip")
    missing = {"checkpoint": str(tmp_path / "nowhere" / "checkpoint_best.pt")}
    with pytest.raises(CheckpointError, match="not found at .*nowhere.*download it"):
        SpeechPrompt.from_pretrained(str(packed), backbone_conf=missing)
    config = yaml.safe_load((exp / "config.yaml").read_text())
    other = tmp_path / "other.pt"
    other.write_bytes(Path(config["backbone_conf"]["checkpoint"]).read_bytes() + b"\0")
    with pytest.raises(CheckpointError, match="has sha256 .* but this package was trained"):
        SpeechPrompt.from_pretrained(str(packed), backbone_conf={"checkpoint": str(other)})


def test_speech_input_through_the_unit_extractor(random_task, tmp_path):
    exp = random_task
    config = yaml.safe_load((exp / "config.yaml").read_text())
    centres = np.random.default_rng(0).normal(size=(20, 39)).astype(np.float32)
    np.save(tmp_path / "km.npy", centres)
    config["unit_extractor_conf"] = {"kmeans": str(tmp_path / "km.npy"), "feature": "mfcc"}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    runner = SpeechPrompt(tmp_path / "config.yaml", exp / RANDOM_STATE)
    wav = np.sin(np.arange(16000) * 0.05).astype(np.float32) * 0.3
    units = runner.unit_extractor(wav)
    assert units and runner(speech=wav) == runner(units=units)


def test_missing_backbone_is_one_clear_error(data, tmp_path):
    cmd = common_args(data, tmp_path)
    cmd[cmd.index("--backbone_conf") + 1] = f"checkpoint={tmp_path / 'missing.pt'}"
    out = subprocess.run(
        [sys.executable, "-m", "espnet2_speechprompt.bin.speechprompt_train", *cmd,
         "--dry_run", "true"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 1
    assert "error: backbone checkpoint not found:" in out.stderr and "Traceback" not in out.stderr


def _train_process(data: Path, out: Path, epochs: int, resume: bool) -> subprocess.Popen:
    cmd = common_args(data, out) + ["--max_epoch", str(epochs), "--resume", str(resume).lower()]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "espnet2_speechprompt.bin.speechprompt_train", *cmd],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip


def test_killed_training_resumes_to_the_same_prompts(data, tmp_path):
    straight = _train_process(data, tmp_path / "straight", 3, resume=False)
    killed = _train_process(data, tmp_path / "killed", 3, resume=True)
    deadline = time.time() + 300
    while not (tmp_path / "killed" / "1epoch.pth").exists() and killed.poll() is None:
        assert time.time() < deadline, "training did not reach epoch 1"
        time.sleep(0.2)
    killed.kill()
    killed.wait()
    assert not (tmp_path / "killed" / "3epoch.pth").exists()
    assert _train_process(data, tmp_path / "killed", 3, resume=True).wait() == 0
    assert straight.wait() == 0
    a = torch.load(tmp_path / "straight" / "3epoch.pth", weights_only=True)
    b = torch.load(tmp_path / "killed" / "3epoch.pth", weights_only=True)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=0)


def test_importing_the_task_downloads_nothing(tmp_path):
    """ESPnet's import chain asks nltk to download tagger data (g2p_en); the task stops it.
    The text front-ends it never uses (g2p_en, tacotron_cleaner: inflect, nltk) are deferred,
    and still work when something does use them."""
    env = dict(os.environ, HOME=str(tmp_path), NLTK_DATA=str(tmp_path / "nltk_data"))
    code = (
        "import sys, espnet2_speechprompt.tasks.speechprompt\n"
        "print(sorted(m for m in ('inflect', 'nltk') if m in sys.modules))\n"
        "import g2p_en\n"
        "from espnet2.text.cleaner import TextCleaner\n"
        "print(g2p_en.G2p.__name__, TextCleaner('tacotron')('Hello 2 worlds'))\n"
        "import nltk\n"
        "print(nltk.download('averaged_perceptron_tagger'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines()[-3:] == ["[]", "G2p HELLO TWO WORLDS", "False"], out.stdout
    assert "nltk_data" not in out.stderr, out.stderr[-2000:]
    assert not any(tmp_path.iterdir())
