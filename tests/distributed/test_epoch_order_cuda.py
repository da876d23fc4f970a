"""Two GPU ranks (NCCL) take rank 0's epoch order: together their batches hold every pair once, even
when their own generators differ. Skipped without two CUDA devices; run on a 2-GPU machine with
``python -m pytest tests/distributed/test_epoch_order_cuda.py``.
"""

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

pytestmark = pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")


def _rank(rank: int, store: str, out: str) -> None:
    from jasper_core.distributed import broadcast_from_main
    from jasper_core.training.batches import epoch_rows

    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        pairs = torch.arange(5000, 15000, device="cuda")
        gen = torch.Generator().manual_seed(100 + rank)  # different on each rank: the order must come from rank 0
        mine = torch.cat([rows for rows, _ in epoch_rows(pairs, 64, generator=gen, variant_probs=[0.25] * 4,
                                                          drop_last=False, world_size=2, rank=rank,
                                                          agree=broadcast_from_main)])
        every = [None, None]
        dist.all_gather_object(every, mine.cpu())
        if rank == 0:
            torch.save(every, out)
    finally:
        dist.destroy_process_group()


def test_two_gpu_ranks_take_rank_0s_epoch_order(tmp_path):
    out = tmp_path / "rows.pt"
    mp.spawn(_rank, args=(str(tmp_path / "store"), str(out)), nprocs=2)
    every = torch.load(out)
    union = torch.cat(every)
    assert torch.equal(union.sort().values, torch.arange(5000, 15000))  # every pair exactly once
    assert len(every[0]) == len(every[1])
