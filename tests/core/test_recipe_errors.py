"""Each kind of recipe mistake, and each malformed ``--set``, gets its own precise message."""

import pytest

from jasper_core.errors import RecipeError
from jasper_core.recipe import recipe_from_text

CASES = [
    # (recipe text, --set overrides, the one problem reported)
    ('[train]\nprecision = "fp61"\n', [],
     "train.precision: must be one of 'fp32', 'bf16', 'fp16', got 'fp61'; did you mean \"fp16\"?"),
    ("[optim]\nbetas = [0.9]\n", [], "optim.betas: expected 2 values, got 1"),
    ("[train]\ncompile_tuning = true\n", [],
     'train: train.compile_tuning tunes the kernels train.compile generates; set train.compile (e.g. "default") '
     "or compile_tuning = false"),
    ('[optim]\nbetas = [0.9, "x"]\n', [], "optim.betas[1]: expected float, got 'x'"),
    ('[eval]\nks = "abc"\n', [], "eval.ks: expected list of int, got 'abc'"),
    ("[train]\nepochs = true\n", [], "train.epochs: expected int, got True"),
    ("[train]\nseed = 1.5\n", [], "train.seed: expected int, got 1.5"),
    ("loss = 3\n", [], "loss: must be a list of tables ([[loss]]), got 3"),
    ("[train]\ncurriculum = 3\n", [], 'train.curriculum: must be a table with a "type" key, got 3'),
    ('[eval]\nbest_variant = "keyword"\nvariants = ["zero"]\n', [],
     "eval: eval.best_variant 'keyword' is not among eval.variants (zero); add it there or choose one of them"),
    ('[[loss]]\ntype = "vicreg"\nstd_threshold = "x"\n', [],
     'loss[0].std_threshold: expected float, got \'x\'   (loss "vicreg" from jasper-retrieval 0.1.0)'),
    ('[[loss]]\ntype = "vicreg"\nstd_threshold = -1.0\n', [],
     'loss[0].std_threshold: must be > 0, got -1.0   (loss "vicreg" from jasper-retrieval 0.1.0)'),
    ("", ["a..b=1"], "--set a..b=1: cannot read the path 'a..b'; write it like loss[1].weight"),
    ("", ["[0].x=1"], "--set [0].x=1: cannot read the path '[0].x'"),
    ("", ["loss[0]x=1"], "--set loss[0]x=1: cannot read the path 'loss[0]x'"),
    ("[optim]\nlr = 0.1\n", ["optim.lr.x=1"], "--set optim.lr.x=1: optim.lr.x: 'x' is not inside a table"),
    ("[optim]\nlr = 0.1\n", ["optim.lr.x.y=1"], "--set optim.lr.x.y=1: optim.lr.x.y: 'x' is not inside a table"),
    ('[[loss]]\ntype = "jepa"\n', ["loss[0][5]=1"], "--set loss[0][5]=1: loss[0][5]: index [5] is out of range"),
]


@pytest.mark.parametrize("text, overrides, message", CASES, ids=[c[2].split(":")[0] + str(c[1]) for c in CASES])
def test_recipe__each_mistake_has_its_message(registries, text, overrides, message):
    with pytest.raises(RecipeError) as err:
        recipe_from_text(text, registries, overrides=overrides)
    assert len(err.value.problems) == 1, str(err.value)
    assert message in str(err.value)


def test_recipe__overrides_set_values_of_every_type(registries):
    recipe = recipe_from_text('[[loss]]\ntype = "jepa"\n', registries, overrides=[
        "optim.type=sgd", "optim.betas=[0.8, 0.9]", "loss[0].weight=0.5", "eval.ks=[1, 3]", "train.drop_last=false"])
    assert recipe.optim.type == "sgd" and recipe.optim.betas == (0.8, 0.9) and recipe.loss[0].options["weight"] == 0.5
    assert recipe.eval.ks == (1, 3) and recipe.train.drop_last is False
