"""Run a trained SpeechPrompt task (ESPnet2 inference pattern).

    python -m espnet2_speechprompt.bin.speechprompt_inference --output_dir exp/decode \
        --speechprompt_train_config exp/sp/config.yaml \
        --speechprompt_model_file exp/sp/valid.acc.best.pth \
        --data_path_and_name_and_type dump/test/units,units,text_int --batch_size 16

writes ``text`` (labels), ``score`` (log-likelihood) and ``token`` (label-space ids). With
``decoding: greedy`` in the training config the label sequence is generated (at most
``--max_length`` tokens, then ``</s>`` is forced): characters for ASR and slot filling, target
units for speech generation (``text`` is then a units file for ``units_to_wav``).
"""

from __future__ import annotations

import argparse
import logging
import os

import numpy as np
import torch
import yaml

from ..checkpoints.dictionary import PAD
from ..errors import SpeechPromptError
from .cli_errors import exit_on_user_error


def load_trainable_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Prompt-only weights from ``*.safetensors`` or an ESPnet ``*.pth`` (tensors only)."""
    path = os.fspath(path)
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("model", state) if "model" in state else state


class SpeechPrompt:
    """A trained task ready for inference: ``SpeechPrompt(config, model_file)(units)``."""

    def __init__(
        self,
        speechprompt_train_config: str | os.PathLike,
        speechprompt_model_file: str | os.PathLike | None = None,
        device: str = "cpu",
        max_length: int = 200,
        backbone_conf: dict | None = None,
        backbone_meta: str | os.PathLike | None = None,
    ):
        from ..tasks.packing import verify_backbone
        from ..tasks.speechprompt import LabelEncoder, SpeechPromptTask, backbone_choices

        with open(speechprompt_train_config, encoding="utf-8") as f:
            args = argparse.Namespace(**yaml.safe_load(f))
        if backbone_conf:
            args.backbone_conf = {**args.backbone_conf, **backbone_conf}
        backbone = backbone_choices.get_class(args.backbone)(**args.backbone_conf)
        if backbone_meta is not None:
            verify_backbone(backbone_meta, backbone.files())
        model = SpeechPromptTask.build_model(args)
        if speechprompt_model_file is not None:
            model.load_state_dict(load_trainable_state(speechprompt_model_file), strict=True)
        self.model = model.to(device).eval()
        self.prompted = self.model.prompted
        self.train_args, self.device, self.max_length = args, device, max_length
        self._unit_extractor = None
        self.labels = LabelEncoder(args.label_list)
        self.preprocess = SpeechPromptTask.build_preprocess_fn(args, False)
        self.backbone_files = backbone.files()
        self.decoding = getattr(args, "decoding", "score")
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
    def predict(
        self, units: torch.Tensor, lengths: torch.Tensor
    ) -> list[tuple[str, float, list[int]]]:
        """Batched: (label text, log-likelihood, label-space ids) per row of mapped units."""
        units, lengths = units.to(self.device), lengths.to(self.device)
        if self.decoding == "score":
            best, scores = self.prompted.classify(units, lengths, self.candidates)
            out = []
            for b, row in zip(best.tolist(), scores, strict=True):
                ids = [int(t) for t in self.candidates[b] if t != PAD]
                out.append((" ".join(self.labels.decode(ids)), float(row[b]), ids))
            return out
        hyps, scores = self.prompted.generate(units, lengths, self.max_length)
        return [
            (" ".join(self.labels.decode(h)), float(s), h)
            for h, s in zip(hyps, scores, strict=True)
        ]

    def __call__(
        self,
        units: list[int] | np.ndarray | None = None,
        speech: np.ndarray | torch.Tensor | None = None,
        sample_rate: int = 16000,
        utt: str = "input",
    ) -> tuple[str, float, list[int]]:
        """One utterance: its k-means units (as in the ``units`` files) or its waveform."""
        if speech is not None:
            units = self.unit_extractor(speech, sample_rate, utt)
        if units is None:
            raise SpeechPromptError("give units or speech")
        tokens = torch.from_numpy(self.preprocess(utt, {"units": np.asarray(units)})["units"])
        return self.predict(tokens[None], torch.tensor([len(tokens)]))[0]

    @property
    def unit_extractor(self):
        """The configured ``UnitExtractor`` (``unit_extractor_conf`` of the training config)."""
        if self._unit_extractor is None:
            from ..units.extractor import UnitExtractor

            conf = getattr(self.train_args, "unit_extractor_conf", None)
            if not conf:
                raise SpeechPromptError(
                    "this task has no unit_extractor_conf: pass units, or train with "
                    "--unit_extractor_conf kmeans=...,feature=..."
                )
            self._unit_extractor = UnitExtractor(**conf, device=self.device)
        return self._unit_extractor

    @staticmethod
    def from_pretrained(model_tag: str, **kwargs) -> SpeechPrompt:
        """A packed task: a local directory, a packed zip, or a Hugging Face Hub tag."""
        from ..tasks.packing import resolve_pretrained

        return SpeechPrompt(**{**resolve_pretrained(model_tag), **kwargs})


def inference(
    output_dir: str,
    data_path_and_name_and_type: list[tuple[str, str, str]],
    speechprompt_train_config: str,
    speechprompt_model_file: str | None,
    batch_size: int = 16,
    device: str = "cpu",
    max_length: int = 200,
    key_file: str | None = None,
    num_workers: int = 0,
) -> None:
    from espnet2.fileio.datadir_writer import DatadirWriter

    from ..tasks.speechprompt import SpeechPromptTask

    runner = SpeechPrompt(speechprompt_train_config, speechprompt_model_file, device, max_length)
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
    with DatadirWriter(output_dir) as writer:
        for keys, batch in loader:
            results = runner.predict(batch["units"], batch["units_lengths"])
            for key, (text, score, ids) in zip(keys, results, strict=True):
                writer["text"][key] = text
                writer["score"][key] = f"{score:.4f}"
                writer["token"][key] = " ".join(map(str, ids))
            count += len(keys)
    logging.info(f"decoded {count} utterances into {output_dir}")


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
    parser.add_argument("--max_length", type=int, default=200)
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
