"""Prompts + verbalizer around whichever backbone was loaded (decoder-only or enc-dec)."""

from __future__ import annotations

from ..speechlm.encoder import EncoderDecoderModel
from ..speechlm.transformer_lm import TransformerDecoder
from ..verbalizer.base import Verbalizer
from .prompted_encdec import PromptedEncoderDecoder
from .prompted_lm import PromptedUnitLM
from .prompts import PromptConfig


def build_prompted(
    backbone: TransformerDecoder | EncoderDecoderModel,
    verbalizer: Verbalizer,
    prompt_config: PromptConfig | None = None,
) -> PromptedUnitLM | PromptedEncoderDecoder:
    """Same training/inference interface either way: ``forward``, ``score_candidates``,
    ``classify``, ``generate``, ``trainable_state_dict``, ``parameter_counts``."""
    if isinstance(backbone, EncoderDecoderModel):
        return PromptedEncoderDecoder(backbone, verbalizer, prompt_config)
    return PromptedUnitLM(backbone, verbalizer, prompt_config)
