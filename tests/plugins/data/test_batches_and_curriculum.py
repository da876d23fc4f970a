"""Epoch batching (seeded, vectorised, drop_last) and the steering curriculum."""

import pytest
import torch

from jasper_core.training.batches import epoch_batches
from jasper_plugins.data.dataset import JasperDataset, JasperDatasetConfig
from jasper_plugins.schedules.steering_curriculum import SteeringCurriculum, SteeringCurriculumConfig


@pytest.fixture(scope="module")
def ds(synthetic_dir):
    return JasperDataset(JasperDatasetConfig(path=str(synthetic_dir)), device="cpu")


def pairs_of(batches):
    return torch.cat([b.pair_index for b in batches])


def test_epoch_batches__seeded_permutation_covers_the_split(ds):
    train = ds.split("train")
    a = list(epoch_batches(ds, train, 16, generator=torch.Generator().manual_seed(1), drop_last=False))
    b = list(epoch_batches(ds, train, 16, generator=torch.Generator().manual_seed(1), drop_last=False))
    assert torch.equal(pairs_of(a), pairs_of(b))
    assert sorted(pairs_of(a).tolist()) == sorted(train.tolist())
    c = list(epoch_batches(ds, train, 16, generator=torch.Generator().manual_seed(2), drop_last=False))
    assert not torch.equal(pairs_of(a), pairs_of(c))


def test_epoch_batches__drop_last(ds):
    train = ds.split("train")
    kept = list(epoch_batches(ds, train, 16, generator=torch.Generator().manual_seed(0), drop_last=True))
    assert all(len(b) == 16 for b in kept) and len(kept) == len(train) // 16


def test_epoch_batches__variant_probabilities_and_forcing(ds):
    train = ds.split("train").repeat(40)
    gen = torch.Generator().manual_seed(0)
    codes = torch.cat([b.steering_variant for b in epoch_batches(ds, train, 256, generator=gen, variant_probs=[0.1, 0.2, 0.3, 0.4])])
    share = torch.bincount(codes, minlength=4).float() / len(codes)
    assert torch.allclose(share, torch.tensor([0.1, 0.2, 0.3, 0.4]), atol=0.03)
    forced = next(epoch_batches(ds, train, 64, generator=gen, variant="keyword"))
    assert bool((forced.steering_variant == 2).all())
    with pytest.raises(ValueError, match="unknown steering variant"):
        next(epoch_batches(ds, train, 64, generator=gen, variant="loud"))


def test_curriculum__moves_probability_toward_rich_variants():
    cur = SteeringCurriculum(SteeringCurriculumConfig())
    start, mid, end = cur(0, 100), cur(25, 100), cur(100, 100)
    assert start == pytest.approx((0.5, 0.5, 0.0, 0.0))
    assert end == pytest.approx((0.25, 0.25, 0.25, 0.25)) and cur(60, 100) == pytest.approx(end)
    assert start[2] < mid[2] < end[2] and sum(mid) == pytest.approx(1.0)


def test_epoch_batches__class_balanced(tmp_path):
    from conftest import write_synthetic

    data = write_synthetic(tmp_path / "d", num_clusters=3, per_cluster=60)
    ds = JasperDataset(JasperDatasetConfig(path=str(data)), device="cpu")
    # an unbalanced split: all of cluster 0's pairs, a tenth of the others
    pairs = torch.cat([torch.arange(0, 60), torch.arange(60, 66), torch.arange(120, 126)])
    gen = torch.Generator().manual_seed(0)
    clusters = torch.cat([b.cluster for _ in range(20) for b in epoch_batches(
        ds, pairs, 24, generator=gen, balance_by=ds.pair_cluster[pairs])])
    share = torch.bincount(clusters, minlength=3).float() / len(clusters)
    assert torch.allclose(share, torch.full((3,), 1 / 3), atol=0.04), share
