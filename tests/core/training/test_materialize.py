"""The opaque copy of the batch's integer labels (materialize.py)."""

from __future__ import annotations

import attrs
import pytest
import torch

from jasper_core.contracts import Batch
from jasper_core.training.materialize import materialize, with_materialized_labels


def small_batch(b: int = 4, k: int = 2, d: int = 3) -> Batch:
    g = torch.Generator().manual_seed(0)
    return Batch(question=torch.randn(b, d, generator=g), steering=torch.randn(b, d, generator=g),
                 steering_variant=torch.arange(b) % 4, source=torch.randn(b, d, generator=g),
                 negatives=torch.randn(b, k, d, generator=g), negative_tiers=torch.zeros(b, k, dtype=torch.long),
                 cluster=torch.arange(b), relevance=torch.ones(b), source_index=torch.arange(b) + 10,
                 pair_index=torch.arange(b) + 20)


def test_with_materialized_labels__integer_fields_are_equal_copies_and_embeddings_are_untouched():
    batch = small_batch()
    out = with_materialized_labels(batch)
    for field in attrs.fields(Batch):
        before, after = getattr(batch, field.name), getattr(out, field.name)
        assert torch.equal(before, after), field.name
        assert (after is before) == before.is_floating_point(), field.name


@pytest.mark.slow  # compiles
def test_materialize__stays_an_opaque_call_in_the_compiled_code_where_a_plain_copy_would_fuse():
    from torch._inductor.utils import run_and_get_code

    table, rows = torch.arange(100) * 3, torch.tensor([5, 1, 7])

    def labels_sum(copy):
        return torch.compile(lambda t, i: (copy(t.index_select(0, i)) + 1).sum(), fullgraph=True)

    total, code = run_and_get_code(labels_sum(materialize), table, rows)
    assert int(total) == (15 + 1) + (3 + 1) + (21 + 1)
    assert "jasper.materialize" in "\n".join(code)
    torch._dynamo.reset()
    _, plain = run_and_get_code(labels_sum(torch.clone), table, rows)
    assert "clone" not in "\n".join(plain).split("def call(")[-1]  # inductor fused the plain copy away
