"""Training and evaluation over several processes (devices, hosts) with ``torchrun`` and DDP.

Only PyTorch's own machinery: ``torch.distributed`` process groups (NCCL on GPUs, gloo on CPUs)
and ``DistributedDataParallel``. Every helper is an identity in a one-process job.
"""

from jasper_core.distributed.collectives import (
    all_ranks_true,
    broadcast_from_main,
    broadcast_module,
    from_main,
    gather_rows_with_grad,
    gather_shards,
    mean_over_ranks,
)
from jasper_core.distributed.sharding import batch_rows, shard_bounds, shard_sizes
from jasper_core.distributed.world import World, current, device_for, end_process, join, leave, timeout

__all__ = [
    "World", "all_ranks_true", "batch_rows", "broadcast_from_main", "broadcast_module", "current", "device_for", "from_main",
    "end_process", "gather_rows_with_grad", "gather_shards", "join", "leave", "mean_over_ranks", "shard_bounds", "shard_sizes",
    "timeout",
]
