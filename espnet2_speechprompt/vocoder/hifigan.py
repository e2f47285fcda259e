"""Unit HiFi-GAN generator (fairseq ``CodeGenerator`` math), with exact batched synthesis.

The math of fairseq's ``CodeGenerator`` (MIT licence), written anew; parameter names follow
the released ``{"generator": ...}``
state dict with weight norm folded away (see :mod:`.loading`)::

    units [B,T] -> dict (Embedding) -> [dur_predictor: repeat each unit round(exp(d)-1) >= 1]
    -> conv_pre (k7) -> per stage i: leaky_relu(0.1), ConvTranspose1d(stride u_i),
       mean of resblocks (one per kernel) -> leaky_relu(0.01) -> conv_post (k7) -> tanh

Every convolution is "same"-padded, so an utterance padded inside a batch would see its
neighbours' padding. To make batched output equal one-at-a-time output, every activation is
zeroed beyond each utterance's valid length before the next convolution (a lone utterance
sees zeros there too, through the convolution's own zero padding). Exactly
``frames * hop`` samples come out per utterance, ``hop = prod(upsample_rates)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from espnet2_speechprompt.vocoder.config import DurationPredictorConfig, VocoderConfig
from espnet2_speechprompt.vocoder.errors import UnitInputError

LRELU_SLOPE = 0.1


def _zero_beyond(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """``x [B, C, T]`` with time steps ``>= lengths[b]`` set to 0 (no-op when ``None``)."""
    if lengths is None:
        return x
    pad = torch.arange(x.shape[-1], device=x.device)[None, :] >= lengths[:, None]
    return x.masked_fill(pad[:, None, :], 0.0)


class ResBlock(nn.Module):
    """HiFi-GAN resblock type 1: per dilation d, ``x += c2(lrelu(c1_d(lrelu(x))))``."""

    def __init__(self, channels: int, kernel_size: int, dilations: Sequence[int]):
        super().__init__()

        def conv(d: int) -> nn.Conv1d:
            return nn.Conv1d(
                channels, channels, kernel_size, dilation=d, padding=d * (kernel_size - 1) // 2
            )

        self.convs1 = nn.ModuleList(conv(d) for d in dilations)
        self.convs2 = nn.ModuleList(conv(1) for _ in dilations)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            h = _zero_beyond(c1(F.leaky_relu(x, LRELU_SLOPE)), lengths)
            x = x + _zero_beyond(c2(F.leaky_relu(h, LRELU_SLOPE)), lengths)
        return x


class DurationPredictor(nn.Module):
    """fairseq ``VariancePredictor`` (inference): log(1 + duration) per unit, ``[B, T]``."""

    def __init__(self, cfg: DurationPredictorConfig):
        super().__init__()
        hidden, k = cfg.var_pred_hidden_dim, cfg.var_pred_kernel_size
        self.conv1 = nn.Sequential(
            nn.Conv1d(cfg.encoder_embed_dim, hidden, k, padding=(k - 1) // 2), nn.ReLU()
        )
        self.ln1 = nn.LayerNorm(hidden)
        self.conv2 = nn.Sequential(nn.Conv1d(hidden, hidden, k, padding=1), nn.ReLU())
        self.ln2 = nn.LayerNorm(hidden)
        self.proj = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``x [B, C, T]`` embedded units -> ``[B, T]`` log durations (dropout is off)."""
        h = self.ln1(self.conv1(_zero_beyond(x, lengths)).transpose(1, 2)).transpose(1, 2)
        h = self.ln2(self.conv2(_zero_beyond(h, lengths)).transpose(1, 2))
        return self.proj(h).squeeze(-1)

    def durations(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Frames per unit as fairseq rounds them: ``max(1, round(exp(log_d) - 1))``."""
        return torch.clamp(torch.round(torch.exp(self(x, lengths)) - 1).long(), min=1)


class UnitHifiGan(nn.Module):
    """Unit HiFi-GAN generator; build from a :class:`VocoderConfig`, load with :mod:`.loading`.

    Weights are plain (weight norm folded), so this is an inference module.
    """

    def __init__(self, config: VocoderConfig):
        super().__init__()
        self.config = config
        c0 = config.upsample_initial_channel
        self.dict = nn.Embedding(config.num_embeddings, config.embedding_dim)
        self.dur_predictor = (
            DurationPredictor(config.dur_predictor) if config.dur_predictor is not None else None
        )
        self.conv_pre = nn.Conv1d(config.model_in_dim, c0, 7, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for i, (u, k) in enumerate(
            zip(config.upsample_rates, config.upsample_kernel_sizes, strict=True)
        ):
            ch = c0 // 2 ** (i + 1)
            self.ups.append(nn.ConvTranspose1d(2 * ch, ch, k, u, padding=(k - u) // 2))
            for rk, dil in zip(
                config.resblock_kernel_sizes, config.resblock_dilation_sizes, strict=True
            ):
                self.resblocks.append(ResBlock(ch, rk, dil))
        self.conv_post = nn.Conv1d(c0 // 2 ** len(config.upsample_rates), 1, 7, padding=3)

    @property
    def hop(self) -> int:
        return self.config.hop

    @property
    def sample_rate(self) -> int:
        return self.config.sampling_rate

    def generate(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Frame features ``[B, C, T]`` (``lengths`` valid frames each) -> ``[B, T * hop]``."""
        n_kernels = len(self.config.resblock_kernel_sizes)
        x = _zero_beyond(self.conv_pre(_zero_beyond(x, lengths)), lengths)
        for i, (up, rate) in enumerate(zip(self.ups, self.config.upsample_rates, strict=True)):
            lengths = None if lengths is None else lengths * rate
            x = _zero_beyond(up(F.leaky_relu(x, LRELU_SLOPE)), lengths)
            blocks = self.resblocks[i * n_kernels : (i + 1) * n_kernels]
            total = blocks[0](x, lengths)
            for block in blocks[1:]:
                total += block(x, lengths)  # fresh tensors: in place is safe
            x = total.div_(n_kernels)
        # fairseq's last activation uses leaky_relu's default slope (0.01), not 0.1
        return torch.tanh(self.conv_post(F.leaky_relu(x))).squeeze(1)

    def forward(
        self,
        units: torch.Tensor,
        lengths: torch.Tensor | None = None,
        *,
        dur_prediction: bool = False,
        durations: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded units ``[B, T]`` -> ``(wav [B, N], wav_lengths [B])``.

        ``dur_prediction`` repeats each unit by the predicted duration (deduplicated units
        in); ``durations [B, T]`` (>= 0, 0 beyond each length) repeats by given counts
        instead. Without either, units are frames (50 Hz for HuBERT).
        """
        batch, steps = units.shape
        if lengths is None:
            lengths = torch.full((batch,), steps, dtype=torch.long, device=units.device)
        lengths = lengths.to(units.device)
        x = self.dict(units).transpose(1, 2)  # [B, C, T]
        if dur_prediction and durations is None:
            if self.dur_predictor is None:
                raise UnitInputError(
                    "this vocoder has no duration predictor (its config has no "
                    "dur_predictor_params): give frame-rate units and no duration prediction"
                )
            durations = self.dur_predictor.durations(x, self._ragged(lengths, steps))
        if durations is not None:
            valid = torch.arange(steps, device=units.device)[None, :] < lengths[:, None]
            durations = durations.to(units.device).long() * valid
            x, lengths = _expand(x, durations)
            steps = x.shape[-1]
        wav = self.generate(x, self._ragged(lengths, steps))
        return wav, lengths * self.hop

    @staticmethod
    def _ragged(lengths: torch.Tensor, steps: int) -> torch.Tensor | None:
        """``lengths`` when some utterance is shorter than ``steps``, else ``None`` (no masks)."""
        return None if bool((lengths == steps).all()) else lengths

    @torch.inference_mode()
    def synthesize(
        self,
        units: Sequence[Sequence[int] | torch.Tensor],
        *,
        dur_prediction: bool = False,
        durations: Sequence[Sequence[int] | torch.Tensor] | None = None,
        names: Sequence[str] | None = None,
    ) -> list[torch.Tensor]:
        """Waveforms (1-D, on CPU, ``frames * hop`` samples each) for a batch of unit lists.

        ``names`` label utterances in errors (a unit id out of range, an empty sequence).
        """
        device = self.conv_pre.weight.device
        names = list(names) if names is not None else [f"#{i}" for i in range(len(units))]
        seqs = [torch.as_tensor(u, dtype=torch.long).reshape(-1) for u in units]
        for name, seq in zip(names, seqs, strict=True):
            self.check_units(seq, name)
        lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
        padded = nn.utils.rnn.pad_sequence(seqs, batch_first=True).to(device)
        dur = None
        if durations is not None:
            dur_seqs = [torch.as_tensor(d, dtype=torch.long).reshape(-1) for d in durations]
            for name, seq, d in zip(names, seqs, dur_seqs, strict=True):
                check_durations(d, len(seq), name)
            dur = nn.utils.rnn.pad_sequence(dur_seqs, batch_first=True).to(device)
        wav, wav_lengths = self(
            padded, lengths.to(device), dur_prediction=dur_prediction, durations=dur
        )
        wav = wav.float().cpu()
        return [wav[b, :n].clone() for b, n in enumerate(wav_lengths.tolist())]

    def check_units(self, units: torch.Tensor, name: str) -> None:
        """Raise :class:`UnitInputError` for an empty sequence or an id outside the vocabulary."""
        if units.numel() == 0:
            raise UnitInputError(f"utterance {name}: empty unit sequence")
        high, low = int(units.max()), int(units.min())
        if high >= self.config.num_embeddings or low < 0:
            bad = high if high >= self.config.num_embeddings else low
            raise UnitInputError(
                f"utterance {name}: unit id {bad} is outside this vocoder's "
                f"{self.config.num_embeddings} units (0..{self.config.num_embeddings - 1}); "
                "were the units made with the matching k-means?"
            )


def check_durations(durations: torch.Tensor, n_units: int, name: str) -> None:
    """Given durations must be one non-negative count per unit, not all zero."""
    if durations.numel() != n_units:
        raise UnitInputError(f"utterance {name}: {durations.numel()} durations for {n_units} units")
    if bool((durations < 0).any()) or int(durations.sum()) == 0:
        raise UnitInputError(
            f"utterance {name}: durations must be >= 0 and not all 0 (frames per unit)"
        )


def _expand(x: torch.Tensor, durations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Repeat frame ``t`` of ``x [B, C, T]`` ``durations[b, t]`` times; padded, with lengths."""
    new_lengths = durations.sum(1)
    rows = [
        torch.repeat_interleave(x[b], durations[b], dim=1).transpose(0, 1)
        for b in range(x.shape[0])
    ]
    out = nn.utils.rnn.pad_sequence(rows, batch_first=True).transpose(1, 2)
    return out, new_lengths
