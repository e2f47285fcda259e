r"""Run a trained SpeechPrompt task (ESPnet2 inference pattern).

    python -m espnet2_speechprompt.bin.speechprompt_inference --output_dir exp/decode \
        --speechprompt_train_config exp/sp/config.yaml \
        --speechprompt_model_file exp/sp/valid.acc.best.pth \
        --data_path_and_name_and_type dump/test/units,units,text_int --batch_size 16

writes ``text`` (labels), ``score`` (log-likelihood) and ``token`` (label-space ids) of the best
hypothesis, and with ``--nbest N`` (N > 1) also ``{1..N}best_recog/{text,score,token}``. With
``decoding: greedy`` or ``beam`` in the training config the label sequence is generated
(``--beam_size``: 1 for greedy, 5 for beam unless given; at most
``max_len_a * source_length + max_len_b`` labels, then ``</s>`` is forced; ``--length_penalty``
ranks finished beams by ``logprob / length ** length_penalty``): characters for ASR and slot
filling, target units for speech generation (``text`` is then a units file for
``units_to_wav``). ``--decoding sample`` draws ``--nbest`` samples per utterance
(``--temperature``, ``--top_k``, ``--top_p``; seeded from ``--seed`` and the utterance's content,
so an utterance draws the same samples in any batch), the best-scoring one in ``text``.
``--decoding`` overrides the training config's. Speech-input tasks (Wav2Seq)
read audio, resampled to 16 kHz where a file has another rate:
``--data_path_and_name_and_type dump/raw/test/wav.scp,speech,sound``. The data files are checked
first (one line naming the file and line for a bad one); a source longer than the backbone's
trained context is warned about once and cut to the training config's ``max_source_length``.

The output directory is written as a whole (its files appear together when the run succeeds;
a failed run leaves an earlier decode there as it was) and is locked while a run uses it: a
second run into it refuses at once. ``SpeechPrompt`` (the library's, ``espnet2_speechprompt.api``)
is importable from here too.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
from pathlib import Path

from ..api import SpeechPrompt
from ..api.config import DECODINGS
from ..errors import SpeechPromptError
from ..fileio import atomic_directory, directory_lock
from ..precision import BACKBONE_PRECISIONS
from .cli_errors import exit_on_user_error

__all__ = ["SpeechPrompt", "inference", "main"]  # SpeechPrompt: the library's, re-exported


def _decode_output_dir(run):
    """``run(output_dir, ...)`` with ``output_dir`` locked from the start (a second run into it
    refuses at once) and written as a whole: its files appear together when the run succeeds,
    and a failed run leaves an earlier decode there as it was."""

    @functools.wraps(run)
    def locked(output_dir: str, *args, **kwargs):
        with directory_lock(output_dir, "inference output directory"):
            check_replaceable(output_dir)
            return run(output_dir, *args, **kwargs)

    return locked


# what an output directory may hold to be replaced by a new decode: an earlier decode (with the
# recipe's scores, logs and vocoded speech)
DECODE_FILES = {"text", "score", "token", "result.json", "log", "wav", "asr_bleu"}


def check_replaceable(output_dir: str | os.PathLike) -> None:
    """Refuse an output directory that holds anything but an earlier decode (it is replaced)."""
    path = Path(output_dir)
    if not path.is_dir():
        return
    others = sorted(
        entry.name
        for entry in path.iterdir()
        if entry.name not in DECODE_FILES
        and not entry.name.endswith("best_recog")
        and not entry.name.startswith(".")
    )
    if others:
        raise SpeechPromptError(
            f"--output_dir {output_dir} holds files that are not a decode's "
            f"({', '.join(others[:5])}): the decode replaces the whole directory; give a new "
            "or an earlier decode's directory"
        )


@_decode_output_dir
def inference(
    output_dir: str,
    data_path_and_name_and_type: list[tuple[str, str, str]],
    speechprompt_train_config: str,
    speechprompt_model_file: str | None,
    batch_size: int = 16,
    device: str = "cpu",
    max_len_b: int = 200,
    key_file: str | None = None,
    num_workers: int = 0,
    decoding: str | None = None,
    beam_size: int | None = None,
    max_len_a: float = 0.0,
    length_penalty: float = 1.0,
    nbest: int = 1,
    backbone_precision: str | None = None,
    packages: list[str] | None = None,
    task_map: str | None = None,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int = 0,
) -> None:
    from ..tasks.data_checks import check_inference_data
    from ..tasks.speechprompt import SpeechPromptTask

    check_inference_data(data_path_and_name_and_type, key_file)
    sampling = dict(temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
    limits = dict(max_len_a=max_len_a, max_len_b=max_len_b, length_penalty=length_penalty)
    if packages:
        if decoding is not None or beam_size is not None:
            raise SpeechPromptError("with --packages each task decodes as its package says")
        options = dict(nbest=nbest, **limits, **sampling)
        runner, predict = _multitask(packages, task_map, device, backbone_precision, **options)
        train_args, preprocess = runner.tasks[runner.names[0]].train_args, None
    else:
        if not speechprompt_train_config:
            raise SpeechPromptError("give --speechprompt_train_config, or --packages")
        SpeechPromptTask.read_train_config(speechprompt_train_config)  # every key a task option
        runner, predict = _single_task(
            speechprompt_train_config, speechprompt_model_file, device, decoding=decoding,
            beam_size=beam_size, nbest=nbest, backbone_precision=backbone_precision,
            **limits, **sampling,
        )  # fmt: skip
        train_args, preprocess = runner.train_args, runner.preprocess
    loader = SpeechPromptTask.build_streaming_iterator(
        data_path_and_name_and_type,
        preprocess_fn=preprocess or runner.tasks[runner.names[0]].preprocess,
        collate_fn=SpeechPromptTask.build_collate_fn(train_args, False),
        key_file=key_file,
        batch_size=batch_size,
        dtype="float32",
        num_workers=num_workers,
        allow_variable_data_keys=True,
        inference=True,
    )
    with atomic_directory(output_dir) as tmp_dir:
        count = _decode(loader, predict, tmp_dir, nbest, train_args)
    logging.info(f"decoded {count} utterances into {output_dir}")


def _single_task(*args, **kwargs):
    """A ``SpeechPrompt`` and ``predict(keys, source, lengths)`` over its batches."""
    runner = SpeechPrompt(*args, **kwargs)
    return runner, lambda keys, source, lengths: runner.predict_nbest(source, lengths)


def _multitask(
    packages: list[str], task_map: str | None, device: str, precision: str | None, **options
):
    """A ``MultiTaskSpeechPrompt`` of ``packages`` (``options`` for every task) and
    ``predict(keys, source, lengths)`` answering each utterance as the task ``task_map``
    gives it."""
    from ..api.multitask import MultiTaskSpeechPrompt
    from ..kaldi_text import read_entries

    if task_map is None:
        raise SpeechPromptError("--packages needs --task_map (lines '<utterance> <task name>')")
    runner = MultiTaskSpeechPrompt.from_pretrained(
        packages, device=device, backbone_precision=precision, **options
    )
    tasks = {}
    for entry in read_entries(task_map, "task map"):
        if entry.value not in runner.tasks:
            raise SpeechPromptError(
                f"{entry.where}: utterance {entry.key}: unknown task {entry.value!r} (the "
                f"packages are tasks {', '.join(runner.names)})"
            )
        tasks[entry.key] = entry.value

    def predict(keys, source, lengths):
        missing = [key for key in keys if key not in tasks]
        if missing:
            raise SpeechPromptError(f"{task_map}: no task for utterance {missing[0]}")
        return runner.predict_batch([tasks[key] for key in keys], source, lengths)

    return runner, predict


def _decode(loader, predict, folder: Path, nbest: int, train_args) -> int:
    """Write the ``nbest`` best hypotheses (``predict(keys, source, lengths)``) of every
    utterance of ``loader`` into ``folder``; returns the number of utterances."""
    from espnet2.fileio.datadir_writer import DatadirWriter

    from ..api.inputs import missing_input

    count = 0
    with contextlib.ExitStack() as stack:
        writer = stack.enter_context(DatadirWriter(folder))
        nbest_writers = [  # separate writers: ranks past the first may miss some utterances
            stack.enter_context(DatadirWriter(folder / f"{n}best_recog"))
            for n in range(1, nbest + 1 if nbest > 1 else 1)
        ]
        for keys, batch in loader:
            source = train_args.input
            if source not in batch:
                raise SpeechPromptError(
                    missing_input(source, train_args.backbone, "data_path_and_name_and_type")
                )
            results = predict(keys, batch[source], batch[f"{source}_lengths"])
            for key, hyps in zip(keys, results, strict=True):
                _write(writer, key, *hyps[0])
                for rank_writer, hyp in zip(nbest_writers, hyps, strict=False):
                    _write(rank_writer, key, *hyp)
            count += len(keys)
    return count


def _write(writer, key: str, text: str, score: float, ids: list[int]) -> None:
    writer["text"][key] = text
    writer["score"][key] = f"{score:.4f}"
    writer["token"][key] = " ".join(map(str, ids))


def add_decoding_arguments(parser: argparse.ArgumentParser) -> None:
    """--decoding, beam search and sampling settings, --nbest."""
    parser.add_argument(
        "--decoding",
        choices=DECODINGS,
        default=None,
        help="Override the training config's decoding",
    )
    parser.add_argument(
        "--beam_size",
        type=int,
        default=None,
        help="Generation: 1 = greedy (default for greedy), 5 for beam",
    )
    parser.add_argument("--max_len_a", type=float, default=0.0)
    parser.add_argument(
        "--max_len_b",
        "--max_length",
        dest="max_len_b",
        type=int,
        default=200,
        help="At most max_len_a * source_length + max_len_b generated labels",
    )
    parser.add_argument("--length_penalty", type=float, default=1.0)
    parser.add_argument(
        "--nbest",
        type=int,
        default=1,
        help="> 1: also write {1..N}best_recog/{text,score,token}; with --decoding sample, the "
        "samples drawn per utterance (ranked by length-normalised log-likelihood)",
    )
    group = parser.add_argument_group("sampling (--decoding sample)")
    group.add_argument("--temperature", type=float, default=1.0, help="0: greedy")
    group.add_argument("--top_k", type=int, default=0, help="draw among the k best (0: all)")
    group.add_argument("--top_p", type=float, default=1.0, help="nucleus mass (1: all)")
    group.add_argument(
        "--seed", type=int, default=0, help="with each utterance's content, seeds its samples"
    )


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output_dir", required=True)
    parser.add_argument(
        "--data_path_and_name_and_type",
        type=lambda s: tuple(s.split(",")),
        action="append",
        required=True,
    )
    parser.add_argument("--speechprompt_train_config", default=None)
    parser.add_argument("--speechprompt_model_file", default=None)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--backbone_precision",
        choices=BACKBONE_PRECISIONS,
        default=None,
        help="The frozen backbone's precision (default: the training config's, normally "
        "auto: bfloat16 where the hardware has fast bf16 matrix products)",
    )
    add_decoding_arguments(parser)
    parser.add_argument(
        "--packages",
        nargs="+",
        default=None,
        help="Several packed tasks on one backbone, answered in mixed batches (instead of "
        "--speechprompt_train_config); each utterance's task from --task_map",
    )
    parser.add_argument("--task_map", default=None, help="Lines '<utterance> <task name>'")
    parser.add_argument("--key_file", default=None)
    parser.add_argument("--num_workers", type=int, default=0)
    parser.add_argument("--log_level", default="INFO")
    return parser


def main(cmd: list[str] | None = None) -> None:
    args = vars(get_parser().parse_args(cmd))
    logging.basicConfig(level=args.pop("log_level"), format="%(asctime)s %(message)s")
    with exit_on_user_error():
        inference(**args)


if __name__ == "__main__":
    main()
