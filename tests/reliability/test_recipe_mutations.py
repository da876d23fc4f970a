"""Random hostile settings through ``jasper check`` and ``jasper train`` (``make test-all``): the
command succeeds, or says what is wrong in one line / one recipe-error block; never a traceback."""

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jasper_core.cli.main import main

pytestmark = pytest.mark.slow

SIZE = st.one_of(st.integers(-3, 3), st.integers(0, 10**7))
NUMBER = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-2, 2), st.sampled_from([0.0, 1.0, 1e-308, 1e300]))
SETTINGS = {
    "train.batch_size": SIZE, "eval.batch_size": SIZE, "eval.ks": st.lists(SIZE, max_size=3),
    "eval.routed_top_m": st.lists(SIZE, max_size=3), "model.hidden_dim": st.integers(1, 64), "model.dropout": NUMBER,
    "model.steering_gate_gain": NUMBER, "model.input_noise": NUMBER, "loss[1].weight": NUMBER,
    "loss[1].temperature": NUMBER, "loss[1].tier_weights": st.lists(NUMBER, max_size=3), "loss[2].temperature": NUMBER,
    "loss[3].std_scale": NUMBER, "optim.lr": NUMBER, "optim.momentum": NUMBER, "optim.grad_clip": NUMBER,
    "optim.type": st.sampled_from(["sgd", "adam", "adamw"]), "target_space.mode": st.sampled_from(["ema", "identity", "frozen"]),
    "target_space.decay.start": NUMBER, "target_space.decay.end": NUMBER,
    "train.precision": st.sampled_from(["fp32", "bf16", "fp16"]), "train.loss_weighting": st.sampled_from(["fixed", "uncertainty"]),
    "train.drop_last": st.booleans(), "model.type": st.sampled_from(["jepa", "decomposed"]),
    "eval.split": st.sampled_from(["val", "test"]), "optim.schedule.warmup_steps": SIZE,
    "eval.variants": st.lists(st.sampled_from(["zero", "centroid", "keyword", "residual"]), max_size=4),
}
MUTATIONS = st.dictionaries(st.sampled_from(sorted(SETTINGS)), st.none(), min_size=1, max_size=3).flatmap(
    lambda keys: st.fixed_dictionaries({k: SETTINGS[k] for k in keys}))


def toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return json.dumps(value)


def outcome(argv, capsys) -> None:
    capsys.readouterr()
    rc = main(argv)  # an exception escaping main is the failure this test looks for
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip() and not line.startswith("warning")]
    assert rc in (0, 1, 2), rc
    if rc == 1:
        assert len(err) == 1 and err[0].startswith("error: "), err
    if rc == 2:
        assert err[0].endswith(":") and all(line.startswith("  ") for line in err[1:]), err  # the recipe-error block


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=MUTATIONS)
def test_check__random_hostile_settings(tiny_recipe_file, capsys, mutations):
    outcome(["check", str(tiny_recipe_file), *[a for k, v in mutations.items() for a in ("--set", f"{k}={toml(v)}")]], capsys)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=MUTATIONS)
def test_train__random_hostile_settings(tiny_recipe_file, tmp_path_factory, capsys, mutations):
    run = tmp_path_factory.mktemp("mut") / "run"
    outcome(["train", str(tiny_recipe_file), "--run-dir", str(run), "--set", "train.epochs=1",
             *[a for k, v in mutations.items() for a in ("--set", f"{k}={toml(v)}")]], capsys)
