"""Backbones selectable by name (``--backbone gslm``): their files and how to load them."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..checkpoints.dictionary import Dictionary
from ..checkpoints.safe_pickle import CheckpointError
from ..checkpoints.unit_lm import load_unit_lm
from .transformer_lm import TransformerDecoder

GSLM_DOWNLOAD = (
    "https://dl.fbaipublicfiles.com/textless_nlp/gslm/hubert/lm_km100/hubert100_lm.tgz "
    "(or the cpc/logmel/w2v2 x 50/100/200 variants); unpack it and pass "
    "--backbone_conf checkpoint=<dir>/checkpoint_best.pt"
)


def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class GSLMBackbone:
    """A GSLM unit LM release: ``checkpoint_best.pt`` + ``dict.txt`` (beside it by default)."""

    def __init__(self, checkpoint: str | None = None, dictionary: str | None = None):
        self.checkpoint = checkpoint
        self.dictionary = dictionary or (
            os.fspath(Path(checkpoint).with_name("dict.txt")) if checkpoint else None
        )

    def files(self) -> dict[str, str]:
        return {"checkpoint": self.checkpoint, "dictionary": self.dictionary}

    def check_files(self) -> None:
        if not self.checkpoint:
            raise CheckpointError(f"no backbone checkpoint given: download {GSLM_DOWNLOAD}")
        for name, path in self.files().items():
            if not os.path.isfile(path):
                raise CheckpointError(
                    f"backbone {name} not found: {path}. Download {GSLM_DOWNLOAD}"
                )

    def load(self) -> tuple[TransformerDecoder, Dictionary]:
        self.check_files()
        return load_unit_lm(self.checkpoint, self.dictionary)

    def load_dictionary(self) -> Dictionary:
        self.check_files()
        return Dictionary.load(self.dictionary)
