"""An opaque copy that the compiler cannot fuse through: the gathered batch's integer labels are
written to memory before the losses read them.

Under ``train.compile = "default"`` on a GPU the step gathers its batch inside the compiled graph
(``step.Rows``). Inductor then fused the lookup of each pair's cluster id (a random read of the
dataset's ``[N]`` table) into the final kernel that averages the losses over the batch, a reduction
that runs as one thread block: with 1M pairs that kernel took 1.2 ms of a 2.3 ms step on an H200,
where 200,000 pairs ran the whole step in 1.05 ms (docs/performance.md). Copying the
integer fields through a custom operator (which inductor calls as it is, and leaves out where nothing
reads the copy: for ``jepa_base`` the cluster ids and negative tiers) makes their gather a parallel
kernel of its own; the copies cost a few microseconds.
"""

from __future__ import annotations

import attrs
import torch

from jasper_core.contracts import Batch

_FIELDS = tuple(f.name for f in attrs.fields(Batch))  # read once: the compiled step only looks them up


@torch.library.custom_op("jasper::materialize", mutates_args=())
def materialize(x: torch.Tensor) -> torch.Tensor:
    """A copy of ``x`` (any shape) that a compiled graph computes as written, not fused into its readers."""
    return x.clone()


@materialize.register_fake
def _materialize_fake(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


def with_materialized_labels(batch: Batch) -> Batch:
    """``batch`` with its integer tensors (negative tiers, cluster, indices, steering codes) passed through
    :func:`materialize`; the embeddings (floating or complex: the op has no gradient) stay as they are —
    their gather fuses with the target encoder's input."""
    fields = {name: getattr(batch, name) for name in _FIELDS}
    return Batch(**{name: t if t.is_floating_point() or t.is_complex() else materialize(t) for name, t in fields.items()})
