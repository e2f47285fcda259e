"""Load a released unit HiFi-GAN: ``{"generator": state_dict}`` + ``config.json``.

The checkpoint is read with torch's weights-only unpickler (no code from the file runs).
Weight-norm pairs ``X.weight_g`` / ``X.weight_v`` (``torch.nn.utils.weight_norm``, the layout
of the released files) or ``X.parametrizations.weight.original0/1`` (the newer torch API) are
folded into plain ``X.weight = g * v / ||v||`` once, at load time; ``||v||`` is taken over
every dimension but 0 (out-channels for Conv1d, in-channels for ConvTranspose1d).

Vocoder weights: the released unit HiFi-GAN checkpoints are published under CC BY-NC 4.0
(non-commercial); this code contains no weights.
"""

from __future__ import annotations

import os

import torch

from espnet2_speechprompt.checkpoints.safe_pickle import safe_torch_load
from espnet2_speechprompt.vocoder.config import VocoderConfig, read_config
from espnet2_speechprompt.vocoder.errors import VocoderCheckpointError
from espnet2_speechprompt.vocoder.hifigan import UnitHifiGan

_PARAM_WN = ".parametrizations.weight.original"


def fold_weight_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace every weight-norm pair by the weight it stands for (fp32)."""
    out: dict[str, torch.Tensor] = {}
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if key.endswith((".weight_g", ".weight_v")):
            pairs.setdefault(key[: -len("_g")], {})[key[-1]] = value
        elif _PARAM_WN in key:
            base = key.split(_PARAM_WN)[0] + ".weight"
            pairs.setdefault(base, {})["g" if key.endswith("0") else "v"] = value
        else:
            out[key] = value.float() if value.is_floating_point() else value
    for key, pair in pairs.items():
        if set(pair) != {"g", "v"}:
            raise VocoderCheckpointError(f"weight-norm parameter {key} lacks its g or v half")
        g, v = pair["g"].double(), pair["v"].double()
        norm = v.flatten(1).norm(dim=1).view(-1, *([1] * (v.dim() - 1)))
        if g.numel() != norm.numel():
            raise VocoderCheckpointError(
                f"weight-norm parameter {key}: g has shape {list(g.shape)}, v has shape "
                f"{list(v.shape)} (g needs one value per row of v)"
            )
        out[key] = (v * (g.reshape(norm.shape) / norm)).float()
    return out


def _checkpoint_key(key: str, state: dict[str, torch.Tensor]) -> str:
    """The name a folded key had in the file (for messages)."""
    return key + "_v" if key + "_v" in state else key


def load_generator_state(
    model: UnitHifiGan, raw: dict[str, torch.Tensor], where: str, config_path: str
) -> None:
    """Fold, check every shape against the config-built ``model``, and load (strict)."""
    state = fold_weight_norm(raw)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            extra = (
                " (the config has dur_predictor_params)"
                if any(k.startswith("dur_predictor.") for k in missing)
                else ""
            )
            parts.append(f"missing {', '.join(missing[:3])}{extra}")
        if unexpected:
            hint = (
                " (a duration predictor: the config lacks dur_predictor_params)"
                if any(k.startswith("dur_predictor.") for k in unexpected)
                else (
                    " (F0/speaker conditioning is not supported)"
                    if any(
                        k.split(".")[0] in {"spkr", "style", "f0_quant_embed"} for k in unexpected
                    )
                    else ""
                )
            )
            parts.append(f"unexpected {', '.join(unexpected[:3])}{hint}")
        raise VocoderCheckpointError(f"{where} does not match {config_path}: {'; '.join(parts)}")
    for key, value in expected.items():
        if state[key].shape != value.shape:
            raise VocoderCheckpointError(
                f"{where} does not match {config_path}: {_checkpoint_key(key, raw)} has shape "
                f"{list(raw[_checkpoint_key(key, raw)].shape)} in the checkpoint but the config "
                f"implies {list(value.shape)}"
            )
    model.load_state_dict(state, strict=True)


def default_config_path(checkpoint: str | os.PathLike) -> str:
    """``config.json`` beside the checkpoint (the released layout)."""
    return os.path.join(os.path.dirname(os.path.abspath(os.fspath(checkpoint))), "config.json")


def load_vocoder(
    checkpoint: str | os.PathLike,
    config: str | os.PathLike | VocoderConfig | None = None,
    device: str | torch.device = "cpu",
) -> UnitHifiGan:
    """A ready-to-run (eval, weight norm folded) :class:`UnitHifiGan`.

    ``config``: a ``config.json`` path (default: the one beside ``checkpoint``) or a parsed
    :class:`VocoderConfig`. Note: released vocoder weights are CC BY-NC 4.0 (non-commercial).
    """
    checkpoint = os.fspath(checkpoint)
    if config is None:
        config = default_config_path(checkpoint)
    config_path = "the given config" if isinstance(config, VocoderConfig) else os.fspath(config)
    blob = safe_torch_load(checkpoint)  # first: a missing checkpoint is named before its config
    cfg = config if isinstance(config, VocoderConfig) else read_config(config_path)
    raw = blob.get("generator") if isinstance(blob, dict) else None
    if not isinstance(raw, dict) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise VocoderCheckpointError(
            f"{checkpoint}: not a unit HiFi-GAN checkpoint (expected a dict with a "
            "'generator' state dict, as in g_00500000 / model.pt)"
        )
    model = UnitHifiGan(cfg)
    load_generator_state(model, raw, checkpoint, config_path)
    return model.eval().requires_grad_(False).to(device)
