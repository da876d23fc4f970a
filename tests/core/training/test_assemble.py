"""Assembly: each component seeded from train.seed and its recipe path; only declared components built."""

import pytest
import torch

from jasper_core.recipe import recipe_from_text
from jasper_core.training.assemble import build_model
from jasper_plugins.data.dataset import JasperDataset, JasperDatasetConfig


@pytest.fixture(scope="module")
def synthetic_dataset(synthetic_dir):
    return JasperDataset(JasperDatasetConfig(path=str(synthetic_dir)))


def model_weights(text, registries, dataset, overrides=()):
    recipe = recipe_from_text(text, registries, overrides=list(overrides))
    model, _ = build_model(recipe, registries, dataset, torch.device("cpu"))
    return model


def test_build_model__weights_do_not_depend_on_other_components(tiny_recipe_text, registries, synthetic_dataset):
    base = model_weights(tiny_recipe_text, registries, synthetic_dataset)
    wider_encoder = model_weights(tiny_recipe_text, registries, synthetic_dataset, ["target_space.encoder.hidden_dim=64"])
    assert torch.equal(base.steering_encoder[0].weight, wider_encoder.steering_encoder[0].weight)
    assert base.online_encoder.net[0].weight.shape != wider_encoder.online_encoder.net[0].weight.shape
    routed = ["model.type=decomposed"]
    small_router = model_weights(tiny_recipe_text, registries, synthetic_dataset, routed + ["model.router.hidden_dim=8"])
    big_router = model_weights(tiny_recipe_text, registries, synthetic_dataset, routed + ["model.router.hidden_dim=64"])
    assert torch.equal(small_router.fine_head[0].weight, big_router.fine_head[0].weight)
    assert small_router.router.net[0].weight.shape != big_router.router.net[0].weight.shape


def test_build_model__another_seed_changes_the_weights(tiny_recipe_text, registries, synthetic_dataset):
    a = model_weights(tiny_recipe_text, registries, synthetic_dataset)
    b = model_weights(tiny_recipe_text, registries, synthetic_dataset, ["train.seed=1"])
    assert not torch.equal(a.steering_encoder[0].weight, b.steering_encoder[0].weight)


def test_build_model__a_model_that_does_not_route_builds_no_router(tiny_recipe_text, registries, synthetic_dataset):
    jepa = model_weights(tiny_recipe_text, registries, synthetic_dataset)
    assert not any("router" in name for name, _ in jepa.named_modules())
    routed = model_weights(tiny_recipe_text, registries, synthetic_dataset, ["model.type=decomposed"])
    assert any("router" in name for name, _ in routed.named_modules())
