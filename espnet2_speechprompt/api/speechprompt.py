"""``SpeechPrompt``: a trained task ready for inference, from its training ``config.yaml`` and
model file or from a package (``SpeechPrompt.from_pretrained``).

Scoring (classification) ranks the candidate label sequences; ``greedy`` and ``beam`` decoding
generate a label sequence (at most ``max_len_a * source_length + max_len_b`` labels, finished
beams ranked by ``logprob / length ** length_penalty``). A source longer than the backbone's
trained context is warned about once and cut to the training config's ``max_source_length``.
"""

from __future__ import annotations

import logging
import os
import zlib

import numpy as np
import torch

from ..errors import SpeechPromptError
from ..prompt.base import LENGTH_LIMITS
from ..speechlm.beam_search import Hypothesis
from ..speechlm.sampling import SamplingConfig
from ..vocab import PAD, Dictionary
from .builder import apply_backbone_precision
from .config import DECODINGS, is_icl_config, load_config, read_options
from .extraction import SpeechUnits, extractor_conf
from .icl import InContextSpeechPrompt
from .packing import CONFIG_KEY, build_trained, resolve_pretrained
from .preprocess import LabelEncoder, to_16k

logger = logging.getLogger(__name__)

Result = tuple[str, float, list[int]]  # label text, log-likelihood, label-space ids


def search_options(
    decoding: str, beam_size: int | None, nbest: int, **limits: float
) -> dict[str, float]:
    """The checked search settings of ``decoding`` (beam size 5 for beam search unless given;
    sampling draws ``nbest`` samples)."""
    if decoding not in DECODINGS:
        raise SpeechPromptError(f"decoding {decoding!r}: use one of {DECODINGS}")
    if decoding == "sample":
        if nbest < 1:
            raise SpeechPromptError(f"nbest (samples per input) must be at least 1, not {nbest}")
        return {k: v for k, v in limits.items() if k in LENGTH_LIMITS}
    if beam_size is None:
        beam_size = 5 if decoding == "beam" else 1
    limit = beam_size if decoding != "score" else float("inf")
    if beam_size < 1 or not 1 <= nbest <= limit:
        raise SpeechPromptError(
            f"need beam_size >= 1 and 1 <= nbest <= beam_size (got {beam_size}, {nbest})"
        )
    return dict(beam_size=beam_size, **limits)


def row_seeds(source: torch.Tensor, lengths: torch.Tensor, seed: int) -> list[int]:
    """A sampling seed per row from ``seed`` and the row's content, so that an utterance draws
    the same samples in any batch."""
    rows = [source[r, :n].cpu().numpy().tobytes() for r, n in enumerate(lengths.tolist())]
    return [(zlib.crc32(row) + 1_000_003 * seed) % 2**63 for row in rows]


def candidate_table(labels: LabelEncoder, candidates: list[str]) -> torch.Tensor:
    """The label-space ids of each candidate label sequence, right-padded ``[K, longest]``."""
    rows = [labels.encode(c, "candidate_list") for c in candidates]
    table = torch.full((len(rows), max(len(r) for r in rows)), PAD, dtype=torch.long)
    for i, row in enumerate(rows):
        table[i, : len(row)] = torch.from_numpy(row)
    return table


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
        backbone_precision: str | None = None,
        shared_backbone: tuple[torch.nn.Module, Dictionary] | None = None,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        seed: int = 0,
    ):
        """Package files (``meta.yaml`` keys): ``speechprompt_backbone`` (sha256 of each file the
        prompts depend on, checked when the file is used), ``speechprompt_kmeans``;
        ``backbone_conf``, ``unit_extractor_conf`` and ``kmeans`` override the config's;
        ``backbone_precision`` (default: the config's) is the frozen backbone's precision.
        ``shared_backbone``: the backbone and dictionary, already loaded and checked by the
        caller, to put the prompts on (several tasks on one backbone). ``decoding: sample``
        draws ``nbest`` samples (``temperature``, ``top_k``, ``top_p``; per utterance seeded
        from ``seed`` and its content), ranked by length-normalised log-likelihood."""
        config, model_file = speechprompt_train_config, speechprompt_model_file
        options = read_options(config, model_file, backbone_conf)
        record = None if shared_backbone else speechprompt_backbone
        built, _ = build_trained(options, config, model_file, record, shared_backbone)
        self.backbone_record = speechprompt_backbone
        self.unit_extractor_conf = extractor_conf(
            options.unit_extractor_conf, speechprompt_kmeans, unit_extractor_conf, kmeans
        )
        self.speech_units = SpeechUnits(self.unit_extractor_conf, speechprompt_backbone, device)
        self.prompted = built.prompted.to(device).eval()
        requested = backbone_precision or options.backbone_precision
        self.backbone_dtype = apply_backbone_precision(self.prompted, requested, device)
        self.train_args, self.device = options, device
        self.input = built.input  # "units" or "speech" (resolved by build_speechprompt)
        self.preprocess = built.preprocessor
        self.labels = built.preprocessor.labels
        self._long_input_warned = False
        self.decoding, self.nbest, self.seed = decoding or options.decoding, nbest, seed
        self.search_options = search_options(
            self.decoding, beam_size, nbest, max_len_a=max_len_a, max_len_b=max_len_b,
            length_penalty=length_penalty,
        )  # fmt: skip
        self.sampling = None
        if self.decoding == "sample":
            self.sampling = SamplingConfig(temperature, top_k, top_p, num_samples=nbest)
        self.candidates = None
        if self.decoding == "score":
            candidates = options.candidate_list or options.label_list
            self.candidates = candidate_table(self.labels, candidates).to(device)

    @torch.no_grad()
    def predict_nbest(self, units: torch.Tensor, lengths: torch.Tensor) -> list[list[Result]]:
        """Batched: up to ``nbest`` (label text, log-likelihood, label-space ids), best first,
        per row of mapped units (or of 16 kHz audio, for speech input)."""
        units, lengths = self.fit_context(units.to(self.device), lengths.to(self.device))
        if self.decoding == "score":
            _, scores = self.prompted.classify(units, lengths, self.candidates)
            return [self.scored(row) for row in scores]
        return [self.decoded(hyps) for hyps in self.generate(self.prompted, units, lengths)]

    def generate(
        self, model, source: torch.Tensor, lengths: torch.Tensor, start=None, limits=None
    ) -> list:
        """Hypotheses (search) or samples of each row as this task decodes them, by ``model``:
        this task's prompted model, or a mixed-task view whose rows all decode alike but for
        their length limits (``limits``: per-row ``max_len_a``/``max_len_b`` tensors;
        ``start``: as in ``PromptedModel.search``)."""
        options = {**self.search_options, **(limits or {})}
        if self.decoding == "sample":
            seeds = row_seeds(source, lengths, self.seed)
            return model.sample(source, lengths, seeds, self.sampling, start=start, **options)
        return model.search(source, lengths, start=start, **options)

    def scored(self, scores: torch.Tensor) -> list[Result]:
        """The ``nbest`` best candidates of one source by their scores ``[K]``."""
        top, order = scores.topk(min(self.nbest, len(scores)))
        candidates = [[int(t) for t in self.candidates[k] if t != PAD] for k in order.tolist()]
        return [self._result(ids, v) for ids, v in zip(candidates, top.tolist(), strict=True)]

    def decoded(self, hypotheses: list[Hypothesis]) -> list[Result]:
        """The ``nbest`` best hypotheses (or samples) of one source, best score first."""
        ranked = sorted(hypotheses, key=lambda h: -h.score)
        return [self._result(h.tokens, h.logprob) for h in ranked[: self.nbest]]

    def fit_context(
        self, source: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sources cut to ``max_source_length`` of the training config (by default the
        backbone's trained context); one warning per run for a source past the trained context
        (next to the longest candidate, for a decoder-only backbone) or cut."""
        room = 0 if self.candidates is None else self.candidates.shape[1]
        limit = self.train_args.max_source_length
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
        source = self.source_of(units, speech, sample_rate, utt)
        return self.predict(source[None], torch.tensor([len(source)]))[0]

    def source_of(
        self,
        units: list[int] | np.ndarray | None = None,
        speech: np.ndarray | torch.Tensor | None = None,
        sample_rate: int = 16000,
        utt: str = "input",
    ) -> torch.Tensor:
        """One utterance as the backbone reads it: mapped units, or 16 kHz audio."""
        if self.input == "speech":
            if speech is None:
                raise SpeechPromptError(
                    f"{utt}: the {self.train_args.backbone} backbone reads speech: pass "
                    "speech=<waveform> and sample_rate=<its rate>, not units"
                )
            min_samples = getattr(self.prompted.backbone.encoder, "min_samples", 1)
            return to_16k(speech, sample_rate, utt, min_samples)
        if speech is not None:
            units = self.speech_units(speech, sample_rate, utt)
        if units is None:
            raise SpeechPromptError(f"{utt}: give units or speech")
        return torch.from_numpy(self.preprocess(utt, {"units": np.asarray(units)})["units"])

    @property
    def unit_extractor(self):
        """The configured ``UnitExtractor`` (``unit_extractor_conf`` of the training config, the
        package's k-means file, the overrides), its files checked against the package's."""
        return self.speech_units.extractor

    @staticmethod
    def from_pretrained(
        model_tag: str, cache_dir: str | os.PathLike | None = None, **kwargs
    ) -> SpeechPrompt | InContextSpeechPrompt:
        """A packed task: a packed .zip/.tgz (unpacked once into ``cache_dir``, by default
        ``$SPEECHPROMPT_CACHE_DIR`` or ``~/.cache/espnet2_speechprompt/packages``), its
        unpacked directory, or a Hugging Face Hub tag. A package of in-context learning
        (its config has ``episode_conf``) gives an ``InContextSpeechPrompt``."""
        arguments = {**resolve_pretrained(model_tag, cache_dir), **kwargs}
        if is_icl_config(load_config(arguments[CONFIG_KEY])):
            return InContextSpeechPrompt(**arguments)
        return SpeechPrompt(**arguments)
