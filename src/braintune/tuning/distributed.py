"""Data parallelism over processes launched by torchrun (WORLD_SIZE, RANK, LOCAL_RANK).

Each optimiser step sees one global batch; process r takes its elements r, r + N, ...,
sums the gradients of its micro-batches and the processes then sum their gradients with
one all-reduce. Every process holds the same weights and takes the same step, so N
processes give the single-process result up to the order of floating-point sums.
Gradients are reduced by hand (not DistributedDataParallel) because the number of
micro-batches may differ between processes in the last batch of an epoch (a process may
even have none) and layer drop leaves some parameters without gradient on some processes.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Process:
    """This process's place in the run: rank, world size and device."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    owns_group: bool = False  # this process called init_process_group and must destroy it

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        """In-place sum over processes (no-op for one process)."""
        if self.world_size > 1:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def close(self) -> None:
        if self.owns_group:
            dist.destroy_process_group()


def start(device: torch.device) -> Process:
    """Join the process group torchrun describes in the environment (one process without it).

    device: the device a single process would use; with several processes on CUDA each
    takes cuda:LOCAL_RANK. Backend: nccl on CUDA, gloo on CPU.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Process(device=device)
    rank = int(os.environ["RANK"])
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    log.info("process %d of %d on %s", rank, world_size, device)
    return Process(rank=rank, world_size=world_size, device=device, owns_group=owns)


def sum_gradients(process: Process, parameters: list[torch.nn.Parameter]) -> None:
    """Sum .grad over processes; a parameter without gradient counts as zeros (so all agree)."""
    for p in parameters:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    if process.world_size > 1:
        handles = [dist.all_reduce(p.grad, op=dist.ReduceOp.SUM, async_op=True) for p in parameters]
        for handle in handles:
            handle.wait()


def broadcast_parameters(process: Process, module: torch.nn.Module) -> None:
    """Copy rank 0's weights to every process."""
    if process.world_size > 1:
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=0)
