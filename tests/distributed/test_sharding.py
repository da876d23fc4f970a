"""The sharding rule: ranks' batches and evaluation shards, without starting a process group."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from jasper_core.distributed import World, batch_rows, from_main, gather_shards, shard_bounds, shard_sizes
from jasper_core.training.batches import epoch_batches, num_batches


@given(n=st.integers(0, 200), world=st.integers(1, 9))
def test_shard_bounds__every_row_in_exactly_one_shard_and_sizes_differ_by_at_most_one(n, world):
    bounds = [shard_bounds(n, world, r) for r in range(world)]
    rows = [i for start, stop in bounds for i in range(start, stop)]
    assert rows == list(range(n))
    assert max(shard_sizes(n, world)) - min(shard_sizes(n, world)) <= 1


def test_shard_bounds__a_rank_outside_the_world_is_refused():
    with pytest.raises(ValueError, match=r"rank must be in \[0, 2\), got 2"):
        shard_bounds(10, 2, 2)


@given(start=st.integers(0, 50), size=st.integers(0, 40), world=st.integers(1, 5))
def test_batch_rows__equal_shares_in_order_and_fewer_than_world_size_rows_left_out(start, size, world):
    shares = [batch_rows(start, start + size, world, r) for r in range(world)]
    assert len({stop - first for first, stop in shares}) == 1
    taken = [i for first, stop in shares for i in range(first, stop)]
    assert taken == list(range(start, start + len(taken))) and size - len(taken) < world


@pytest.mark.parametrize("drop_last", [True, False])
def test_epoch_batches__two_ranks_together_are_the_one_process_epoch_at_twice_the_batch(synthetic_dir, registries, drop_last):
    from jasper_plugins.data.dataset import JasperDataset, JasperDatasetConfig

    ds = JasperDataset(JasperDatasetConfig(path=str(synthetic_dir)), device="cpu")
    pairs = ds.split("train")
    probs = [0.25] * 4

    def epoch(batch_size, **kw):
        gen = torch.Generator().manual_seed(3)
        return list(epoch_batches(ds, pairs, batch_size, generator=gen, variant_probs=probs, drop_last=drop_last, **kw))

    single = epoch(14)
    ranks = [epoch(7, world_size=2, rank=r) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == num_batches(len(pairs), 7, drop_last, 2)
    for step, one in enumerate(single[: len(ranks[0])]):
        both = [ranks[r][step] for r in range(2)]
        assert len(both[0]) == len(both[1])
        joined = torch.cat([b.source for b in both]), torch.cat([b.steering_variant for b in both])
        n = len(joined[0])
        assert len(one) - n < 2  # only an odd pair of the last, partial batch may be left out
        assert torch.equal(joined[0], one.source[:n]) and torch.equal(joined[1], one.steering_variant[:n])


@pytest.mark.parametrize(("n", "batch", "drop_last", "world", "steps"), [
    (0, 4, True, 2, 0), (10, 4, True, 1, 2), (10, 4, False, 1, 3), (10, 4, True, 2, 1), (10, 4, False, 2, 2),
    (9, 4, False, 2, 1), (3, 4, True, 2, 1), (1, 4, False, 2, 0), (17, 4, False, 2, 2), (18, 4, False, 2, 3),
])
def test_num_batches__steps_per_epoch_for_a_world(n, batch, drop_last, world, steps):
    assert num_batches(n, batch, drop_last, world) == steps


def test_collectives__one_process_they_are_identities():
    x = torch.arange(6.0).reshape(3, 2)
    assert gather_shards(x, 3) is x
    assert from_main(lambda: 7) == 7
    assert World().is_main and not World().distributed and World(rank=1, size=2, joined=True).distributed
