"""Run a trained SpeechPrompt task (ESPnet2 inference pattern).

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
``units_to_wav``). ``--decoding`` overrides the training config's. Speech-input tasks (Wav2Seq)
read audio, resampled to 16 kHz where a file has another rate:
``--data_path_and_name_and_type dump/raw/test/wav.scp,speech,sound``. The data files are checked
first (one line naming the file and line for a bad one); a source longer than the backbone's
trained context is warned about once and cut to the training config's ``max_source_length``.

The output directory is written as a whole (its files appear together when the run succeeds;
a failed run leaves an earlier decode there as it was) and is locked while a run uses it: a
second run into it refuses at once.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
from pathlib import Path

import numpy as np
import torch

from ..errors import SpeechPromptError
from ..fileio import atomic_directory, directory_lock
from ..vocab import PAD
from .cli_errors import exit_on_user_error

logger = logging.getLogger(__name__)

DECODINGS = ("score", "greedy", "beam")
SAMPLE_RATE = 16000
Result = tuple[str, float, list[int]]  # label text, log-likelihood, label-space ids


def _read_config(
    config: str | os.PathLike, model_file: str | os.PathLike | None, backbone_conf: dict | None
) -> argparse.Namespace:
    """The training options (checked: ``tasks.config_checks``), ``backbone_conf`` applied; a
    missing model file is one error before anything is loaded."""
    from ..tasks.config_checks import read_train_config

    args = read_train_config(config)
    if model_file is not None and not os.path.isfile(model_file):
        raise SpeechPromptError(f"{model_file}: no such model file")
    if backbone_conf:
        args.backbone_conf = {**(args.backbone_conf or {}), **backbone_conf}
    return args


class SpeechPrompt:
    """A trained task ready for inference: ``SpeechPrompt(config, model_file)(units)``."""

    def __init__(
        self,
        speechprompt_train_config: str | os.PathLike,
        speechprompt_model_file: str | os.PathLike | None = None,
        device: str = "cpu",
        max_len_b: int = 200,
        backbone_conf: dict | None = None,
        speechprompt_backbone: str | os.PathLike | None = None,
        decoding: str | None = None,
        beam_size: int | None = None,
        max_len_a: float = 0.0,
        length_penalty: float = 1.0,
        nbest: int = 1,
        speechprompt_kmeans: str | os.PathLike | None = None,
        kmeans: str | os.PathLike | None = None,
        unit_extractor_conf: dict | None = None,
    ):
        """Package files (``meta.yaml`` keys): ``speechprompt_backbone`` (sha256 of each file the
        prompts depend on, checked when the file is used), ``speechprompt_kmeans``;
        ``backbone_conf``, ``unit_extractor_conf`` and ``kmeans`` override the config's."""
        from ..tasks.packing import build_trained_model, extractor_conf
        from ..tasks.speechprompt import LabelEncoder, SpeechPromptTask, build_backbone

        args = _read_config(speechprompt_train_config, speechprompt_model_file, backbone_conf)
        model, _ = build_trained_model(
            args, speechprompt_train_config, speechprompt_model_file, speechprompt_backbone
        )
        self.backbone_record = speechprompt_backbone
        config_conf = getattr(args, "unit_extractor_conf", None)
        self.unit_extractor_conf = extractor_conf(
            config_conf, speechprompt_kmeans, unit_extractor_conf, kmeans
        )
        self.model = model.to(device).eval()
        self.prompted = self.model.prompted
        self.train_args, self.device = args, device
        self.input = self.model.input  # "units" or "speech" (resolved by build_model)
        self._unit_extractor = None
        self._long_input_warned = False
        self.labels = LabelEncoder(args.label_list)
        self.preprocess = SpeechPromptTask.build_preprocess_fn(args, False)
        self.backbone_files = build_backbone(args).files()
        self.decoding = decoding or getattr(args, "decoding", "score")
        if self.decoding not in DECODINGS:
            raise SpeechPromptError(f"decoding {self.decoding!r}: use one of {DECODINGS}")
        if beam_size is None:
            beam_size = 5 if self.decoding == "beam" else 1
        limit = beam_size if self.decoding != "score" else float("inf")
        if beam_size < 1 or not 1 <= nbest <= limit:
            raise SpeechPromptError(
                f"need beam_size >= 1 and 1 <= nbest <= beam_size (got {beam_size}, {nbest})"
            )
        self.search_options = dict(
            beam_size=beam_size,
            max_len_a=max_len_a,
            max_len_b=max_len_b,
            length_penalty=length_penalty,
        )
        self.nbest = nbest
        self.candidates = None
        if self.decoding == "score":
            candidates = args.candidate_list or args.label_list
            rows = [self.labels.encode(c, "candidate_list") for c in candidates]
            width = max(len(r) for r in rows)
            self.candidates = torch.full((len(rows), width), PAD, dtype=torch.long)
            for i, r in enumerate(rows):
                self.candidates[i, : len(r)] = torch.from_numpy(r)
            self.candidates = self.candidates.to(device)

    @torch.no_grad()
    def predict_nbest(self, units: torch.Tensor, lengths: torch.Tensor) -> list[list[Result]]:
        """Batched: up to ``nbest`` (label text, log-likelihood, label-space ids), best first,
        per row of mapped units (or of 16 kHz audio, for speech input)."""
        units, lengths = self._fit_context(units.to(self.device), lengths.to(self.device))
        if self.decoding == "score":
            _, scores = self.prompted.classify(units, lengths, self.candidates)
            top, order = scores.topk(min(self.nbest, scores.shape[1]), dim=1)
            out = []
            for values, rows in zip(top.tolist(), order.tolist(), strict=True):
                cands = [[int(t) for t in self.candidates[b] if t != PAD] for b in rows]
                out.append([self._result(ids, v) for ids, v in zip(cands, values, strict=True)])
            return out
        nbest = self.prompted.search(units, lengths, **self.search_options)
        return [[self._result(h.tokens, h.logprob) for h in hyps[: self.nbest]] for hyps in nbest]

    def _fit_context(
        self, source: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sources cut to ``max_source_length`` of the training config (by default the
        backbone's trained context); one warning per run for a source past the trained context
        (next to the longest candidate, for a decoder-only backbone) or cut."""
        room = 0 if self.candidates is None else self.candidates.shape[1]
        limit = getattr(self.train_args, "max_source_length", None)
        fitted = self.prompted.fit_sources(source, lengths, torch.full_like(lengths, room), limit)
        if (fitted.beyond or fitted.cut) and not self._long_input_warned:
            self._long_input_warned = True
            unit = "samples" if self.input == "speech" else "units"
            if fitted.beyond:
                length, context = fitted.beyond
                message = (
                    f"a source of {length} {unit} is longer than the {self.train_args.backbone} "
                    f"backbone's trained context ({context} {unit}); results may degrade"
                )
            else:
                message = f"a source of {fitted.cut[0]} {unit} is longer than max_source_length"
            if fitted.cut:
                message += f"; sources are cut to their first {fitted.cut[1]} {unit}"
            logger.warning(message + " (max_source_length of the training config; warned once)")
        return fitted.source, fitted.lengths

    def predict(self, units: torch.Tensor, lengths: torch.Tensor) -> list[Result]:
        """Batched: (label text, log-likelihood, label-space ids) per row of mapped units."""
        return [hyps[0] for hyps in self.predict_nbest(units, lengths)]

    def _result(self, ids: list[int], score: float) -> Result:
        return " ".join(self.labels.decode(ids)), float(score), ids

    def __call__(
        self,
        units: list[int] | np.ndarray | None = None,
        speech: np.ndarray | torch.Tensor | None = None,
        sample_rate: int = 16000,
        utt: str = "input",
    ) -> Result:
        """One utterance: its k-means units (as in the ``units`` files) or its waveform at
        ``sample_rate`` (resampled to 16 kHz and mixed to mono for speech-input backbones, once
        logged per rate; else through the unit extractor)."""
        if self.input == "speech":
            return self._predict_speech(speech, sample_rate, utt)
        if speech is not None:
            units = self.unit_extractor(speech, sample_rate, utt)
        if units is None:
            raise SpeechPromptError("give units or speech")
        tokens = torch.from_numpy(self.preprocess(utt, {"units": np.asarray(units)})["units"])
        return self.predict(tokens[None], torch.tensor([len(tokens)]))[0]

    def _predict_speech(self, speech, sample_rate: int, utt: str) -> Result:
        if speech is None:
            raise SpeechPromptError(
                f"the {self.train_args.backbone} backbone reads speech: pass speech=<waveform> "
                "and sample_rate=<its rate>, not units"
            )
        from ..tasks.speech_audio import NOTES
        from ..units.audio import prepare_audio

        min_samples = getattr(self.prompted.backbone.encoder, "min_samples", 1)
        wav = prepare_audio(speech, sample_rate, utt, min_samples=min_samples, notes=NOTES)
        return self.predict(wav[None], torch.tensor([len(wav)]))[0]

    @property
    def unit_extractor(self):
        """The configured ``UnitExtractor`` (``unit_extractor_conf`` of the training config, the
        package's k-means file, the overrides), its files checked against the package's."""
        if self._unit_extractor is None:
            from ..tasks.packing import verify_backbone
            from ..units.extractor import UnitExtractor

            if not self.unit_extractor_conf:
                raise SpeechPromptError(
                    "this task has no unit_extractor_conf: pass units, or train with "
                    "--unit_extractor_conf kmeans=...,feature=..."
                )
            if self.backbone_record is not None:
                conf = self.unit_extractor_conf
                files = {"kmeans": conf.get("kmeans"), "feature_checkpoint": conf.get("checkpoint")}
                verify_backbone(self.backbone_record, {k: v for k, v in files.items() if v})
            self._unit_extractor = UnitExtractor(**self.unit_extractor_conf, device=self.device)
        return self._unit_extractor

    @staticmethod
    def from_pretrained(
        model_tag: str, cache_dir: str | os.PathLike | None = None, **kwargs
    ) -> SpeechPrompt:
        """A packed task: a packed .zip/.tgz (unpacked once into ``cache_dir``, by default
        ``$SPEECHPROMPT_CACHE_DIR`` or ``~/.cache/espnet2_speechprompt/packages``), its
        unpacked directory, or a Hugging Face Hub tag."""
        from ..tasks.packing import resolve_pretrained

        return SpeechPrompt(**{**resolve_pretrained(model_tag, cache_dir), **kwargs})


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
) -> None:
    from espnet2.fileio.datadir_writer import DatadirWriter

    from ..tasks.data_checks import check_inference_data
    from ..tasks.inputs import missing_input
    from ..tasks.speechprompt import SpeechPromptTask

    check_inference_data(data_path_and_name_and_type, key_file)
    runner = SpeechPrompt(
        speechprompt_train_config,
        speechprompt_model_file,
        device,
        max_len_b,
        decoding=decoding,
        beam_size=beam_size,
        max_len_a=max_len_a,
        length_penalty=length_penalty,
        nbest=nbest,
    )
    loader = SpeechPromptTask.build_streaming_iterator(
        data_path_and_name_and_type,
        preprocess_fn=runner.preprocess,
        collate_fn=SpeechPromptTask.build_collate_fn(runner.train_args, False),
        key_file=key_file,
        batch_size=batch_size,
        dtype="float32",
        num_workers=num_workers,
        allow_variable_data_keys=True,
        inference=True,
    )
    count = 0
    with atomic_directory(output_dir) as tmp_dir, contextlib.ExitStack() as stack:
        writer = stack.enter_context(DatadirWriter(tmp_dir))
        nbest_writers = [  # separate writers: ranks past the first may miss some utterances
            stack.enter_context(DatadirWriter(tmp_dir / f"{n}best_recog"))
            for n in range(1, nbest + 1 if nbest > 1 else 1)
        ]
        for keys, batch in loader:
            source = runner.input
            if source not in batch:
                raise SpeechPromptError(
                    missing_input(source, runner.train_args.backbone, "data_path_and_name_and_type")
                )
            results = runner.predict_nbest(batch[source], batch[f"{source}_lengths"])
            for key, hyps in zip(keys, results, strict=True):
                _write(writer, key, *hyps[0])
                for rank_writer, hyp in zip(nbest_writers, hyps, strict=False):
                    _write(rank_writer, key, *hyp)
            count += len(keys)
    logging.info(f"decoded {count} utterances into {output_dir}")


def _write(writer, key: str, text: str, score: float, ids: list[int]) -> None:
    writer["text"][key] = text
    writer["score"][key] = f"{score:.4f}"
    writer["token"][key] = " ".join(map(str, ids))


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output_dir", required=True)
    parser.add_argument(
        "--data_path_and_name_and_type",
        type=lambda s: tuple(s.split(",")),
        action="append",
        required=True,
    )
    parser.add_argument("--speechprompt_train_config", required=True)
    parser.add_argument("--speechprompt_model_file", default=None)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
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
        "--nbest", type=int, default=1, help="> 1: also write {1..N}best_recog/{text,score,token}"
    )
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
