"""How inductor splits the batch-wide means of the compiled step on a GPU (``train.compile``).

Every loss averages over the batch, and inductor fuses those means — with whatever each row still
needs: a log-softmax's pick, a Smooth-L1 term, an accuracy — into one reduction with one output per
mean. Up to 8,192 rows (on an H100/H200, in torch 2.13's source) its heuristic does not split such a
reduction on a GPU: one thread block loops
over the whole batch while the other SMs wait, and how many rows it takes per iteration is chosen by
timing the candidates when the kernel first runs. On some H200 machines that timing kept 4 rows per
iteration: at batch 4096 the kernel then took 0.7 ms of a 1.7 ms step (docs/performance.md).
:class:`BatchMeanChoices` splits such reductions across blocks of :data:`ROWS_PER_BLOCK` rows (a
second small kernel adds the partial results), so each block loops over at most 128 rows whatever
sizes the timing keeps; every other decision is inductor's own. The sums then add in another order
(the compiled step already rounds unlike the eager one). It is installed, through inductor's hook for
its heuristics, only while a compiled function of the step runs (:func:`split_batch_means`), so other
``torch.compile`` users in the process keep the defaults. The loss means are in the forward graph,
which is lowered inside that call. A backward graph is usually lowered later, at the first backward
pass, and then keeps the defaults; where AOTAutograd lowers it at once (after the recompile that makes
the step number symbolic, for one) it gets the split too, which changes only its reductions to one value.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch
from torch._inductor.choices import InductorChoices
from torch._inductor.virtualized import V

#: Rows of the batch each thread block reduces in a split single-output reduction.
ROWS_PER_BLOCK = 128
#: At most this many blocks (and partial results) per split reduction.
MAX_SPLIT = 64


class BatchMeanChoices(InductorChoices):
    """Inductor's heuristics, with single-output reductions over a GPU batch split into blocks."""

    @staticmethod
    def reduction_split_factor(device: torch.device, reduction_numel_hint: int, numel_hint: int,
                               inner_reduction: bool) -> int:
        """Inductor's split where it chose one; else, for one output on a GPU, one block per 128 rows (at most 64)."""
        split = InductorChoices.reduction_split_factor(device, reduction_numel_hint, numel_hint, inner_reduction)
        if device.type != "cuda" or numel_hint != 1 or not inner_reduction or split > 1:
            return split
        return max(1, min(MAX_SPLIT, reduction_numel_hint // ROWS_PER_BLOCK))


def split_batch_means() -> AbstractContextManager[None]:
    """A context in which inductor compiles with :class:`BatchMeanChoices` (restored on exit)."""
    return V.set_choices_handler(BatchMeanChoices())
