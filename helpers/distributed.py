"""Training on several processes: ``torchrun`` starts them, ``DistributedDataParallel`` keeps them in step.

    torchrun --nproc_per_node 2 -m helpers train --out checkpoints/ddp.pt --max-steps 2000

torchrun gives each process its ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; :func:`from_environment`
reads them, joins the process group (NCCL on GPUs, gloo on CPUs) and picks the process's device.
Each process trains on its share of every global batch (``--batch-size`` is the global batch).
All processes draw the random numbers of the *whole* batch from one shared stream and keep their
own rows, so N processes take the same optimiser steps as one process with the same batch, and a
checkpoint resumes on any number of processes, one included. Only process 0 writes files and prints.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from .device import pick_device


@dataclass(frozen=True)
class Context:
    """Where this process stands: its ``rank`` among ``world`` processes, and its ``device``."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        """True for the process that writes checkpoints, logs and progress bars (rank 0)."""
        return self.rank == 0

    @property
    def rows(self) -> slice:
        """This process's rows of a global batch: every ``world``-th, from ``rank``."""
        return slice(self.rank, None, self.world)


def from_environment(device: str | None = None) -> Context:
    """A single-process context, or, under torchrun (``WORLD_SIZE`` > 1), one in a process group.

    On GPUs each process takes ``cuda:LOCAL_RANK`` and the NCCL backend; otherwise the CPU and gloo.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Context(device=pick_device(device))
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if pick_device(device).type == "cuda":
        chosen, backend = torch.device("cuda", local), "nccl"
        torch.cuda.set_device(chosen)
    else:
        chosen, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return Context(rank, world, chosen)


def shutdown(ctx: Context) -> None:
    """Leave the process group (a no-op for a single process)."""
    if ctx.world > 1 and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: torch.nn.Module, ctx: Context) -> torch.nn.Module:
    """``model`` for the training forward pass: under DistributedDataParallel when there are several processes."""
    if ctx.world == 1:
        return model
    return DistributedDataParallel(model, device_ids=[ctx.device] if ctx.device.type == "cuda" else None)


def mean(value: float, ctx: Context) -> float:
    """The mean of ``value`` over all processes (the value itself for one process)."""
    if ctx.world == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    return float(t) / ctx.world


def from_main(values: list[float], ctx: Context) -> list[float]:
    """Process 0's ``values`` on every process, so that clock-based decisions agree everywhere."""
    if ctx.world == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    dist.broadcast(t, src=0)
    return t.tolist()


def any_true(flags: list[bool], ctx: Context) -> list[bool]:
    """For each flag, True when it is True on any process (the flags themselves for one process).

    Decisions that stop a run (a non-finite loss, a signal) go through here, so that every
    process stops at the same step instead of one raising while the others wait in a collective.
    """
    if ctx.world == 1:
        return list(flags)
    t = torch.tensor([float(f) for f in flags], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]
