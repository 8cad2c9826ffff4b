"""Distributed data parallel training: one process per device, gradients averaged by all-reduce.

Under ``torchrun --nproc-per-node N`` (or any launcher that sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) ``init_from_env`` joins the process group
(gloo on CPU, nccl on CUDA) and ``wrap`` puts the model in ``DistributedDataParallel``. Every rank
draws the same global batch from the same seeded generator and keeps its own slice (``shard``),
so N ranks take exactly the step one process takes on the whole batch. Without those variables
everything is the identity: one process, no group.

>>> ctx = init_from_env("cpu")
>>> ctx.world_size, ctx.is_main, ctx.device
(1, True, 'cpu')
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from catlm.errors import BackendError, UsageError

BACKENDS = {"cpu": "gloo", "cuda": "nccl"}
DEVICE = re.compile(r"cpu|cuda(:\d+)?")


@dataclass(frozen=True, slots=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes checkpoints, plots and the progress bar."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str) -> str:
    """``"auto"`` is cuda when a GPU is visible, else cpu; ``cpu``, ``cuda`` and ``cuda:N`` pass through."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not DEVICE.fullmatch(name):
        raise UsageError(f"device '{name}' is not supported", hint="choose auto, cpu, cuda or cuda:N")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise BackendError(f"device '{name}' asked for but no CUDA device is available",
                           hint="use device='auto' or 'cpu'")
    return name


def init_from_env(device: str = "auto") -> DistContext:
    """Join the process group described by the launcher's environment variables, if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device)
    if world <= 1:
        return DistContext(device=device)
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", os.environ["RANK"]))
    kind = torch.device(device).type
    if kind == "cuda":
        device = f"cuda:{local}"
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend=BACKENDS[kind], init_method="env://")
    return DistContext(rank, world, local, device)


def wrap(module: nn.Module, ctx: DistContext) -> nn.Module:
    """``DistributedDataParallel(module)`` under a process group; ``module`` itself otherwise."""
    if not ctx.is_distributed:
        return module
    ids = [torch.device(ctx.device).index] if ctx.device.startswith("cuda") else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def shard(batch: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """This rank's rows of the global batch (B, ...) -> (B / world, ...)."""
    if batch.shape[0] % ctx.world_size:
        raise BackendError(f"a global batch of {batch.shape[0]} does not split over "
                           f"{ctx.world_size} processes", hint="make batch a multiple of the world size")
    size = batch.shape[0] // ctx.world_size
    return batch[ctx.rank * size:(ctx.rank + 1) * size]


def all_ranks(tensor: torch.Tensor, ctx: DistContext) -> list[torch.Tensor]:
    """Every rank's ``tensor`` (the same shape on each), in rank order; ``[tensor]`` in one process.

    A collective: every rank must call it. Tensors travel by all-gather, never by pickling.
    """
    if not ctx.is_distributed:
        return [tensor]
    local = tensor.to(ctx.device) if ctx.device.startswith("cuda") else tensor
    gathered = [torch.empty_like(local) for _ in range(ctx.world_size)]
    dist.all_gather(gathered, local)
    return [t.cpu() for t in gathered]


def barrier(ctx: DistContext) -> None:
    if ctx.is_distributed:
        dist.barrier()


def shutdown() -> None:
    """Leave the process group (call once, at the end of a ``torchrun`` script)."""
    if dist.is_initialized():
        dist.destroy_process_group()
