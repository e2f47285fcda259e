"""Fixed random weights for tests that compare two ways of computing one thing (batched and one
at a time, saved and loaded, beam 1 and greedy): a seeded random trainable state for a task
config (with ``unit_lm.save_random_unit_lm``, a seeded untrained backbone). What such a test sees
then does not depend on how training came out on the CPU that runs it."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import yaml

RANDOM_STATE = "random.pth"


def save_random_trainable_state(
    config: Path, path: Path, seed: int = 0, std: float = 0.1, task: type | None = None
) -> Path:
    """The trainable state (prompts, learnable verbalizer) that ``task`` (default:
    ``SpeechPromptTask``) builds from ``config``, every floating tensor perturbed by
    N(0, std^2) noise from a seeded generator (a learnable verbalizer keeps its rule-based
    start, so labels still follow the LM), saved as an ESPnet ``*.pth``."""
    if task is None:
        from espnet2_speechprompt.tasks.speechprompt import SpeechPromptTask as task

    args = argparse.Namespace(**yaml.safe_load(config.read_text()))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        state = task.build_model(args).state_dict()
    generator = torch.Generator().manual_seed(seed)
    for key, value in state.items():
        if value.is_floating_point():
            noise = torch.randn(value.shape, generator=generator, dtype=value.dtype)
            state[key] = value + std * noise
    torch.save(state, path)
    return path


def dry_run_with_random_state(cmd: list[str], seed: int = 0, task: type | None = None) -> Path:
    """``--dry_run`` of a task command (``config.yaml`` in its ``--output_dir``; ``task``
    default: ``SpeechPromptTask``), then a random trainable state ``random.pth`` beside it;
    returns the output directory."""
    if task is None:
        from espnet2_speechprompt.tasks.speechprompt import SpeechPromptTask as task

    task.main(cmd=cmd + ["--dry_run", "true"])
    out = Path(cmd[cmd.index("--output_dir") + 1])
    save_random_trainable_state(out / "config.yaml", out / RANDOM_STATE, seed, task=task)
    return out
