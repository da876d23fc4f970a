"""How inductor splits the batch-wide means of the compiled step on a GPU (``train.compile``).

Every loss averages over the batch, and inductor fuses those means — with whatever each row still
needs: a log-softmax's pick, a Smooth-L1 term, an accuracy — into reductions with one output each.
Below 8,192 rows its heuristic does not split such a reduction on a GPU, so one thread block reads
the whole batch while the other SMs wait: at batch 4096 on an H200 that kernel took 62 µs, the
step's largest (5.6% of it). :class:`BatchMeanChoices` splits them across blocks of
:data:`ROWS_PER_BLOCK` rows (a second small kernel adds the partial results); every other decision
is inductor's own. The sums then add in another order (the compiled step already rounds unlike the
eager one). It is installed, through inductor's documented hook for its heuristics, only while a
compiled function of the step runs (:func:`split_batch_means`), so other ``torch.compile`` users in
the process keep the defaults.
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
        split = InductorChoices.reduction_split_factor(device, reduction_numel_hint, numel_hint, inner_reduction)
        if device.type != "cuda" or numel_hint != 1 or not inner_reduction or split > 1:
            return split
        return max(1, min(MAX_SPLIT, reduction_numel_hint // ROWS_PER_BLOCK))


def split_batch_means() -> AbstractContextManager[None]:
    """A context in which inductor compiles with :class:`BatchMeanChoices` (restored on exit)."""
    return V.set_choices_handler(BatchMeanChoices())
