"""Subspace routing validated against ground truth on a synthetic dataset with known clusters."""

import pytest
import torch

from conftest import write_synthetic
from jasper_core.recipe import recipe_from_text
from jasper_core.training.assemble import build_model
from jasper_core.training.run_state import load_trained
from jasper_core.training.trainer import Trainer
from jasper_plugins.metrics.ranks import true_ranks
from jasper_plugins.metrics.routing import routed_ranks
from jasper_plugins.xai import XAI

pytestmark = pytest.mark.slow  # trains two routing models; the scenario runs in make test-all

RECIPE = """
[data]
path = "{path}"
[model]
type = "decomposed"
hidden_dim = 32
use_steering = {use_steering}
[target_space]
mode = "identity"
[model.router]
hidden_dim = 32
[[loss]]
type = "infonce"
[[loss]]
type = "routing_ce"
[[loss]]
type = "routing_entropy"
weight = 0.1
[[loss]]
type = "residual_penalty"
weight = 0.01
margin = 2.0
[[loss]]
type = "disentanglement"
weight = 0.01
[optim]
lr = 3e-3
[train]
epochs = 8
batch_size = 32
device = "cpu"
[[logger]]
type = "xai_samples"
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory, plugins):
    """Two trained models on the same data: one that uses steering, one that ignores it; and, as the
    control every ground-truth check must fail on, the untrained model (``"untrained"``).

    Questions are shifted away from their sources by a per-cluster direction, so nearest-centroid
    routing of a bare question is often wrong (about 70% right) until the router learns the topics.
    """
    root = tmp_path_factory.mktemp("subspace")
    data = write_synthetic(root / "data", per_cluster=80, dim=16, question_noise=0.3, atypical_fraction=0.3,
                           question_shift=1.5)
    out = {}
    for uses in (True, False):
        run = root / f"run-{uses}"
        text = RECIPE.format(path=data, use_steering=str(uses).lower())
        results = Trainer(recipe_from_text(text, plugins.registries), plugins, run_dir=run).fit()
        setup, _, _ = load_trained(run, plugins, prefer="last")  # the trained weights (best.pt may be epoch 0)
        out[uses] = (results, XAI(setup.model, setup.target_space, setup.dataset), setup, run)
        if uses:
            fresh, _ = build_model(setup.recipe, plugins.registries, setup.dataset, torch.device("cpu"))
            out["untrained"] = (None, XAI(fresh.eval(), setup.target_space, setup.dataset), setup, run)
    return out


def routing_accuracy(xai, setup, variant):
    """Hard routing accuracy over every pair of the synthetic data."""
    q, s, _ = all_pairs(setup, variant)
    with torch.no_grad():
        weights = xai.model(q, s, setup.step_state(1, 1)).explanation["routing_weights"]
    return float((weights.argmax(1) == setup.dataset.pair_cluster).float().mean())


def atypicality_gap(xai, setup):
    """Mean atypicality of the off-centroid pairs minus that of the others."""
    q, s, _ = all_pairs(setup)
    atyp = torch.tensor([e["atypicality"] for e in xai.explain_prediction(q, s)])
    atypical = setup.dataset.pair_relevance < 1  # the synthetic generator marks off-centroid pairs
    assert atypical.any() and (~atypical).any()
    return float(atyp[atypical].mean()) - float(atyp[~atypical].mean())


def all_pairs(setup, variant=1):
    ds = setup.dataset
    pairs = torch.arange(ds.pair_source.shape[0])
    return ds.questions[ds.pair_question], ds.steering(pairs, torch.full_like(pairs, variant)), pairs


def test_router__recovers_the_true_cluster_which_the_untrained_one_does_not(trained):
    _, xai, setup, _ = trained[True]
    untrained = trained["untrained"][1]
    assert routing_accuracy(xai, setup, 0) >= 0.9  # the bare question: the router learned the topics
    assert routing_accuracy(untrained, setup, 0) < 0.8
    # a centroid hint routes right from the start: the steering-line prior puts the hinted centroid on its line
    assert routing_accuracy(xai, setup, 1) >= 0.99 and routing_accuracy(untrained, setup, 1) >= 0.99
    assert trained[True][0].routing["zero"]["accuracy_hard"] >= 0.9


def test_atypicality__larger_off_centroid_only_once_trained(trained):
    _, xai, setup, _ = trained[True]
    assert atypicality_gap(xai, setup) > 0.3
    assert atypicality_gap(trained["untrained"][1], setup) < 0.1


def test_steering_influence__zero_when_ignored_positive_when_used(trained):
    for uses in (True, False):
        _, xai, setup, _ = trained[uses]
        q, s, _ = all_pairs(setup)
        infl = [e["steering_influence"] for e in xai.explain_prediction(q, s)]
        kl = sum(i["kl"] for i in infl) / len(infl)
        shift = sum(i["l2_shift"] for i in infl) / len(infl)
        if uses:
            assert kl > 1e-3 and shift > 1e-3, (kl, shift)  # the hint moves routing, and through it the prediction
        else:
            assert kl == pytest.approx(0.0, abs=1e-7) and shift == pytest.approx(0.0, abs=1e-6)


def test_routed_retrieval__true_subspace_never_loses_the_positive(trained):
    _, _, setup, _ = trained[True]
    ds = setup.dataset
    q, s, pairs = all_pairs(setup)
    with torch.no_grad():
        pred = setup.model(q, s, setup.step_state(1, 1)).prediction
    corpus = setup.target_space(ds.sources)
    full = true_ranks(pred, corpus, ds.pair_source)
    routed = routed_ranks(pred, corpus, ds.pair_source, ds.source_cluster, ds.pair_cluster.unsqueeze(1))
    assert bool((routed <= ds.sources.shape[0]).all())  # nothing lost
    assert bool((routed <= full).all())  # restricting to the true subspace can only help


def test_eval_json__has_routed_retrieval_next_to_full_search(trained):
    results, _, _, run = trained[True]
    assert set(results.routed["zero"]) == {"true_cluster", "top1", "top3", "soft"}
    assert results.routed["zero"]["true_cluster"]["recall@10"] >= results.routed["zero"]["top1"]["recall@10"] - 1e-9
    assert results.routed["zero"]["top3"]["recall@10"] >= results.routed["zero"]["top1"]["recall@10"] - 1e-9
    assert {"full_ms_per_1k_queries", "routed_top1_ms_per_1k_queries"} == set(results.search_timing)
    assert sum(results.routing["zero"]["load"].values()) == pytest.approx(1.0)
    assert (run / "xai" / "val-epoch-8.json").exists()


def test_xai__explanation_shape_json_figure_and_comparison(trained, tmp_path):
    import json

    from PIL import Image

    from jasper_plugins.xai.figure import explanation_figure

    _, xai, setup, _ = trained[True]
    q, s, _ = all_pairs(setup)
    e = xai.explain_prediction(q[0], s[0])
    assert e["primary_subspace"] in setup.dataset.cluster_names
    assert abs(sum(e["routing_distribution"].values()) - 1) < 1e-4
    assert e["routing_source"] == "router" and len(e["similar_pairs"]) == 3
    sims = [p["similarity"] for p in e["similar_pairs"]]
    assert sims == sorted(sims, reverse=True)
    assert all(p["pair"] in setup.dataset.split("train").tolist() for p in e["similar_pairs"])  # known pairs only
    data = json.loads(XAI.to_json(e))
    assert {"primary_subspace", "confidence", "routing_distribution", "steering_influence", "atypicality",
            "similar_pairs", "actionable_signal"} <= set(data) and "prediction" not in data
    batch = xai.explain_prediction(q[:4], s[:4])
    assert isinstance(batch, list) and len(batch) == 4
    cmp = xai.compare_steering_influence(q[0], {"none": torch.zeros_like(s[0]), "centroid": s[0]})
    assert cmp["none"]["steering_influence"]["kl"] == pytest.approx(0.0, abs=1e-7)
    path = explanation_figure(e, tmp_path / "fig.png")
    with Image.open(path) as img:
        img.verify()


def test_xai__works_for_a_plain_jepa_model(tiny_recipe_text, tmp_path, plugins):
    Trainer(recipe_from_text(tiny_recipe_text, plugins.registries, overrides=["train.epochs=1"]), plugins,
            run_dir=tmp_path / "run").fit()
    setup, _, _ = load_trained(tmp_path / "run", plugins)
    q, s, _ = all_pairs(setup)
    e = XAI(setup.model, setup.target_space, setup.dataset).explain_prediction(q[0], s[0])
    assert e["routing_source"] == "nearest_centroid" and e["primary_subspace"] in setup.dataset.cluster_names


@pytest.mark.slow
def test_explain_cli__trained_subspace_on_real_text(tmp_path, capsys):
    """`jasper train subspace` then `jasper explain` on a text question prints a routing with cluster names."""
    import json

    from jasper_core.cli.main import main

    run = tmp_path / "run"
    assert main(["train", "subspace", "--run-dir", str(run), "--set", "train.epochs=4", "--set", "logger=[]"]) == 0
    results = json.loads((run / "eval.json").read_text())
    assert "routed" in results and "routing" in results
    capsys.readouterr()
    assert main(["explain", str(run), "--question", "Parse an email message from a bytes object.",
                 "--steering-cluster", "email", "--json", "--figure", str(tmp_path / "e.png")]) == 0
    e = json.loads(capsys.readouterr().out)
    from jasper_plugins.data.dataset import embedded_path

    names = json.loads((embedded_path() / "meta.json").read_text())["cluster_names"]
    assert e["primary_subspace"] in names and set(e["routing_distribution"]) == set(names)
    assert e["steering_influence"]["steered"] is True and (tmp_path / "e.png").exists()
    assert main(["explain", str(run), "--question", "Parse an email message from a bytes object."]) == 0
    out = capsys.readouterr().out
    assert "routed to" in out and "similar known questions" in out and "signal" in out
