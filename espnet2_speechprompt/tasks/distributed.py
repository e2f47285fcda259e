"""Multi-process training of prompts on a frozen backbone (ESPnet's DDP trainer).

Only the trainable state (prompts, separator, verbalizer) takes part in DDP: its gradients are
all-reduced and rank 0's start values broadcast. The frozen backbone is left out of DDP
(``_ddp_params_and_buffers_to_ignore``: no broadcast at start, no buffer broadcast each step);
each rank loads it from the same files, and :func:`check_same_frozen_state` proves that every
rank holds the same weights before the first step (a node reading another checkpoint fails in
one line instead of training a silently different model).
"""

from __future__ import annotations

import hashlib

import torch

from ..errors import SpeechPromptError


def frozen_names(model: torch.nn.Module) -> list[str]:
    """Names of the parameters that do not train and of every buffer."""
    names = [name for name, p in model.named_parameters() if not p.requires_grad]
    return names + [name for name, _ in model.named_buffers()]


def frozen_state_digest(model: torch.nn.Module) -> bytes:
    """sha256 over the names, dtypes, shapes and bytes of the frozen tensors."""
    digest = hashlib.sha256()
    tensors = dict(model.named_parameters()) | dict(model.named_buffers())
    for name in frozen_names(model):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.digest()


def check_same_frozen_state(model: torch.nn.Module) -> None:
    """Every rank of the initialised process group holds the same frozen tensors."""
    import torch.distributed as dist

    mine = torch.frombuffer(bytearray(frozen_state_digest(model)), dtype=torch.uint8)
    if next(model.parameters()).is_cuda:
        mine = mine.cuda()
    gathered = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, mine)
    differing = [rank for rank, other in enumerate(gathered) if not torch.equal(other, gathered[0])]
    if differing:
        raise SpeechPromptError(
            f"the frozen backbone differs between ranks (rank 0 vs ranks {differing}): every "
            "process must load the same backbone files — check the checkpoint path on each node"
        )


def prepare_distributed(model: torch.nn.Module) -> None:
    """Leave the frozen tensors out of DDP and check that every rank has the same ones
    (call after ``init_process_group`` and before the model is wrapped)."""
    model._ddp_params_and_buffers_to_ignore = frozen_names(model)
    check_same_frozen_state(model)
