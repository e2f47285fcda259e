"""Task metrics on decoded label sequences: accuracy (whole label sequence, e.g. the whole FSC
intent), WER/CER, SUPERB slot-filling metrics, corpus BLEU (single or multiple references)."""

from .bleu import corpus_bleu
from .metrics import accuracy, cer, edit_distance, error_rate, wer
from .slots import parse_slots, slot_type_f1, slot_value_cer, slot_value_wer, strip_slot_tags

__all__ = [
    "accuracy",
    "cer",
    "corpus_bleu",
    "edit_distance",
    "error_rate",
    "parse_slots",
    "slot_type_f1",
    "slot_value_cer",
    "slot_value_wer",
    "strip_slot_tags",
    "wer",
]
