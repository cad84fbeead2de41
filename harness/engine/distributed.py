"""Several processes on one cell (``accelerate launch --multi_gpu -m harness eval ...``, or
``torchrun``): who is the main process, barriers, and gathering what each process computed.

Launched that way, every process runs the whole pipeline: training is data-parallel through
``accelerate`` (each process a share of the batches, gradients averaged), evaluation is sharded by
batch and gathered, and only the main process takes the output lock and writes checkpoints,
training state and records. In a single process every function here is a no-op.
"""
from __future__ import annotations

import os
from typing import Any


def world_size() -> int:
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def rank() -> int:
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def local_rank() -> int:
    try:
        return int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        return 0


def is_main() -> bool:
    return rank() == 0


def start(cpu: bool) -> None:
    """Join the launcher's process group (gloo on CPU, NCCL on GPUs) through accelerate's shared
    state, the one the training loop's ``Accelerator`` then uses."""
    if world_size() > 1:
        from accelerate import PartialState

        PartialState(cpu=cpu)


def _active() -> bool:
    import torch.distributed as dist

    return world_size() > 1 and dist.is_available() and dist.is_initialized()


def barrier() -> None:
    if _active():
        import torch.distributed as dist

        dist.barrier()


def gather(value: Any) -> list[Any]:
    """Every process's ``value``, in rank order (``[value]`` in a single process)."""
    if not _active():
        return [value]
    import torch.distributed as dist

    values: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    return values


def share(index: int, count: int) -> bool:
    """Whether item ``index`` of ``count`` (a batch) is this process's to compute."""
    return not _active() or index % world_size() == rank()
