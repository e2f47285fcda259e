"""Sequence targets through SpeechPromptTask: greedy generation of multi-token character
labels (learnable verbalizer, fed-back label tokens, batched), scoring, and class balancing.

Equivalences (batched == one at a time, beam 1 == greedy) run on fixed random weights; the
learning test compares the trained model with the untrained one, with a wide margin."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

pytest.importorskip("espnet2", reason="espnet (the task layer's dependency) is not installed")

from espnet2_speechprompt.api.preprocess import balanced_weights  # noqa: E402
from espnet2_speechprompt.bin import speechprompt_score  # noqa: E402
from espnet2_speechprompt.bin.speechprompt_inference import SpeechPrompt, inference  # noqa: E402
from espnet2_speechprompt.tasks.speechprompt import SpeechPromptTask  # noqa: E402
from espnet2_speechprompt.vocab import Dictionary  # noqa: E402
from test.factories.random_weights import RANDOM_STATE, dry_run_with_random_state  # noqa: E402
from test.factories.task_data import data_args, make_sequence_data  # noqa: E402
from test.factories.unit_lm import save_random_unit_lm  # noqa: E402

EPOCHS = 14


def task_args(data: Path, out: Path, shapes: Path | None = None, **extra: str) -> list[str]:
    args = [
        "--output_dir", str(out),
        "--backbone_conf", f"checkpoint={data / 'lm' / 'checkpoint_best.pt'}",
        "--label_list", str(data / "label_list"),
        "--verbalizer", "learnable", "--verbalizer_conf", "mode=random",
        "--prompt_conf", "{input_length: 4, deep_length: 4, dropout: 0.0}",
        "--optim_conf", "lr=0.05", "--decoding", "greedy",
        "--batch_type", "unsorted", "--batch_size", "16", "--num_workers", "0",
        "--use_tensorboard", "false", "--num_att_plot", "0", "--seed", "0",
        "--keep_nbest_models", "1",
    ] + data_args(data, shapes)  # fmt: skip
    for key, value in extra.items():
        args += [f"--{key}", value]
    return args


@pytest.fixture(scope="module")
def seq_data(tmp_path_factory) -> Path:
    return make_sequence_data(tmp_path_factory.mktemp("seq"))


@pytest.fixture(scope="module")
def seq_trained(seq_data, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("seqexp")
    (root / "candidates").write_text("Y E S | N O\nU P | U P\n")
    SpeechPromptTask.main(cmd=task_args(seq_data, root / "stats") + ["--collect_stats", "true"])
    cmd = task_args(seq_data, root / "exp", root / "stats", candidate_list=str(root / "candidates"))
    SpeechPromptTask.main(cmd=cmd + ["--max_epoch", str(EPOCHS)])
    return root / "exp"


@pytest.fixture(scope="module")
def seq_random(seq_data, tmp_path_factory) -> Path:
    """The task on fixed random weights: an untrained unit LM, random prompts and verbalizer;
    the backbone in float32, so batched == single holds to 1e-4."""
    root = tmp_path_factory.mktemp("seqrandom")
    lm = save_random_unit_lm(Dictionary.load(seq_data / "lm" / "dict.txt"), root / "lm")
    args = task_args(seq_data, root / "exp", backbone_conf=f"checkpoint={lm}")
    return dry_run_with_random_state(args + ["--backbone_precision", "float32"])


def decode_and_score(data: Path, exp: Path, out: Path, model: str | None) -> dict:
    inference(
        output_dir=str(out),
        data_path_and_name_and_type=[(str(data / "valid" / "units"), "units", "text_int")],
        speechprompt_train_config=str(exp / "config.yaml"),
        speechprompt_model_file=str(exp / model) if model else None,
        batch_size=8,
        max_len_b=20,
    )
    ref = speechprompt_score.read_table(data / "valid" / "label")
    hyp = speechprompt_score.read_table(out / "text")
    return speechprompt_score.score(ref, hyp, ["acc", "char_cer", "char_wer"])


def test_greedy_character_task_learns(seq_data, seq_trained, tmp_path):
    config = yaml.safe_load((seq_trained / "config.yaml").read_text())
    assert config["decoding"] == "greedy" and config["candidate_list"] is None
    trained = decode_and_score(seq_data, seq_trained, tmp_path / "t", "valid.acc.best.pth")
    untrained = decode_and_score(seq_data, seq_trained, tmp_path / "u", None)
    print(f"toy sequence task: trained {trained}, untrained {untrained}")
    # measured: CER 0.19-0.20 and accuracy 0.58-0.60 trained, 1.0 and 0.0 untrained
    assert trained["char_cer"] <= untrained["char_cer"] - 0.4, (trained, untrained)
    assert trained["acc"] >= untrained["acc"] + 0.25, (trained, untrained)
    assert len((tmp_path / "t" / "text").read_text().splitlines()) == 48


@pytest.mark.parametrize("decoding, beam_size", [("greedy", 1), ("beam", 3)])
def test_generation_batched_equals_one_at_a_time(seq_data, seq_random, decoding, beam_size):
    """Every hypothesis of the n-best list, rows padded in one batch or decoded alone; at most
    half as many labels as units, so rows of different lengths also end at different steps."""
    runner = SpeechPrompt(
        seq_random / "config.yaml", seq_random / RANDOM_STATE, max_len_a=0.5, max_len_b=0,
        decoding=decoding, beam_size=beam_size, nbest=beam_size,
    )  # fmt: skip
    rows = [
        [int(u) for u in line.split()[1:]]
        for line in (seq_data / "valid" / "units").read_text().splitlines()[:8]
    ]
    tokens = [torch.from_numpy(runner.preprocess("u", {"units": r})["units"]) for r in rows]
    lengths = torch.tensor([len(t) for t in tokens])
    batch = torch.nn.utils.rnn.pad_sequence(tokens, batch_first=True, padding_value=1)
    batched = runner.predict_nbest(batch, lengths)
    for row, hyps in zip(tokens, batched, strict=True):
        single = runner.predict_nbest(row[None], torch.tensor([len(row)]))[0]
        assert [(text, ids) for text, _, ids in single] == [(text, ids) for text, _, ids in hyps]
        assert [score for _, score, _ in single] == pytest.approx([s for _, s, _ in hyps], abs=1e-4)
    text, score, ids = runner(rows[0])  # the one-utterance entry point: the best hypothesis
    assert (text, ids) == (batched[0][0][0], batched[0][0][2])
    assert score == pytest.approx(batched[0][0][1], abs=1e-4)
    ends = [len(ids) for hyps in batched for _, _, ids in hyps]
    assert len(set(ends)) > 2 and max(ends) > 3  # hypotheses end at different steps


def test_unknown_label_is_one_line_naming_utterance_and_token(seq_data, tmp_path):
    labels = tmp_path / "label_list"
    labels.write_text("".join(f"{t}\n" for t in "DENOPSUY|"))  # no W: DOWN cannot be encoded
    cmd = task_args(seq_data, tmp_path / "x", label_list=str(labels))
    with pytest.raises(Exception, match=r"utterance \w+: label 'W' is not in the label list"):
        SpeechPromptTask.main(cmd=cmd + ["--collect_stats", "true"])


def test_balanced_weights_formula():
    assert balanced_weights([30, 10, 0]) == [pytest.approx(40 / 60), 2.0, 1.0]
    weights = balanced_weights([5, 15, 80])
    assert sum(w * c for w, c in zip(weights, [5, 15, 80], strict=True)) == pytest.approx(100)


def test_balanced_label_weighting_resolves_and_weights_the_loss(unit_task_data, tmp_path):
    data = unit_task_data
    cmd = task_args(data, tmp_path / "w", label_weighting="balanced", decoding="score")
    SpeechPromptTask.main(cmd=cmd + ["--dry_run", "true"])
    config = yaml.safe_load((tmp_path / "w" / "config.yaml").read_text())
    counts = {}
    for line in (data / "train" / "label").read_text().splitlines():
        counts[line.split()[1]] = counts.get(line.split()[1], 0) + 1
    expected = balanced_weights([counts.get(label, 0) for label in config["label_list"]])
    assert config["label_weights"] == pytest.approx(expected)
    # the weighted loss is the weighted mean of the per-token cross-entropies
    args = SpeechPromptTask.get_parser().parse_args(cmd)
    model = SpeechPromptTask.build_model(args).prompted.eval()
    units = torch.tensor([[5, 6, 7, 8], [9, 10, 11, 1]])
    lengths, labels = torch.tensor([4, 3]), torch.tensor([[4], [6]])
    weighted = model(units, lengths, labels, torch.tensor([1, 1]))["loss"]
    model.label_weights = None
    block_logits = model(units, lengths, labels, torch.tensor([1, 1]))
    assert not torch.isclose(weighted, block_logits["loss"])
    assert "label_weights" not in model.state_dict()


def test_gslm_beam_inference(seq_data, seq_random, tmp_path):
    """``--decoding beam`` with GSLM: beam 1 == greedy; n-best files; the best hypothesis (by
    log-likelihood / (length + 1)) ranks first."""
    greedy_dir, beam1_dir, beam_dir = tmp_path / "g", tmp_path / "b1", tmp_path / "b3"
    common = dict(
        data_path_and_name_and_type=[(str(seq_data / "valid" / "units"), "units", "text_int")],
        speechprompt_train_config=str(seq_random / "config.yaml"),
        speechprompt_model_file=str(seq_random / RANDOM_STATE),
        batch_size=8,
        key_file=None,
        max_len_b=10,
    )
    inference(output_dir=str(greedy_dir), **common)
    inference(output_dir=str(beam1_dir), decoding="beam", beam_size=1, **common)
    inference(output_dir=str(beam_dir), decoding="beam", beam_size=3, nbest=2, **common)
    for name in ("text", "score", "token"):
        assert (beam1_dir / name).read_text() == (greedy_dir / name).read_text()
        assert (beam_dir / "1best_recog" / name).read_text() == (beam_dir / name).read_text()
    assert len((beam_dir / "2best_recog" / "text").read_text().splitlines()) == 48
    first, second = (_normalized_scores(beam_dir / f"{n}best_recog") for n in (1, 2))
    assert all(first[utt] >= second[utt] - 1e-5 for utt in first)
    assert (beam_dir / "text").read_text() != (greedy_dir / "text").read_text()  # beams differ


def _normalized_scores(decode: Path) -> dict[str, float]:
    """Per utterance: log-likelihood / (labels + 1), the beam's ranking at length penalty 1."""
    scores = speechprompt_score.read_table(decode / "score")
    tokens = speechprompt_score.read_table(decode / "token")
    return {u: float(s) / (len(tokens[u].split()) + 1) for u, s in scores.items()}
