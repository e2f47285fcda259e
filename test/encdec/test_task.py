"""``--backbone unit_mbart`` through the ESPnet task: dry run, build, a short training run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

pytest.importorskip("espnet2", reason="espnet (the task layer's dependency) is not installed")

from espnet2_speechprompt.checkpoints.dictionary import Dictionary  # noqa: E402
from espnet2_speechprompt.checkpoints.encdec import save_unit_mbart  # noqa: E402
from espnet2_speechprompt.prompt.prompted_encdec import PromptedEncoderDecoder  # noqa: E402
from espnet2_speechprompt.tasks.speechprompt import SpeechPromptTask  # noqa: E402
from espnet2_speechprompt.toy_seq2seq import tiny_encdec  # noqa: E402

LABELS = ["yes", "no", "up"]


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
                lab.write(f"{split}{i:03d} {LABELS[i % 3]}\n")
    (root / "label_list").write_text("\n".join(LABELS) + "\n")
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
    ]  # fmt: skip
    for split in ("train", "valid"):
        args += [
            f"--{split}_data_path_and_name_and_type",
            f"{data / split / 'units'},units,text_int",
        ]
        args += [f"--{split}_data_path_and_name_and_type", f"{data / split / 'label'},label,text"]
        args += [f"--{split}_shape_file", str(data / split / "units")]
    return args


def test_dry_run_with_unit_mbart(data, tmp_path):
    SpeechPromptTask.main(cmd=_args(data, tmp_path) + ["--dry_run", "true"])
    config = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert config["backbone"] == "unit_mbart" and config["prompt_conf"]["decoder_deep_length"] == 3


def test_build_model_and_one_epoch(data, tmp_path):
    args = SpeechPromptTask.get_parser().parse_args(_args(data, tmp_path))
    model = SpeechPromptTask.build_model(args)
    assert isinstance(model.prompted, PromptedEncoderDecoder)
    assert set(model.state_dict()) == {
        "prompted.encoder_prompts.input_prompt",
        "prompted.encoder_prompts.deep_prompt",
        "prompted.decoder_prompts.deep_prompt",
    }
    SpeechPromptTask.main(cmd=_args(data, tmp_path) + ["--max_epoch", "1"])
    assert (tmp_path / "1epoch.pth").exists()
