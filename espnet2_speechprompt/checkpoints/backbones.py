"""Backbones selectable by name (``--backbone gslm|unit_mbart|wav2seq``): their files and how
to load them. ``load()`` gives ``(model, Dictionary)``; ``prompt.builders.build_prompted``
wraps either kind of model (decoder-only or encoder-decoder) with prompts and a verbalizer."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..errors import CheckpointError
from ..options import check_keys, keyword_names
from ..speechlm.encoder import EncoderDecoderModel
from ..speechlm.transformer_lm import TransformerDecoder
from ..vocab import Dictionary
from .encdec import load_unit_mbart, load_wav2seq, unit_mbart_dictionary
from .unit_lm import load_unit_lm

GSLM_DOWNLOAD = (
    "https://dl.fbaipublicfiles.com/textless_nlp/gslm/hubert/lm_km100/hubert100_lm.tgz "
    "(or the cpc/logmel/w2v2 x 50/100/200 variants); unpack it and pass "
    "--backbone_conf checkpoint=<dir>/checkpoint_best.pt"
)


UNIT_MBART_DOWNLOAD = (
    "https://dl.fbaipublicfiles.com/fairseq/speech_to_speech/s2st_finetuning/unit_mBART/"
    "checkpoint.pt and .../s2st_finetuning/dict.txt (mHuBERT L11 km1000 units); pass "
    "--backbone_conf checkpoint=<checkpoint.pt> dictionary=<dict.txt>"
)
WAV2SEQ_DOWNLOAD = (
    "https://public-dataset-model-store.awsdev.asapp.com/fwu/wav2seq/public/pt/"
    "wav2seq-hubert-base-25k.pt; its pseudo-language dict is not published: write numbered "
    "placeholders with python -m espnet2_speechprompt.bin.numbered_dict --checkpoint <.pt> "
    "(dict.txt beside it), or pass dictionary=<dict.<labels>.txt of its data dir>"
)


class GSLMBackbone:
    """A GSLM unit LM release: ``checkpoint_best.pt`` + ``dict.txt`` (beside it by default)."""

    download = GSLM_DOWNLOAD
    loader: Callable = staticmethod(load_unit_lm)
    input = "units"  # what the model reads: "units" (k-means ids) or "speech" (16 kHz audio)

    def __init__(self, checkpoint: str | None = None, dictionary: str | None = None):
        self.checkpoint = checkpoint
        self.dictionary = dictionary or (
            os.fspath(Path(checkpoint).with_name("dict.txt")) if checkpoint else None
        )

    @classmethod
    def from_conf(cls, conf: dict | None, option: str = "backbone_conf") -> GSLMBackbone:
        """From a ``backbone_conf`` mapping; an unknown key is one error listing the valid ones."""
        return cls(**check_keys(option, conf, keyword_names(cls)))

    def files(self) -> dict[str, str]:
        return {"checkpoint": self.checkpoint, "dictionary": self.dictionary}

    def check_files(self) -> None:
        if not self.checkpoint:
            raise CheckpointError(f"no backbone checkpoint given: download {self.download}")
        for name, path in self.files().items():
            if not os.path.isfile(path):
                raise CheckpointError(
                    f"backbone {name} not found: {path}. Download {self.download}"
                )

    def load(self) -> tuple[TransformerDecoder | EncoderDecoderModel, Dictionary]:
        self.check_files()
        return self.loader(self.checkpoint, self.dictionary)

    def load_dictionary(self) -> Dictionary:
        self.check_files()
        return Dictionary.load(self.dictionary)


class UnitMBARTBackbone(GSLMBackbone):
    """Unit mBART (encoder-decoder over mHuBERT units): ``checkpoint.pt`` + ``dict.txt``."""

    download = UNIT_MBART_DOWNLOAD
    loader = staticmethod(load_unit_mbart)

    def load_dictionary(self) -> Dictionary:
        """dict.txt, and ``<mask>`` after it where the model has it (denoising pre-training
        appends it), as the model is loaded."""
        self.check_files()
        return unit_mbart_dictionary(self.checkpoint, self.dictionary)


class Wav2SeqBackbone(GSLMBackbone):
    """Wav2Seq (HuBERT encoder on 16 kHz audio + decoder over pseudo-language BPE tokens)."""

    download = WAV2SEQ_DOWNLOAD
    loader = staticmethod(load_wav2seq)
    input = "speech"


BACKBONES = {"gslm": GSLMBackbone, "unit_mbart": UnitMBARTBackbone, "wav2seq": Wav2SeqBackbone}
