"""The frozen backbone's precision: ``float32``, or ``bfloat16`` weights and matrix products
where the hardware has bf16 matrix units (CPUs with AMX or AVX-512 BF16, CUDA GPUs with bf16).

Only the frozen backbone changes: prompts, verbalizer, optimizer state and the loss stay
float32. The backbone runs under ``torch.autocast`` (its bf16 weights as they are, the fp32
prompts cast where they meet them; layer-norm and softmax accumulate in fp32 inside torch's
bf16 kernels), and its logits are returned as float32. ``auto`` (the default) picks bf16 where
it is fast and says once why it did not.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator

import torch

from .errors import SpeechPromptError

BACKBONE_PRECISIONS = ("auto", "float32", "bfloat16")
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
_reported: set[str] = set()


class PrecisionError(SpeechPromptError, ValueError):
    """An unknown precision name."""


@functools.cache
def cpu_bf16_flags() -> tuple[str, ...]:
    """This CPU's bf16 matrix flags (``amx_bf16``, ``avx512_bf16``) from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            lines = (line for line in info if line.startswith("flags"))
            flags = next(lines, ":").split(":", 1)[1].split()
    except OSError:
        return ()
    return tuple(flag for flag in CPU_BF16_FLAGS if flag in flags)


def bf16_is_fast(device: str | torch.device) -> tuple[bool, str]:
    """Whether bf16 matrix products are fast on ``device``, and why (for the log)."""
    device = torch.device(device)
    if device.type == "cuda":
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False):
            return True, f"{torch.cuda.get_device_name(device)} has bf16"
        return False, "this GPU has no bf16 support"
    flags = cpu_bf16_flags()
    if flags:
        return True, f"this CPU has {' and '.join(flags)}"
    return False, "this CPU has no bf16 matrix units (amx_bf16 or avx512_bf16)"


def resolve_backbone_dtype(requested: str, device: str | torch.device = "cpu") -> torch.dtype:
    """``float32`` / ``bfloat16`` as asked; ``auto``: bf16 where :func:`bf16_is_fast`."""
    if requested not in BACKBONE_PRECISIONS:
        raise PrecisionError(
            f"backbone_precision must be one of {', '.join(BACKBONE_PRECISIONS)} (got {requested!r})"
        )
    if requested != "auto":
        return getattr(torch, requested)
    fast, why = bf16_is_fast(device)
    message = (
        f"frozen backbone in {'bfloat16' if fast else 'float32'} (backbone_precision auto: {why})"
    )
    if message not in _reported:
        _reported.add(message)
        logging.getLogger(__name__).log(logging.INFO if fast else logging.WARNING, message)
    return torch.bfloat16 if fast else torch.float32


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


NORMS = (torch.nn.LayerNorm, torch.nn.GroupNorm, torch.nn.modules.batchnorm._BatchNorm)


def set_frozen_dtype(module: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """``module``'s floating parameters and buffers in ``dtype``, but those of normalization
    layers, which stay float32 (their statistics and affine in fp32, as torch's mixed-dtype
    layer-norm kernels expect)."""
    norms = {id(t) for m in module.modules() if isinstance(m, NORMS) for t in m.parameters()}
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            if tensor.is_floating_point():
                tensor.data = tensor.data.to(torch.float32 if id(tensor) in norms else dtype)
    return module


def low_precision_dtype(module: torch.nn.Module) -> torch.dtype | None:
    """bfloat16 when ``module`` holds bf16 weights (``set_frozen_dtype``), else None. Read from
    the weights, not recorded: ESPnet's trainer casts the whole model to ``--train_dtype``
    after it is built, and autocast must follow the weights the backbone really has."""
    if any(p.dtype == torch.bfloat16 for p in module.parameters()):
        return torch.bfloat16
    return None


@contextlib.contextmanager
def autocast_to(module: torch.nn.Module) -> Iterator[None]:
    """Run ``module`` in its low precision (autocast when it holds bf16 weights), or as it is."""
    dtype = low_precision_dtype(module)
    if dtype is None:
        yield
        return
    device = next(module.parameters()).device.type
    with torch.autocast(device, dtype=dtype):
        yield
