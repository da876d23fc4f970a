"""The contract checks of jasper_core.testing: every built-in passes, and broken components fail."""

import pytest
import torch

from jasper_core import Prediction, Predictor, Router, hookimpl
from jasper_core.recipe import recipe_from_text
from jasper_core.testing import check_logger, check_model, check_router, check_schedule


def built(registries, text, section):
    """Build the component at ``section`` of a small recipe (nested components included)."""
    recipe = recipe_from_text(text, registries)
    return getattr(recipe, section)


def model_factory(registries, text):
    def make(dim, num_clusters):
        comp = built(registries, text, "model")
        encoder = built(registries, text, "target_space").encoder.build(registries, seed=0, dim=dim)
        return comp.build(registries, seed=0, dim=dim, num_clusters=num_clusters,
                          centroids=torch.randn(num_clusters, dim), encoder=encoder)
    return make


@pytest.mark.parametrize("text", ['[model]\ntype = "jepa"\nhidden_dim = 16\n',
                                  '[model]\ntype = "decomposed"\nhidden_dim = 16\n[model.router]\nhidden_dim = 8\n'],
                         ids=["jepa", "decomposed"])
def test_check_model__builtin_models_pass(registries, text):
    check_model(model_factory(registries, text))


def test_check_router__gumbel_softmax_passes(registries):
    router = built(registries, '[model]\ntype = "decomposed"\n[model.router]\nhidden_dim = 8\n', "model").nested()["router"]
    check_router(lambda dim, c: router.build(registries, seed=0, dim=dim, num_clusters=c))


def test_check_schedule__every_registered_schedule_passes(registries):
    for entry in registries.schedule:
        check_schedule(entry.factory(entry.config()))


@pytest.mark.parametrize("name", ["console", "jsonl", "csv", pytest.param("plots", marks=pytest.mark.slow), "xai_samples"])
def test_check_logger__builtin_loggers_pass(registries, tmp_path, name):
    entry = registries.logger.get(name)
    check_logger(entry.factory(entry.config(), run_dir=tmp_path), tmp_path)


class UnnormalisedRouter(Router):
    def __init__(self, dim, num_clusters):
        super().__init__()
        self.net = torch.nn.Linear(2 * dim, num_clusters)

    def forward(self, question, steering, state):
        logits = self.net(torch.cat([question, steering], -1))
        return logits.exp(), logits  # not a distribution


def test_check_router__rejects_weights_that_are_not_a_distribution():
    with pytest.raises(AssertionError, match="sum to 1"):
        check_router(UnnormalisedRouter)


class DetachedEncoderModel(Predictor):
    def __init__(self, dim, num_clusters):
        super().__init__()
        self.online_encoder = torch.nn.Linear(dim, dim)
        self.head = torch.nn.Linear(dim, dim)

    def forward(self, question, steering, state):
        return Prediction(self.head(self.online_encoder(question).detach()))


def test_check_model__rejects_an_online_encoder_without_gradient():
    with pytest.raises(AssertionError, match="online encoder receives no gradient"):
        check_model(DetachedEncoderModel)


def test_check_schedule__rejects_a_stateful_schedule():
    calls = []

    def counting(step, total):
        calls.append(step)
        return float(len(calls))

    with pytest.raises(AssertionError, match="pure function"):
        check_schedule(counting)


class MisspeltLogger:
    @hookimpl
    def jasper_epoch_ended(self, run, epoch, metrics):
        pass


def test_check_logger__rejects_a_misspelt_hook(tmp_path):
    with pytest.raises(Exception, match="jasper_epoch_ended"):
        check_logger(MisspeltLogger(), tmp_path)
