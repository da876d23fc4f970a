"""The epoch order drawn on the GPU (one-process runs on CUDA): every pair once, reproducible from the
run's generator. Skipped without a CUDA device; run on a GPU machine with
``python -m pytest tests/core/training/test_batches_cuda.py``.
"""

import pytest
import torch

from jasper_core.training.batches import epoch_rows

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _epoch(pairs, seed, **kw):
    gen = torch.Generator().manual_seed(seed)
    batches = list(epoch_rows(pairs, 64, generator=gen, variant_probs=[0.25] * 4, drop_last=False, **kw))
    return torch.cat([rows for rows, _ in batches]), torch.cat([codes for _, codes in batches]), gen


def test_epoch_rows_on_cuda__every_pair_once_and_the_same_order_from_the_same_generator():
    pairs = torch.arange(1000, 6000, device="cuda")
    rows, codes, gen = _epoch(pairs, 7)
    assert rows.is_cuda and codes.is_cuda
    assert torch.equal(rows.sort().values, pairs)  # a permutation: every pair exactly once
    assert set(codes.tolist()) == {0, 1, 2, 3}
    again, again_codes, gen_again = _epoch(pairs, 7)
    assert torch.equal(rows, again) and torch.equal(codes, again_codes)
    assert torch.equal(gen.get_state(), gen_again.get_state())  # the checkpointed state moved on alike
    other, _, _ = _epoch(pairs, 8)
    assert not torch.equal(rows, other)


def test_epoch_rows_on_cuda__ranks_without_agree_draw_on_the_host():
    pairs = torch.arange(4000, device="cuda")
    rank0, _, _ = _epoch(pairs, 3, world_size=2, rank=0)
    cpu0, _, _ = _epoch(pairs.cpu(), 3, world_size=2, rank=0)
    assert torch.equal(rank0.cpu(), cpu0)  # the host's order, whatever the GPU


def test_epoch_rows_on_cuda__a_rank_takes_rank_0s_draw_through_agree():
    """``agree`` (a broadcast in a job) hands every rank rank 0's order: rank 1's slices are then cut
    from rank 0's draw, whatever rank 1's own generator drew."""
    pairs = torch.arange(3000, device="cuda")
    drawn = []

    def record(t):  # rank 0: its draw is what everyone gets
        drawn.append(t.clone())
        return t

    rank0, _, _ = _epoch(pairs, 3, world_size=2, rank=0, agree=record)
    given = iter(drawn)
    rank1, _, _ = _epoch(pairs, 99, world_size=2, rank=1, agree=lambda t: next(given))
    assert torch.equal(torch.cat([rank0, rank1]).sort().values, pairs)  # together: every pair once
