"""An epoch's batches: pair indices and steering codes, and the epoch's mix of steering variants."""

import torch

from jasper_core.contracts import STEERING_VARIANTS
from jasper_core.training.batches import epoch_rows, variant_mix


def test_epoch_rows__each_batch_is_the_pairs_in_the_drawn_order():
    pairs = torch.arange(100, 137)
    gen, again = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    batches = list(epoch_rows(pairs, 8, generator=gen, drop_last=False))
    order = torch.randperm(37, generator=again)
    assert [len(rows) for rows, _ in batches] == [8, 8, 8, 8, 5]
    assert torch.equal(torch.cat([rows for rows, _ in batches]), pairs[order])


def test_variant_mix__shares_of_the_codes_seen_in_variant_order():
    codes = [torch.tensor([0, 0, 1, 3]), torch.tensor([3, 3, 0, 0])]
    expected = torch.tensor([4, 1, 0, 3], dtype=torch.float32) / 8
    assert len(STEERING_VARIANTS) == 4 and torch.allclose(variant_mix(codes), expected)
    assert variant_mix([]).tolist() == [0.0] * len(STEERING_VARIANTS)
