"""``--init_param`` read weights-only. ESPnet's own loader unpickles whatever the file holds
(arbitrary objects, code included), so the tasks run ESPnet's training with this loader in
its place: the same option syntax, the file read through the project's allow-list (tensors
and plain values only), and a bad file or key one line."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import torch
from torch import nn

from ..errors import SpeechPromptError
from ..safe_load import load_torch_file

logger = logging.getLogger(__name__)


def load_init_param(
    init_param: str, model: nn.Module, ignore_init_mismatch: bool, map_location: str = "cpu"
) -> None:
    """Load ``<file>[:<source prefix>[:<target module>[:<excluded prefixes,...>]]]`` into
    ``model``: the file's tensors under the source prefix (the prefix dropped), those starting
    with an excluded prefix left out, go into the target module (default: the whole model),
    whose other tensors are kept. A tensor the target lacks or holds in another shape is an
    error, or with ``ignore_init_mismatch`` skipped with a warning."""
    path, source, target_name, excludes = (init_param.split(":") + ["", "", ""])[:4]
    state = load_torch_file(
        path, kind="--init_param file", remedy="give a model file (*.pth) of a training run"
    )
    if isinstance(state, dict) and isinstance(state.get("module"), dict):
        state = state["module"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SpeechPromptError(f"{path}: not a model state (names of tensors); --init_param")
    for prefix in filter(None, excludes.split(",")):
        state = {k: v for k, v in state.items() if not k.startswith(prefix)}
    if source:
        state = {k[len(source) + 1 :]: v for k, v in state.items() if k.startswith(source + ".")}
    try:
        target = model.get_submodule(target_name) if target_name else model
    except AttributeError:
        raise SpeechPromptError(f"--init_param {init_param}: the model has no module "
                                f"{target_name!r}") from None  # fmt: skip
    current = target.state_dict()
    wrong = [k for k, v in state.items() if k not in current or current[k].shape != v.shape]
    if wrong and not ignore_init_mismatch:
        raise SpeechPromptError(
            f"--init_param {init_param}: {len(wrong)} tensor(s) the model lacks or holds in "
            f"another shape (first: {wrong[0]}); pass --ignore_init_mismatch true to skip them"
        )
    for key in wrong:
        logger.warning(f"--init_param {path}: {key} skipped (not in the model, or another shape)")
    current.update({k: v.to(map_location) for k, v in state.items() if k not in wrong})
    target.load_state_dict(current)


@contextlib.contextmanager
def weights_only_init_param() -> Iterator[None]:
    """ESPnet's task runner with :func:`load_init_param` for ``--init_param``."""
    from espnet2.tasks import abs_task

    original = abs_task.load_pretrained_model
    abs_task.load_pretrained_model = load_init_param
    try:
        yield
    finally:
        abs_task.load_pretrained_model = original
