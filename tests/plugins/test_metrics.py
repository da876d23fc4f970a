"""Retrieval metrics: ranks that never flatter a broken model, paired bootstrap intervals, the verdict."""

import math

import pytest
import torch

from jasper_core import EvalResults
from jasper_core.evaluation.report import verdict
from jasper_plugins.metrics.bootstrap import paired_bootstrap
from jasper_plugins.metrics.ranks import per_query, summarize, true_ranks


def test_true_ranks__nan_prediction_ranks_last_and_ties_are_pessimistic():
    corpus = torch.eye(4)
    queries = torch.stack([torch.eye(4)[1], torch.full((4,), float("nan")), torch.ones(4)])
    ranks = true_ranks(queries, corpus, torch.tensor([1, 1, 2]))
    assert ranks.tolist() == [1, 5, 4]  # exact hit; NaN → S + 1; all tied → last
    assert summarize(torch.full((3,), 5), (1,))["mrr"] == pytest.approx(0.2)


def test_per_query__mrr_at_10_cuts_below_rank_10():
    ranks = torch.tensor([1, 10, 11])
    assert per_query(ranks, "mrr@10").tolist() == [1.0, 0.1, 0.0]
    assert per_query(ranks, "recall@10").tolist() == [1.0, 1.0, 0.0]


def test_paired_bootstrap__interval_excludes_zero_only_for_a_real_difference():
    g = torch.Generator().manual_seed(0)
    base = torch.rand(400, generator=g)
    same = paired_bootstrap(base, base)
    assert same == {"diff": 0.0, "low": 0.0, "high": 0.0}
    better = paired_bootstrap(base + 0.05 + 0.01 * torch.randn(400, generator=g), base)
    assert better["low"] > 0 and math.isclose(better["diff"], 0.05, abs_tol=0.005)
    noise = paired_bootstrap(base + 0.2 * torch.randn(400, generator=g), base)
    assert noise["low"] < 0 < noise["high"]


def results_with(diff, low, high):
    scores = {"mrr": 0.5}
    return EvalResults(split="test", num_queries=100, corpus_size=1000, model={"zero": scores, "centroid": scores},
                       baselines={"question_cosine": {"mrr": 0.49}},
                       differences={"centroid": {"question_cosine": {"mrr": {"diff": diff, "low": low, "high": high}}}})


def test_verdict__says_not_significant_when_the_interval_contains_zero():
    line = verdict(results_with(0.006, -0.035, 0.047), "mrr", "centroid")
    assert "is not significantly different from question_cosine" in line and "[-0.035, +0.047]" in line
    assert "centroid (topic hint) steering" in line
    assert "beats question_cosine" in verdict(results_with(0.02, 0.01, 0.03), "mrr", "centroid")
    assert "WORSE" in verdict(results_with(-0.02, -0.03, -0.01), "mrr", "centroid")
    assert verdict(results_with(0.02, 0.01, 0.03), "mrr", "keyword") == ""  # a variant that was not evaluated
