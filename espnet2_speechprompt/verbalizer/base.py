"""What every verbalizer offers: backbone logits -> label logits, and label -> embedding.

Label space: ``0..3`` are the backbone specials (``<s> <pad> </s> <unk>``), ``4 + c`` is label
``c``, so label sequences use the same pad (1) and end-of-sequence (2) ids as the backbone.
"""

from __future__ import annotations

import torch
from torch import nn

from ..vocab import NUM_SPECIALS


class Verbalizer(nn.Module):
    num_labels: int

    @property
    def label_space_size(self) -> int:
        return NUM_SPECIALS + self.num_labels

    def forward(self, lm_logits: torch.Tensor) -> torch.Tensor:
        """Label-space logits ``[..., 4 + C]`` from backbone logits ``[..., V]``."""
        raise NotImplementedError

    def embedding_table(self, token_embeddings: torch.Tensor) -> torch.Tensor:
        """``[4 + C, d]`` input embeddings (unscaled, like rows of ``embed_tokens``)."""
        raise NotImplementedError

    def label_tokens(self) -> torch.Tensor:
        """``[C]`` backbone token standing for each label (the most weighted one)."""
        raise NotImplementedError
