"""Units back to speech: the unit HiFi-GAN vocoder (fairseq ``CodeHiFiGAN``), pure torch.

``load_vocoder(checkpoint, config)`` reads a released ``{"generator": ...}`` file and its
``config.json``; ``UnitHifiGan.synthesize(units, dur_prediction=...)`` returns waveforms of
exactly ``frames * hop`` samples (batched output equals one-at-a-time output).

Licence: this package contains no weights. The released unit HiFi-GAN checkpoints are
published under CC BY-NC 4.0 (non-commercial); check before any commercial use.
"""

from espnet2_speechprompt.vocoder.config import (
    DurationPredictorConfig,
    VocoderConfig,
    read_config,
)
from espnet2_speechprompt.vocoder.errors import (
    UnitInputError,
    VocoderCheckpointError,
    VocoderError,
)
from espnet2_speechprompt.vocoder.hifigan import UnitHifiGan
from espnet2_speechprompt.vocoder.loading import fold_weight_norm, load_vocoder

__all__ = [
    "DurationPredictorConfig",
    "UnitHifiGan",
    "UnitInputError",
    "VocoderCheckpointError",
    "VocoderConfig",
    "VocoderError",
    "fold_weight_norm",
    "load_vocoder",
    "read_config",
]
