"""``--backbone unit_mbart`` through the ESPnet task: dry run, build, one training epoch, then
stage-8-like inference (score, greedy, beam, n-best) and the pack / from_pretrained round trip,
on fixed random weights (a seeded tiny backbone, perturbed prompts)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

pytest.importorskip("espnet2", reason="espnet (the task layer's dependency) is not installed")

from espnet2_speechprompt.api.packing import pack as pack_task  # noqa: E402
from espnet2_speechprompt.bin.speechprompt_inference import SpeechPrompt, inference  # noqa: E402
from espnet2_speechprompt.prompt.prompted_encdec import PromptedEncoderDecoder  # noqa: E402
from espnet2_speechprompt.tasks.speechprompt import SpeechPromptTask  # noqa: E402
from espnet2_speechprompt.vocab import Dictionary  # noqa: E402
from test.factories.encdec import save_unit_mbart, tiny_encdec  # noqa: E402
from test.factories.random_weights import RANDOM_STATE, dry_run_with_random_state  # noqa: E402
from test.factories.task_data import data_args  # noqa: E402

LABELS = ["yes", "no", "up"]
SEQUENCES = ["yes", "no up", "up yes no"]  # multi-token labels: a sequence task


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mbart_task")
    vocab = Dictionary([str(u) for u in (5, 2, 0, 7, 1, 3, 6, 4)])
    torch.manual_seed(0)
    save_unit_mbart(tiny_encdec(len(vocab), dim=16, heads=2), vocab, root / "unit_mBART")
    gen = torch.Generator().manual_seed(0)
    for split in ("train", "valid"):
        (root / split).mkdir()
        with open(root / split / "units", "w") as units, open(root / split / "label", "w") as lab:
            for i in range(12):
                row = torch.randint(0, 8, (int(torch.randint(3, 9, (1,), generator=gen)),),
                                    generator=gen)  # fmt: skip
                units.write(f"{split}{i:03d} {' '.join(map(str, row.tolist()))}\n")
                lab.write(f"{split}{i:03d} {SEQUENCES[i % 3]}\n")
    (root / "label_list").write_text("\n".join(LABELS) + "\n")
    (root / "candidates").write_text("\n".join(SEQUENCES) + "\n")
    return root


def _args(data: Path, out: Path) -> list[str]:
    args = [
        "--output_dir", str(out), "--backbone", "unit_mbart",
        "--backbone_conf", f"checkpoint={data / 'unit_mBART' / 'checkpoint.pt'}",
        "--label_list", str(data / "label_list"),
        "--verbalizer", "fixed", "--verbalizer_conf", "mode=random",
        "--prompt_conf", "{input_length: 2, deep_length: 2, decoder_deep_length: 3, "
        "separator: false, dropout: 0.0}",
        "--batch_type", "unsorted", "--batch_size", "4", "--num_workers", "0",
        "--use_tensorboard", "false", "--num_att_plot", "0", "--seed", "0",
    ] + data_args(data)  # fmt: skip
    return args


def test_dry_run_with_unit_mbart(data, tmp_path):
    SpeechPromptTask.main(cmd=_args(data, tmp_path) + ["--dry_run", "true"])
    config = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert config["backbone"] == "unit_mbart" and config["prompt_conf"]["decoder_deep_length"] == 3


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory) -> Path:
    """One epoch through the task (scoring config with a candidate list)."""
    exp = tmp_path_factory.mktemp("mbart_exp")
    extra = ["--max_epoch", "1", "--candidate_list", str(data / "candidates")]
    SpeechPromptTask.main(cmd=_args(data, exp) + extra)
    return exp


@pytest.fixture(scope="module")
def random_exp(data, tmp_path_factory) -> Path:
    """The scoring config of ``trained`` with fixed random prompts instead of trained ones."""
    exp = tmp_path_factory.mktemp("mbart_random")
    return dry_run_with_random_state(
        _args(data, exp) + ["--candidate_list", str(data / "candidates")]
    )


def test_build_model_and_one_epoch(data, trained, tmp_path):
    args = SpeechPromptTask.get_parser().parse_args(_args(data, tmp_path))
    model = SpeechPromptTask.build_model(args)
    assert isinstance(model.prompted, PromptedEncoderDecoder)
    assert set(model.state_dict()) == {
        "prompted.encoder_prompts.input_prompt",
        "prompted.encoder_prompts.deep_prompt",
        "prompted.decoder_prompts.deep_prompt",
    }
    assert (trained / "1epoch.pth").exists()


def _decode(data: Path, exp: Path, out: Path, **options) -> dict[str, list[str]]:
    inference(
        output_dir=str(out),
        data_path_and_name_and_type=[(str(data / "valid" / "units"), "units", "text_int")],
        speechprompt_train_config=str(exp / "config.yaml"),
        speechprompt_model_file=str(exp / RANDOM_STATE),
        batch_size=5,
        max_len_b=6,
        **options,
    )
    return {name: (out / name).read_text().splitlines() for name in ("text", "score", "token")}


def test_stage8_inference_score_greedy_beam(data, random_exp, tmp_path):
    scored = _decode(data, random_exp, tmp_path / "score", nbest=2)
    assert len(scored["text"]) == 12
    assert {line.split(" ", 1)[1] for line in scored["text"]} <= set(SEQUENCES)
    assert len((tmp_path / "score" / "2best_recog" / "text").read_text().splitlines()) == 12
    greedy = _decode(data, random_exp, tmp_path / "greedy", decoding="greedy")
    beam1 = _decode(data, random_exp, tmp_path / "beam1", decoding="beam", beam_size=1)
    assert beam1 == greedy
    beam = _decode(data, random_exp, tmp_path / "beam", decoding="beam", beam_size=3, nbest=3)
    assert (tmp_path / "beam" / "1best_recog" / "text").read_text().splitlines() == beam["text"]
    for line in beam["token"]:
        assert len(line.split()) <= 7  # key + at most max_len_b labels
    for name in ("text", "token"):
        assert len(beam[name]) == 12


def test_pack_and_from_pretrained(data, random_exp, tmp_path):
    config, model_file = random_exp / "config.yaml", random_exp / RANDOM_STATE
    packed = pack_task(config, model_file, tmp_path / "m.zip")
    direct = SpeechPrompt(config, model_file, decoding="beam")
    loaded = SpeechPrompt.from_pretrained(str(packed), decoding="beam")
    for line in (data / "valid" / "units").read_text().splitlines()[:4]:
        units = [int(u) for u in line.split()[1:]]
        assert loaded(units)[0] == direct(units)[0]
        assert loaded(units)[1] == pytest.approx(direct(units)[1], abs=1e-5)


def test_dry_run_with_beam_decoding(data, tmp_path):
    SpeechPromptTask.main(cmd=_args(data, tmp_path) + ["--dry_run", "true", "--decoding", "beam"])
    config = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert config["decoding"] == "beam" and config["candidate_list"] is None
