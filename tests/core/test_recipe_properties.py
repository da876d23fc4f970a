"""Hypothesis properties of recipe structuring."""

import typing

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jasper_core.errors import RecipeError
from jasper_core.recipe import recipe_from_text, structure_config, unstructure_config
from jasper_core.recipe.component import KIND_KEY

def _strategy(tp, default=attrs.NOTHING):
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return st.sampled_from(typing.get_args(tp))
    if origin in (typing.Union, getattr(__import__("types"), "UnionType")):
        inner = [a for a in typing.get_args(tp) if a is not type(None)][0]
        return st.one_of(st.none(), _strategy(inner, default))
    if origin is tuple:
        args = typing.get_args(tp)
        if args and args[-1] is Ellipsis:
            any_length = st.lists(_base(args[0]), max_size=4)
            if isinstance(default, tuple):  # also draw the default's length (a fixed-size field, e.g. one weight per variant)
                any_length = st.one_of(any_length, st.lists(_base(args[0]), min_size=len(default), max_size=len(default)))
            return any_length.map(tuple)
        return st.tuples(*(_base(a) for a in args))
    return _base(tp)


def _base(tp):
    return {
        int: st.integers(-5, 5000),
        # mostly in [0, 1] where probabilities, decays and weights live, sometimes anywhere in [-10, 10]
        float: st.one_of(st.floats(0, 1), st.floats(-10, 10, allow_nan=False)).map(lambda v: round(v, 6)),
        bool: st.booleans(),
        str: st.sampled_from(["gelu", "relu", "embedded", "x", "mrr", "plots"]),
    }[tp]


def _passes(field, value):
    if field.validator is None or value is None:
        return True
    try:
        field.validator(None, field, value)
    except (ValueError, TypeError):
        return False
    return True


def _field_strategy(field):
    """Values of one config field that its own validator accepts (validators check one field each)."""
    return _strategy(field.type, field.default).filter(lambda v: _passes(field, v))


def config_classes(registries):
    return sorted({e.config for e in registries.entries() if e.config is not None}, key=lambda c: c.__qualname__)


def test_config_round_trip__every_registered_config(registries):
    classes = config_classes(registries)
    assert len(classes) >= 10
    for cls in classes:
        attrs.resolve_types(cls)
        # nested components (a router, a schedule) round-trip through recipes, tested there
        fields = {f.name: _field_strategy(f) for f in attrs.fields(cls) if KIND_KEY not in f.metadata}

        @settings(suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
        @given(st.fixed_dictionaries(fields))
        def check(values):
            cfg = cls(**values)
            again, problems = structure_config(cls, unstructure_config(cfg), registries=registries)
            assert not problems, problems
            assert {k: getattr(again, k) for k in fields} == {k: getattr(cfg, k) for k in fields}

        check()


RECIPE_KEYS = ["data", "model", "target_space", "loss", "optim", "train", "eval", "logger", "type", "lr", "epochs",
               "weight", "temperature", "hidden_dim", "decay", "start", "path", "requires", "schedule", "device"]
toml_values = st.recursive(
    st.one_of(st.integers(-3, 100), st.floats(allow_nan=True), st.booleans(), st.text(max_size=8),
              st.sampled_from(["jepa", "infonce", "console", "cosine", "auto", "cpu", "fp16", "zero"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(RECIPE_KEYS), inner, max_size=4)),
    max_leaves=12,
)


@given(st.dictionaries(st.sampled_from(RECIPE_KEYS), toml_values, max_size=6))
def test_recipe__random_documents_only_raise_recipe_error(registries, data):
    import tomli_w

    try:
        text = tomli_w.dumps(data)
    except (TypeError, ValueError):
        return
    try:
        recipe_from_text(text, registries)
    except RecipeError as exc:
        assert exc.problems and all(str(p) for p in exc.problems)


@given(st.data())
def test_recipe__mutated_quickstart_only_raises_recipe_error(registries, data):
    from jasper_core.recipe import builtin_recipes

    text = builtin_recipes()["quickstart"]
    lines = text.splitlines()
    i = data.draw(st.integers(0, len(lines) - 1))
    mutation = data.draw(st.sampled_from(["delete", "garble", "retype", "dup"]))
    if mutation == "delete":
        del lines[i]
    elif mutation == "garble":
        lines[i] = lines[i][: data.draw(st.integers(0, max(len(lines[i]), 0)))] + data.draw(st.text(max_size=4))
    elif mutation == "retype" and "=" in lines[i]:
        key = lines[i].split("=")[0]
        lines[i] = key + "= " + data.draw(st.sampled_from(['"x"', "-1", "[]", "{a=1}", "true", "1e400", "nan"]))
    else:
        lines.insert(i, lines[i])
    try:
        recipe_from_text("\n".join(lines), registries)
    except RecipeError:
        pass
