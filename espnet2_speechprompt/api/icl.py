"""``InContextSpeechPrompt``: a warmed-up unit LM that solves a task from a few labelled
demonstrations, with no training:

    icl = SpeechPrompt.from_pretrained("icl_package.zip")
    label, logprob, unconstrained = icl(demonstrations=[(units_or_wav, "yes"), ...], query=wav)

Each call draws a label mapping (demonstration labels -> distinct unit tokens) from ``seed``,
builds ``[prompt] x_1 <sep> y_1 ... x_n <sep> y_n x_q <sep>`` and scores the demonstration
labels' tokens; ``unconstrained`` is the demonstration label whose token the argmax over every
unit token hit (``None`` when it hit none: the model did not "guess" a demonstration label).
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence

import numpy as np
import torch

from ..errors import SpeechPromptError
from .builder import apply_backbone_precision, load_state
from .config import read_options
from .extraction import SpeechUnits, extractor_conf
from .icl_builder import (
    BuiltICL,
    EncodedEpisode,
    build_icl,
    encode_episode,
    icl_backbone,
    icl_option_values,
    read_icl_config,
)
from .packing import verify_backbone

Source = Sequence[int] | np.ndarray | torch.Tensor  # k-means units (ints) or a waveform (floats)
ICLResult = tuple[str, float, str | None]  # label, log-probability, unconstrained prediction

__all__ = ["BuiltICL", "ICLResult", "InContextSpeechPrompt", "build_icl"]


class InContextSpeechPrompt:
    """A warm-up run (``config.yaml`` + prompt weights) or a package of one, for inference."""

    def __init__(
        self,
        speechprompt_train_config: str | os.PathLike,
        speechprompt_model_file: str | os.PathLike | None = None,
        device: str = "cpu",
        speechprompt_backbone: str | os.PathLike | None = None,
        speechprompt_kmeans: str | os.PathLike | None = None,
        kmeans: str | os.PathLike | None = None,
        unit_extractor_conf: dict | None = None,
        backbone_conf: dict | None = None,
        backbone_precision: str | None = None,
    ):
        """Package files (``meta.yaml`` keys) and overrides as ``SpeechPrompt`` takes them:
        ``speechprompt_backbone`` (sha256 of each file the prompts depend on, checked when the
        file is used), ``speechprompt_kmeans``; ``backbone_conf``, ``unit_extractor_conf`` and
        ``kmeans`` override the config's; ``backbone_precision`` (default: the config's) is the
        frozen backbone's precision."""
        config, model_file = speechprompt_train_config, speechprompt_model_file
        options = read_options(config, model_file, backbone_conf, read=read_icl_config)
        if speechprompt_backbone is not None:
            backbone = icl_backbone(icl_option_values(options))
            verify_backbone(speechprompt_backbone, backbone.files())
        built = build_icl(options)
        if model_file is not None:
            load_state(built.prompted, model_file, config)
        self.prompted = built.prompted.to(device).eval()
        requested = backbone_precision or options.backbone_precision
        self.backbone_dtype = apply_backbone_precision(self.prompted, requested, device)
        self.episode = built.episode
        self.unit_encoder = built.unit_encoder
        self.label_tokens = built.label_tokens
        self.train_args, self.device = options, device
        self.unit_extractor_conf = extractor_conf(
            options.unit_extractor_conf, speechprompt_kmeans, unit_extractor_conf, kmeans
        )
        self.speech_units = SpeechUnits(self.unit_extractor_conf, speechprompt_backbone, device)

    def source_tokens(
        self, source: Source, what: str = "input", sample_rate: int = 16000
    ) -> np.ndarray:
        """Backbone tokens of k-means units (integers) or of a waveform at ``sample_rate``
        (floats; through the task's unit extractor)."""
        if isinstance(source, torch.Tensor):
            source = source.detach().cpu().numpy()
        array = np.asarray(source)
        if array.size == 0:
            raise SpeechPromptError(
                f"{what}: no units (an empty sequence): give its units or speech"
            )
        if array.dtype.kind == "f":
            array = np.asarray(self.speech_units(array, sample_rate, what), dtype=np.int64)
        elif array.dtype.kind not in "iu" or array.ndim != 1:
            raise SpeechPromptError(
                f"{what}: give k-means units (one sequence of integers) or a waveform (floats), "
                f"not an array of {array.dtype} with shape {array.shape}"
            )
        return self.unit_encoder.encode(array, what)

    def encode(
        self,
        demonstrations: Sequence[tuple[Source, str]],
        query: Source,
        seed: int = 0,
        sample_rate: int = 16000,
    ) -> EncodedEpisode:
        """The episode of ``demonstrations`` and ``query``, labels mapped as ``seed`` draws."""
        n = self.episode.num_demos
        if len(demonstrations) != n:
            raise SpeechPromptError(
                f"{len(demonstrations)} demonstrations given; this model was warmed up on "
                f"episodes of {n} (episode_conf.num_demos)"
            )
        demos = []
        for i, demo in enumerate(demonstrations, 1):
            if not isinstance(demo, tuple | list) or len(demo) != 2:
                raise SpeechPromptError(f"demonstration {i}: give a pair (units or speech, label)")
            source, label = demo
            if not str(label).strip():
                raise SpeechPromptError(f"demonstration {i} has an empty label")
            what = f"demonstration {i}"
            demos.append((self.source_tokens(source, what, sample_rate), str(label).strip()))
        query_tokens = self.source_tokens(query, "query", sample_rate)
        return encode_episode(
            demos, query_tokens, self.episode, self.label_tokens, random.Random(seed)
        )

    @torch.no_grad()
    def predict_encoded(self, episodes: Sequence[EncodedEpisode]) -> list[ICLResult]:
        """Batched: (label, log-probability, unconstrained prediction) per encoded episode."""
        tokens = torch.tensor([e.tokens for e in episodes], device=self.device)
        counts = torch.tensor([len(e.candidates) for e in episodes], device=self.device)
        width = int(counts.max())
        rows = [e.candidates + e.candidates[:1] * (width - len(e.candidates)) for e in episodes]
        candidates = torch.tensor(rows, device=self.device)
        _, scores, free = self.prompted.predict(tokens, candidates)
        padded = torch.arange(width, device=self.device)[None, :] >= counts[:, None]
        scores = scores.masked_fill(padded, float("-inf"))
        results = []
        for episode, row, best, hit in zip(
            episodes, scores.tolist(), scores.argmax(-1).tolist(), free.tolist(), strict=True
        ):
            guessed = episode.candidates.index(hit) if hit in episode.candidates else None
            unconstrained = None if guessed is None else episode.labels[guessed]
            results.append((episode.labels[best], float(row[best]), unconstrained))
        return results

    def __call__(
        self,
        demonstrations: Sequence[tuple[Source, str]],
        query: Source,
        seed: int = 0,
        sample_rate: int = 16000,
    ) -> ICLResult:
        """The query's label among the demonstrations' (units: integers; speech: floats at
        ``sample_rate``), its log-probability and the unconstrained prediction."""
        encoded = self.encode(demonstrations, query, seed, sample_rate)
        return self.predict_encoded([encoded])[0]
