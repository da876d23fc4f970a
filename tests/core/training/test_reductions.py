"""The batch-mean split of the compiled step (reductions.py): the heuristic, and inductor's code on a GPU."""

import re

import pytest
import torch

from jasper_core.training.compiled import compile_step

CUDA, CPU = torch.device("cuda"), torch.device("cpu")

# inductor (and reductions.py, which imports it) is imported by the tests, not at collection: importing it takes
# seconds, which every pytest-xdist worker would pay while collecting


@pytest.fixture
def batch_mean_choices(monkeypatch):
    """``BatchMeanChoices``, with inductor's own heuristic answering 1 (no split), as it does on a GPU below
    8,192 rows."""
    from torch._inductor.choices import InductorChoices

    from jasper_core.training.reductions import BatchMeanChoices

    monkeypatch.setattr(InductorChoices, "reduction_split_factor", staticmethod(lambda *args: 1))
    return BatchMeanChoices


@pytest.mark.parametrize("rows, split", [(4096, 32), (8192, 64), (300, 2), (200, 1), (1_000_000, 64)])
def test_batch_mean_choices__a_single_output_reduction_on_a_gpu_is_split_by_rows(batch_mean_choices, rows, split):
    assert batch_mean_choices.reduction_split_factor(CUDA, rows, 1, True) == split


@pytest.mark.parametrize("device, outputs, inner", [(CPU, 1, True), (CUDA, 2, True), (CUDA, 1, False)])
def test_batch_mean_choices__other_reductions_keep_inductors_choice(batch_mean_choices, device, outputs, inner):
    assert batch_mean_choices.reduction_split_factor(device, 4096, outputs, inner) == 1


def test_batch_mean_choices__a_split_inductor_chose_is_kept(batch_mean_choices, monkeypatch):
    from torch._inductor.choices import InductorChoices

    monkeypatch.setattr(InductorChoices, "reduction_split_factor", staticmethod(lambda *args: 7))
    assert batch_mean_choices.reduction_split_factor(CUDA, 4096, 1, True) == 7


def test_split_batch_means__installs_the_choices_only_inside():
    from torch._inductor.virtualized import V

    from jasper_core.training.reductions import BatchMeanChoices, split_batch_means

    before = type(V.choices)
    with split_batch_means():
        assert isinstance(V.choices, BatchMeanChoices)
    assert type(V.choices) is before


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_compile_step__a_batch_mean_on_a_gpu_compiles_to_a_split_reduction():
    """Inductor's code for the mean over 4,096 rows: with the split, a first kernel over 32 blocks of rows;
    without it (inductor's own choice below 8,192 rows), no such kernel."""
    from torch._inductor.utils import run_and_get_code

    x = torch.rand(4096, device="cuda")
    expected = (x * 2 + 1).log().mean()
    codes = {}
    for split in (True, False):
        torch._dynamo.reset()  # and no cached code: inductor's cache key does not include the choices hook
        mean_of_rows = compile_step(lambda t: (t * 2 + 1).log().mean(), "default", split_means=split)
        with torch._inductor.config.patch(force_disable_caches=True):
            value, code = run_and_get_code(mean_of_rows, x)
        assert torch.allclose(value, expected, rtol=1e-5)
        codes[split] = "\n".join(code)
    assert re.search(r"xnumel = 32\b", codes[True])
    assert not re.search(r"xnumel = 32\b", codes[False])
