"""``jasper export`` → ``jasper.load``: the loaded model predicts, routes and searches exactly as the trained one."""

import json
from pathlib import Path

import pytest
import torch

import jasper
from jasper_core import StepState, variant_code
from jasper_core.cli.main import main
from jasper_core.errors import JasperError
from jasper_core.training.run_state import load_trained
from jasper_plugins.metrics.ranks import true_ranks


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    """The tiny run's last checkpoint (trained weights, an EMA target) exported into an empty directory."""
    out = tmp_path_factory.mktemp("exported") / "model"
    out.mkdir()  # an existing empty directory is fine
    assert main(["export", str(tiny_run.path), "--out", str(out), "--checkpoint", "last"]) == 0
    return out


@pytest.fixture(scope="module")
def trained(tiny_run, plugins):
    setup, _, _ = load_trained(tiny_run.path, plugins, prefer="last")
    ds = setup.dataset
    pairs = ds.split("val")
    return setup, ds, pairs, ds.questions[ds.pair_question[pairs]]


@pytest.fixture(scope="module")
def model(exported):
    return jasper.load(exported)


def _reference(setup, ds, question, steering):
    state = StepState.after_training(setup.target_space(ds.centroids))
    with torch.no_grad():
        return setup.model(question, steering, state).prediction


def test_export__writes_weights_config_and_card(exported, tiny_run):
    assert sorted(p.name for p in exported.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    config = json.loads((exported / "config.json").read_text())
    assert config["format"] == "jasper-model" and config["version"] == 1
    assert (config["dim"], config["num_clusters"], config["embedding_model"]) == (16, 4, "synthetic")
    assert config["checkpoint"]["epoch"] == 3 and config["target_mode"] == "ema"
    assert config["steering"]["best_variant"] == "zero" and sum(config["steering"]["end"].values()) == pytest.approx(1)
    card = (exported / "README.md").read_text()
    assert "baseline question_cosine" in card and "95% CI" in card and "`topic-0`" in card
    assert not list(exported.parent.glob(".*partial*"))


def test_load__predictions_and_corpus_equal_the_trained_model(model, trained):
    setup, ds, pairs, q = trained
    assert torch.allclose(model.encode_queries(q), _reference(setup, ds, q, torch.zeros_like(q)), atol=1e-6)
    assert model.encode_queries(q).dtype == torch.float32
    assert torch.allclose(model.encode_corpus(ds.sources), setup.target_space(ds.sources), atol=1e-6)
    assert torch.allclose(model.centroids_target, setup.target_space(ds.centroids), atol=1e-6)


def test_load__cluster_name_steering_is_the_datasets_centroid_steering(model, trained):
    setup, ds, pairs, q = trained
    names = [ds.cluster_names[int(c)] for c in ds.pair_cluster[pairs]]
    code = torch.full_like(pairs, variant_code("centroid"))
    expected = ds.steering(pairs, code)
    for i, name in enumerate(names):
        assert torch.allclose(model.steering(q[i:i + 1], name), expected[i:i + 1], atol=1e-6)
    first = [i for i, n in enumerate(names) if n == names[0]]
    assert torch.allclose(model.encode_queries(q[first], steering=names[0]),
                          _reference(setup, ds, q[first], expected[first]), atol=1e-6)
    vector = expected[0]
    assert torch.allclose(model.encode_queries(q[:1], steering=vector.numpy()), model.encode_queries(q[:1], steering=names[0]))


def test_search__rank_of_the_true_source_agrees_with_true_ranks(model, trained):
    setup, ds, pairs, q = trained
    model.index(ds.sources)
    results = model.search(q, k=ds.sources.shape[0])
    got = torch.tensor([[h["id"] for h in hits].index(int(s)) + 1 for hits, s in zip(results, ds.pair_source[pairs])])
    expected = true_ranks(model.encode_queries(q), setup.target_space(ds.sources), ds.pair_source[pairs])
    assert torch.equal(got, expected)
    assert all(hits[0]["score"] >= hits[1]["score"] for hits in results)
    assert {h["cluster"] for hits in results for h in hits} <= set(ds.cluster_names)


def test_search__routed_over_every_cluster_is_exact_search_and_top1_stays_in_its_cluster(model, trained):
    _, ds, _, q = trained
    model.index(ds.sources, ids=[f"s{i}" for i in range(ds.sources.shape[0])])
    routed, exact = model.search(q, k=5, routed_top_m=model.num_clusters), model.search(q, k=5)
    assert [[h["id"] for h in hits] for hits in routed] == [[h["id"] for h in hits] for hits in exact]
    assert [h["score"] for hits in routed for h in hits] == pytest.approx([h["score"] for hits in exact for h in hits], abs=1e-5)
    weights = model.route(q)
    assert weights.shape == (q.shape[0], 4) and torch.allclose(weights.sum(1), torch.ones(q.shape[0]), atol=1e-5)
    top = weights.argmax(1)
    for hits, c in zip(model.search(q, k=500, routed_top_m=1), top):
        assert hits and {h["cluster"] for h in hits} == {ds.cluster_names[int(c)]}
    with pytest.raises(ValueError, match="k must be at least 1"):
        model.search(q, k=0)
    with pytest.raises(ValueError, match="between 1 and 4"):
        model.search(q, routed_top_m=5)


def test_load__bad_inputs_are_clear_errors(model, exported, tiny_run, tmp_path):
    q = torch.zeros(2, 16)
    with pytest.raises(ValueError, match='unknown cluster .topci-1.; did you mean "topic-1"'):
        model.encode_queries(q, steering="topci-1")
    with pytest.raises(ValueError, match="not a text model"):
        model.encode_queries(["how do I open a file?"])
    with pytest.raises(ValueError, match="not a text model"):
        model.encode_queries(q, steering=jasper.Keywords("open file"))
    with pytest.raises(ValueError, match=r"float array \[N, 16\], got shape \[2, 3\]"):
        model.encode_queries(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="steering must be"):
        model.encode_queries(q, steering=torch.zeros(3, 16))
    with pytest.raises(ValueError, match="2 ids for 3 sources"):
        model.index(torch.zeros(3, 16), ids=["a", "b"])
    fresh = jasper.load(exported)
    with pytest.raises(ValueError, match="call index"):
        fresh.search(q)
    with pytest.raises(JasperError, match="export it first"):
        jasper.load(tiny_run.path)
    (tmp_path / "config.json").write_text('{"format": "jasper-model", "version": 99}')
    with pytest.raises(JasperError, match="version 99"):
        jasper.load(tmp_path)
    with pytest.raises(AttributeError):
        jasper.nothing_here


def test_export__refuses_a_non_empty_out_and_leaves_it_alone(tiny_run, tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(["export", str(tiny_run.path), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not an empty directory" in err
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "keep me"
    assert not list(tmp_path.glob(".*partial*"))


def test_load__damaged_model_directories_are_one_line_errors(exported, tmp_path):
    import shutil

    broken = Path(shutil.copytree(exported, tmp_path / "m"))
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(JasperError, match="cannot read the weights|damaged: its CRC-32"):
        jasper.load(broken)
    config = json.loads((exported / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**config, "recipe": config["recipe"].replace("hidden_dim = 32", "hidden_dim = 8", 1)}))
    shutil.copy(exported / "model.safetensors", broken / "model.safetensors")
    with pytest.raises(JasperError, match="do not fit the stored recipe"):
        jasper.load(broken)
    (broken / "config.json").write_text("{not json")
    with pytest.raises(JasperError, match="not valid JSON"):
        jasper.load(broken)
    (broken / "config.json").write_text('{"format": "other"}')
    with pytest.raises(JasperError, match="not a jasper model config"):
        jasper.load(broken)


def test_import_jasper__is_cheap():
    """``import jasper`` loads neither torch nor the plugins; ``jasper.load`` does, on first use."""
    import subprocess
    import sys

    code = "import sys, jasper; assert callable(jasper.load); print(sorted(m for m in ('torch', 'jasper_core') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


def test_jasper_facade__names_the_implementation_objects():
    import jasper_core
    import jasper_core.inference as inference

    assert jasper.hookimpl is jasper_core.hookimpl and jasper.load_plugins is jasper_core.load_plugins
    assert jasper.JasperModel is inference.JasperModel and jasper.__version__ == jasper_core.__version__


def test_embed__long_lists_are_embedded_in_chunks_with_progress_lines(model, monkeypatch, caplog):
    import logging

    import jasper_core.inference.model as inference_model

    calls = []
    monkeypatch.setattr(inference_model, "EMBED_CHUNK", 2)
    monkeypatch.setattr(model, "_embedder", lambda texts: calls.append(len(texts)) or torch.ones(len(texts), 16))
    with caplog.at_level(logging.INFO, logger="jasper"):
        out = model.embed(["a text"] * 5)
    assert out.shape == (5, 16) and calls == [2, 2, 1] and "embedding texts: 5 done in" in caplog.text


def test_load__a_changed_byte_in_the_weights_is_refused(exported, tmp_path):
    import shutil

    damaged = Path(shutil.copytree(exported, tmp_path / "damaged"))
    weights = damaged / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0x01  # inside the last tensor: safetensors would load it as another number
    weights.write_bytes(bytes(data))
    with pytest.raises(JasperError, match=r"model\.safetensors: damaged: its CRC-32 is not the [0-9a-f]{8} that .*config\.json records"):
        jasper.load(damaged)


def test_load__uses_the_plugins_it_is_given(exported, plugins, monkeypatch):
    """`jasper search` hands the model its own loaded plugins: they build the model and embed its text, and
    the installed plugins are not loaded again."""
    import jasper_core.plugin_manager as plugin_manager
    from jasper_core.inference.model import JasperModel

    def no_second_load(*args, **kwargs):
        raise AssertionError("load_plugins called although the caller gave its plugins")

    monkeypatch.setattr(plugin_manager, "load_plugins", no_second_load)
    loaded = JasperModel.load(exported, plugins=plugins)
    assert loaded._registries is plugins.registries
    with pytest.raises(AssertionError, match="load_plugins called"):
        JasperModel.load(exported)
