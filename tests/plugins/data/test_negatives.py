"""Hard negatives: sources of validation/test pairs are never training negatives (unless asked)."""

import torch

from jasper_plugins.data.dataset import JasperDataset, JasperDatasetConfig


def test_dataset__negatives_outside_the_train_split_are_masked(synthetic_dir):
    ds = JasperDataset(JasperDatasetConfig(path=str(synthetic_dir)))
    in_train = torch.zeros(ds.sources.shape[0], dtype=torch.bool)
    in_train[ds.pair_source[ds.split("train")]] = True
    masked = ds.negative_tiers < 0
    assert masked.any() and (~masked).any()
    assert bool((masked == ~in_train[ds.negatives]).all())
    everything = JasperDataset(JasperDatasetConfig(path=str(synthetic_dir), negatives_from="all"))
    assert bool((everything.negative_tiers >= 0).all())
