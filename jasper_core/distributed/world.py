"""Which process of a job this is: joining the ``torchrun`` process group, and leaving it.

A job is launched by ``torchrun`` (``torch.distributed.run``), which sets ``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in every process. Without them the job is one
process and nothing here talks to another process.
"""

from __future__ import annotations

import datetime
import logging
import os
import sys
import time
from typing import NoReturn

import attrs
import torch
import torch.distributed as dist

from jasper_core.errors import JasperError

#: Seconds a collective may wait for the other ranks before the job fails (``JASPER_DIST_TIMEOUT_S``).
DEFAULT_TIMEOUT_S = 600


@attrs.frozen(kw_only=True)
class World:
    """This process's place in the job.

    Attributes:
        rank: 0 … ``size`` − 1 over all hosts; rank 0 logs and writes the run directory.
        local_rank: the rank on this host (picks the GPU).
        size: number of processes (devices) in the job.
        joined: a process group is initialised: training goes through DDP and the collectives
            (also with one rank; ``torchrun --nproc_per_node=1`` starts none: ``WORLD_SIZE`` is 1).
    """

    rank: int = 0
    local_rank: int = 0
    size: int = 1
    joined: bool = False

    @property
    def is_main(self) -> bool:
        """True on the one process that logs and writes (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when this process talks to a process group (see ``joined``)."""
        return self.joined


#: The world of a job of one process (a constant, so a compiled step never builds one).
SOLO = World()


def in_group() -> bool:
    """Whether this process has joined a process group (plain ``torch.distributed`` calls: dynamo
    traces this inside a compiled step, where building a :class:`World` would break the graph)."""
    return dist.is_available() and dist.is_initialized()


def current() -> World:
    """The world of the initialised process group, or a one-process world (:data:`SOLO`)."""
    if not in_group():
        return SOLO
    return World(rank=dist.get_rank(), local_rank=int(os.environ.get("LOCAL_RANK", 0)), size=dist.get_world_size(),
                 joined=True)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise JasperError(f"{name}={value!r} is not an integer; launch with torchrun, which sets it") from None


def timeout() -> datetime.timedelta:
    """How long a collective waits for the other ranks (``JASPER_DIST_TIMEOUT_S``, default 600 s)."""
    seconds = _env_int("JASPER_DIST_TIMEOUT_S", DEFAULT_TIMEOUT_S)
    if seconds <= 0:
        raise JasperError(f"JASPER_DIST_TIMEOUT_S must be > 0 seconds, got {seconds}")
    return datetime.timedelta(seconds=seconds)


def device_for(device: torch.device, world: World) -> torch.device:
    """The device of this rank: ``cuda:LOCAL_RANK`` for a CUDA job, ``device`` otherwise."""
    if world.distributed and device.type == "cuda":
        if world.local_rank >= torch.cuda.device_count():
            raise JasperError(f"local rank {world.local_rank} has no GPU (this host has {torch.cuda.device_count()}); "
                              "use torchrun --nproc_per_node <= the number of GPUs")
        return torch.device("cuda", world.local_rank)
    return device


def join(device: torch.device) -> World:
    """Join the job's process group when ``torchrun`` started this process (idempotent).

    NCCL for a CUDA ``device``, gloo otherwise; every collective times out after :func:`timeout`.

    Raises:
        JasperError: the launcher's variables are malformed, or the rank has no GPU.
    """
    size = _env_int("WORLD_SIZE", 1)
    if size <= 1 or dist.is_initialized():
        return current()
    world = World(rank=_env_int("RANK", 0), local_rank=_env_int("LOCAL_RANK", 0), size=size, joined=True)
    if device.type == "cuda":
        torch.cuda.set_device(device_for(device, world))
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, timeout=timeout())
    return current()


#: Seconds a gloo rank waits after leaving its process group, the GIL released (see :func:`leave`).
GLOO_SETTLE_S = 0.2

_left_gloo = False  # this process left a gloo group (leave): end_process ends it without finalisation


def leave() -> None:
    """Leave the process group (all ranks wait for each other first); a no-op in a one-process job.

    gloo's worker threads outlive ``destroy_process_group`` (the group is still referenced), and one of
    them releasing the last collectives' tensors after the interpreter had begun to exit killed the rank:
    taking the GIL there ends the thread through a ``noexcept`` frame, so ``std::terminate`` ("terminate
    called without an active exception", SIGABRT; 5 in 212 runs of a 2-process benchmark on a loaded
    machine; the stack is from core dumps), and a finished job failed. A rank that left a gloo group
    therefore ends through :func:`end_process` (jasper's entry points do), which skips the interpreter's
    finalisation; it also sleeps :data:`GLOO_SETTLE_S` first, which narrows the race for a script that
    exits the usual way.
    """
    global _left_gloo
    if not in_group():
        return
    gloo = dist.get_backend() == "gloo"
    dist.barrier()
    dist.destroy_process_group()
    if gloo:
        _left_gloo = True
        time.sleep(GLOO_SETTLE_S)


def end_process(code: int) -> NoReturn:
    """End this process with exit status ``code`` (what an entry point does with ``main()``'s result).

    After leaving a gloo group (:func:`leave`) the process ends without the interpreter's finalisation
    (``os._exit``, once the logging handlers and the standard streams are flushed): gloo's threads may
    still be running, and none of them can then abort the exit. Otherwise as ``SystemExit(code)``.
    """
    if _left_gloo:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed or broken stream: nothing more to say there
                pass
        os._exit(code)
    raise SystemExit(code)
