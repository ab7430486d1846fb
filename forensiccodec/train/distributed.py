"""Data-parallel training under ``torchrun``: process group, device, DDP wrapping.

``torchrun --nproc_per_node=K`` starts K processes and gives each RANK, WORLD_SIZE and
LOCAL_RANK in its environment. Without those variables everything degrades to one process
and no process group, so the same loop runs under plain ``python`` too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from forensiccodec.errors import FccError


class DistributedError(FccError):
    """The torchrun environment is inconsistent or the requested device is unavailable."""


@dataclass(frozen=True)
class DistributedContext:
    """Where this process sits in the job."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str | None  # None: a single process without a process group

    @property
    def is_main(self) -> bool:
        """Only the main process writes checkpoints, logs and progress."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    """"auto" picks CUDA when available; under torchrun each process takes cuda:LOCAL_RANK."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    resolved = torch.device(device)
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise DistributedError("device 'cuda' requested but CUDA is not available")
        if resolved.index is None:
            resolved = torch.device("cuda", local_rank)
    return resolved


def setup_distributed(device: str = "auto") -> DistributedContext:
    """Read torchrun's environment, pick the device and, for more than one process,
    initialise the process group (NCCL on CUDA, gloo on CPU). Safe to call twice."""
    try:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError as error:
        raise DistributedError(f"bad torchrun environment: {error}") from error
    if not 0 <= rank < world_size:
        raise DistributedError(f"RANK={rank} is outside WORLD_SIZE={world_size}")
    resolved = resolve_device(device, local_rank)
    if resolved.type == "cuda":
        torch.cuda.set_device(resolved)
    backend = None
    if world_size > 1:
        backend = "nccl" if resolved.type == "cuda" else "gloo"
        if not dist.is_initialized():
            kwargs = {"device_id": resolved} if resolved.type == "cuda" else {}
            dist.init_process_group(backend=backend, rank=rank, world_size=world_size, **kwargs)
    return DistributedContext(rank, world_size, local_rank, resolved, backend)


def cleanup_distributed() -> None:
    """Tear the process group down (no-op for a single process)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(
    model: nn.Module,
    context: DistributedContext,
    *,
    ignored_parameter_names: list[str] | None = None,
    find_unused_parameters: bool = False,
) -> nn.Module:
    """Wrap in DistributedDataParallel when there is more than one process.

    Parameters named in ``ignored_parameter_names`` (the entropy model's ``quantiles``, which
    only the auxiliary loss trains, outside the DDP forward) are left out of DDP's gradient
    reduction; they are broadcast from rank 0 here, and the caller averages their gradients
    with :func:`all_reduce_gradients`.
    """
    if not context.is_distributed:
        return model
    ignored = ignored_parameter_names or []
    if ignored:
        DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(model, ignored)
        parameters = dict(model.named_parameters())
        with torch.no_grad():
            for name in ignored:
                dist.broadcast(parameters[name].data, src=0)
    device_ids = [context.device.index] if context.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=find_unused_parameters)


def all_reduce_gradients(parameters: list[nn.Parameter], context: DistributedContext) -> None:
    """Average gradients across processes (for parameters DDP does not reduce)."""
    if not context.is_distributed:
        return
    for parameter in parameters:
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad, op=dist.ReduceOp.SUM)
            parameter.grad.div_(context.world_size)


def all_reduce_mean(values: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """The mean of a tensor over processes (returns a new tensor)."""
    values = values.clone()
    if context.is_distributed:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        values /= context.world_size
    return values


def broadcast_flag(flag: bool, context: DistributedContext) -> bool:
    """Rank 0's decision, seen by every process (e.g. "stop now, the time budget is spent")."""
    if not context.is_distributed:
        return flag
    tensor = torch.tensor([1 if flag else 0], dtype=torch.int32, device=context.device)
    dist.broadcast(tensor, src=0)
    return bool(tensor.item())


def gather_objects(obj: object, context: DistributedContext) -> list[object]:
    """Every process's ``obj``, in rank order (a single-element list for one process)."""
    if not context.is_distributed:
        return [obj]
    gathered: list[object] = [None] * context.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def barrier(context: DistributedContext) -> None:
    if context.is_distributed:
        dist.barrier()
