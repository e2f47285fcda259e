"""The ESPnet2 model: a prompted model (``api.build_speechprompt``) whose state is only its
trainable part, under the keys of model files (``api.builder.STATE_PREFIX``: ``prompted.``).

``state_dict()`` leaves out the frozen backbone, so every file ESPnet's Trainer writes (epoch
files, ``checkpoint.pth``, best and averaged models) holds prompts, separator and verbalizer —
a few KB to a few hundred KB instead of the whole LM — and ``load_state_dict`` accepts exactly
that (resume, averaging and ``build_model_from_file`` keep working).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping

import torch
from espnet2.torch_utils.device_funcs import force_gatherable
from espnet2.train.abs_espnet_model import AbsESPnetModel

from ..api.builder import STATE_PREFIX, Prompted
from ..api.inputs import SpeechPromptDataError, missing_input

BACKBONE = STATE_PREFIX + "backbone."


def out_of_memory(exc: RuntimeError) -> bool:
    """torch's allocator failures: ``OutOfMemoryError`` on GPUs, a plain RuntimeError on CPU."""
    return isinstance(exc, torch.OutOfMemoryError) or "can't allocate memory" in str(exc)


class TrainableStateModel(AbsESPnetModel):
    """An ESPnet model around a prompted model (``self.prompted``) whose state is only the
    prompted model's trainable part (backbone keys are left out and ignored)."""

    prompted: torch.nn.Module
    backbone_dtype: torch.dtype | None = None

    def keep_backbone_dtype(self, dtype: torch.dtype) -> None:
        """Hold the frozen backbone in ``dtype`` from now on, also through the casts of the
        whole model (ESPnet's task runner casts the built model to ``--train_dtype``)."""
        self.backbone_dtype = dtype
        self.prompted.set_backbone_dtype(dtype)

    def _apply(self, fn, recurse: bool = True):
        super()._apply(fn, recurse)
        if self.backbone_dtype is not None:
            self.prompted.set_backbone_dtype(self.backbone_dtype)
        return self

    def train(self, mode: bool = True) -> TrainableStateModel:
        super().train(mode)
        self.prompted.train(mode)  # keeps the backbone in eval mode
        return self

    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        full = super().state_dict(*args, destination=None, prefix=prefix, keep_vars=keep_vars)
        state = OrderedDict((k, v) for k, v in full.items() if not k.startswith(prefix + BACKBONE))
        if destination is not None:
            destination.update(state)
            return destination
        return state

    def load_state_dict(
        self, state_dict: Mapping[str, torch.Tensor], strict: bool = True, assign: bool = False
    ):
        """Load the trainable state; backbone keys, if a full state dict is given, are ignored."""
        trainable = {k: v for k, v in state_dict.items() if not k.startswith(BACKBONE)}
        expected = set(self.state_dict())
        if strict:
            missing, unexpected = expected - set(trainable), set(trainable) - expected
            if missing or unexpected:
                raise RuntimeError(
                    f"prompt state mismatch: missing {sorted(missing)[:3]}, "
                    f"unexpected {sorted(unexpected)[:3]} — was it trained with another "
                    "prompt/verbalizer configuration?"
                )
        return super().load_state_dict(trainable, strict=False, assign=assign)


class ESPnetSpeechPromptModel(TrainableStateModel):
    """``input``: the data name the backbone reads, ``units`` or ``speech`` (16 kHz audio)."""

    def __init__(
        self,
        prompted: Prompted,
        input: str = "units",
        backbone: str = "gslm",
        max_source_length: int | None = None,
    ):
        super().__init__()
        self.prompted, self.input, self.backbone_name = prompted, input, backbone
        self.max_source_length = max_source_length
        self._cut_logged = False

    def source(self, **batch: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The backbone's input and its lengths from a batch (``units`` or ``speech``)."""
        data, lengths = batch.get(self.input), batch.get(f"{self.input}_lengths")
        if data is None or lengths is None:
            raise SpeechPromptDataError(missing_input(self.input, self.backbone_name))
        return data, lengths

    def forward(
        self,
        label: torch.Tensor,
        label_lengths: torch.Tensor,
        units: torch.Tensor | None = None,
        units_lengths: torch.Tensor | None = None,
        speech: torch.Tensor | None = None,
        speech_lengths: torch.Tensor | None = None,
        **kwargs,
    ):
        """Loss on label tokens only; stats ``loss``, ``acc`` (token), ``acc_utt`` (sequence)."""
        source, lengths = self.source(
            units=units, units_lengths=units_lengths, speech=speech, speech_lengths=speech_lengths
        )
        fitted = self.prompted.fit_sources(source, lengths, label_lengths, self.max_source_length)
        unit = "samples" if self.input == "speech" else "units"
        if fitted.cut is not None and not self._cut_logged:
            self._cut_logged = True
            logging.warning(
                f"a training source of {fitted.cut[0]} {unit} is cut to its first "
                f"{fitted.cut[1]} (--max_source_length {self.max_source_length}, by default the "
                "backbone's trained context; logged once)"
            )
        try:
            out = self.prompted(fitted.source, fitted.lengths, label, label_lengths)
        except RuntimeError as exc:
            if not out_of_memory(exc):
                raise
            raise SpeechPromptDataError(
                f"out of memory on a batch of {label.shape[0]} sources of up to "
                f"{int(fitted.lengths.max())} {unit}: lower --batch_size or "
                "--batch_bins, or cut long sources with --max_source_length"
            ) from None
        stats = {k: out[k].detach() for k in ("loss", "acc", "acc_utt")}
        loss, stats, weight = force_gatherable((out["loss"], stats, label.shape[0]), label.device)
        return loss, stats, weight

    def collect_feats(
        self,
        units: torch.Tensor | None = None,
        units_lengths: torch.Tensor | None = None,
        speech: torch.Tensor | None = None,
        speech_lengths: torch.Tensor | None = None,
        **kwargs,
    ) -> dict[str, torch.Tensor]:
        return {}
