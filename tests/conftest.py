"""Shared fixtures: loaded plugins, a synthetic dataset on disk, a tiny recipe that trains in seconds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.pop("JASPER_DISABLE_PLUGINS", None)
os.environ.pop("JASPER_STRICT_PLUGINS", None)


@pytest.fixture(scope="session")
def plugins():
    from jasper_core import load_plugins

    loaded = load_plugins(disabled=[])
    assert not loaded.failures, loaded.failures
    return loaded


@pytest.fixture(scope="session")
def registries(plugins):
    return plugins.registries


def write_synthetic(path: Path, fmt: str = "legacy", **kwargs) -> Path:
    from jasper_core.testing import synthetic_tensors
    from jasper_plugins.data.writer import write_dataset

    tensors, meta = synthetic_tensors(**kwargs)
    return write_dataset(path, tensors, meta, fmt=fmt)


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("synthetic") / "data")


TINY_RECIPE = """
[data]
type = "jasper"
path = "{path}"

[model]
type = "jepa"
hidden_dim = 32
num_layers = 2
dropout = 0.1

[target_space.encoder]
type = "residual_mlp"
hidden_dim = 32

[[loss]]
type = "jepa"

[[loss]]
type = "infonce"
weight = 0.5

[[loss]]
type = "centroid"
weight = 0.1

[[loss]]
type = "vicreg"
weight = 0.1

[optim]
lr = 1e-3

[optim.schedule]
type = "warmup_cosine"
warmup_steps = 2

[train]
epochs = 3
batch_size = 16
seed = 0
device = "cpu"

[[logger]]
type = "jsonl"
"""


@pytest.fixture
def tiny_recipe_text(synthetic_dir) -> str:
    return TINY_RECIPE.format(path=synthetic_dir)


@pytest.fixture
def tiny_recipe_file(tmp_path, tiny_recipe_text) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(tiny_recipe_text)
    return path
