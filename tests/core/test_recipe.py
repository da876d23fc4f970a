"""Recipe loading: every problem reported at once, with dotted paths, did-you-mean and provenance."""

import pytest

from jasper_core.errors import RecipeError
from jasper_core.recipe import builtin_recipes, load_recipe, recipe_from_text, recipe_to_toml

BROKEN = """
[model]
type = "jepa"
hidden_dim = "wide"

[[loss]]
type = "jepa"

[[loss]]
type = "infonce"
temperature = -0.1
temprature = 0.2

[[loss]]
type = "infonse"

[train]
epochs = 0
lr = 1e-3

[trian]
seed = 1
"""


def problems(text, registries, overrides=()):
    with pytest.raises(RecipeError) as err:
        recipe_from_text(text, registries, source="broken.toml", overrides=overrides)
    return err.value


def test_recipe__all_problems_reported_together(registries):
    err = problems(BROKEN, registries)
    text = str(err)
    assert text.startswith("broken.toml has 7 problems:")
    assert "model.hidden_dim: expected int, got 'wide'" in text
    assert 'loss[1].temperature: must be > 0, got -0.1   (loss "infonce" from jasper-retrieval 0.1.0)' in text
    assert 'loss[1]: unknown key "temprature"; did you mean "temperature"?' in text
    assert 'loss[2].type: "infonse" is not a registered loss; did you mean "infonce"?' in text
    assert "available: centroid, disentanglement, infonce, jepa, residual_penalty, routing_ce, routing_entropy, vicreg" in text
    assert "train.epochs: must be >= 1, got 0" in text
    assert 'train: unknown key "lr"; it lives in [optim]' in text
    assert '<recipe>: unknown key "trian"; did you mean "train"?' in text


def test_recipe__defaults_fill_a_minimal_recipe(registries):
    recipe = recipe_from_text("", registries)
    assert recipe.model.type == "jepa" and recipe.loss[0].type == "jepa"
    assert recipe.target_space.decay.config.start == 0.996 and recipe.target_space.decay.config.end == 0.999


def test_recipe__overrides_are_typed_and_validated(registries):
    recipe = recipe_from_text("", registries, overrides=["optim.lr=1e-3", "model.hidden_dim=64", "train.device=cpu"])
    assert recipe.optim.lr == 1e-3 and recipe.model.config.hidden_dim == 64 and recipe.train.device == "cpu"
    err = problems("", registries, overrides=["optim.lr=-1", "loss[3].weight=1", "nonsense"])
    text = str(err)
    assert "optim.lr: must be > 0, got -1" in text
    assert "--set loss[3].weight=1: loss[3].weight: index [3] is out of range" in text
    assert "--set nonsense: expected path=value" in text


def test_recipe__override_can_switch_component_type(registries):
    recipe = recipe_from_text('[[loss]]\ntype = "jepa"\n', registries, overrides=['loss[0].type=infonce'])
    assert recipe.loss[0].type == "infonce"


def test_recipe__missing_plugin_distribution_is_reported(registries):
    err = problems('requires = ["jasper-not-installed>=1.0"]', registries)
    assert 'requires[0]: plugin distribution "jasper-not-installed" is not installed' in str(err)


def test_recipe__toml_syntax_error(registries):
    err = problems("[model\ntype=", registries)
    assert "<toml>: not valid TOML" in str(err)


def test_recipe__builtin_recipes_load_and_round_trip(registries):
    names = builtin_recipes()
    assert {"quickstart", "jepa_base"} <= set(names)
    for name in names:
        recipe = load_recipe(name, registries)
        again = recipe_from_text(recipe_to_toml(recipe), registries)
        assert again == recipe


def test_recipe__builtin_recipes_open_with_their_command():
    for name, text in builtin_recipes().items():
        assert text.splitlines()[0] == f"# jasper train {name}", name


def test_recipe__jepa_base_has_the_reference_sizes_and_regularisation(registries):
    r = load_recipe("jepa_base", registries)
    assert r.model.config.hidden_dim == 512 and r.model.config.num_layers == 3
    assert {c.type: c.options["weight"] for c in r.loss} == {"jepa": 1.0, "infonce": 0.5, "centroid": 0.1, "vicreg": 0.1}
    assert r.optim.lr == 1e-5 and r.optim.weight_decay == 0.1 and r.model.config.dropout == 0.3
    assert r.train.batch_size == 64 and r.train.epochs == 50


def test_recipe__unknown_recipe_name_suggests(registries):
    with pytest.raises(RecipeError, match='did you mean "quickstart"'):
        load_recipe("quikstart", registries)


def test_same_run__a_key_added_since_compares_as_its_default(registries):
    """A run saved before a recipe key existed (here train.compile_tuning) still resumes: resolved again, the
    missing key takes its default; a value that really differs still differs, and so does the raw text."""
    from jasper_core.recipe import same_run

    now = recipe_to_toml(load_recipe("quickstart", registries))
    saved_before = now.replace("compile_tuning = false\n", "")
    assert saved_before != now and not same_run(saved_before, now)
    assert same_run(saved_before, now, registries)
    assert not same_run(saved_before.replace("seed = 0", "seed = 1"), now, registries)
    assert not same_run("not a recipe [", now, registries)
