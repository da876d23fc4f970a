"""What loss plugins receive, and the checks shared by every loss."""

from __future__ import annotations

from typing import Callable, Literal, Mapping

import attrs
import torch

from jasper_core.contracts.model import StepState
from jasper_core.contracts.traceable import set_fields
from jasper_core.distributed.collectives import gather_rows_with_grad

#: How a loss term behaves when a job trains on several ranks (a loss declares it in its
#: ``distributed`` attribute). ``"local"``: computed from this rank's batch alone (DDP averages
#: the ranks' gradients). ``"gather"``: compares against rows of every rank's batch, gathered with
#: :attr:`LossInputs.gather_rows`, so the loss and its gradients equal the one-process ones on the
#: global batch.
Distributed = Literal["local", "gather"]
LOCAL: Distributed = "local"
GATHER: Distributed = "gather"


@attrs.frozen(kw_only=True, init=False)
class LossInputs:
    """Everything a loss term may compare. All embeddings are in the target space.

    Attributes:
        prediction: ``[B, D]`` model output.
        positive: ``[B, D]`` target-space embedding of the true source.
        negatives: ``[B, K, D]`` target-space hard negatives.
        negative_tiers: ``[B, K]`` long tiers (0 = hardest).
        cluster: ``[B]`` long true cluster ids.
        state: the step state (position in training, ``state.centroids [C, D]`` target-space).
        explanation: the model's named extra outputs (routing weights, fine residual, ...).
        gather_rows: ``[B, ...]`` this rank's rows → ``[W·B, ...]`` every rank's, this rank's at
            ``rank·B``; gradients flow back to every rank's rows. The identity in a one-process job.
    """

    prediction: torch.Tensor
    positive: torch.Tensor
    negatives: torch.Tensor
    negative_tiers: torch.Tensor
    cluster: torch.Tensor
    state: StepState
    explanation: Mapping[str, torch.Tensor] = attrs.field(factory=dict)
    gather_rows: Callable[[torch.Tensor], torch.Tensor] = gather_rows_with_grad

    def __init__(self, *, prediction: torch.Tensor, positive: torch.Tensor, negatives: torch.Tensor,
                 negative_tiers: torch.Tensor, cluster: torch.Tensor, state: StepState,
                 explanation: Mapping[str, torch.Tensor] | None = None,
                 gather_rows: Callable[[torch.Tensor], torch.Tensor] = gather_rows_with_grad) -> None:
        set_fields(self, prediction=prediction, positive=positive, negatives=negatives, negative_tiers=negative_tiers,
                   cluster=cluster, state=state, explanation={} if explanation is None else explanation,
                   gather_rows=gather_rows)

    @property
    def centroids(self) -> torch.Tensor:
        """``[C, D]`` target-space centroids (``state.centroids``)."""
        return self.state.centroids


def require_explanation(inputs: LossInputs, key: str, loss_name: str) -> torch.Tensor:
    """Return ``inputs.explanation[key]`` or raise a ValueError saying which model provides it."""
    if key not in inputs.explanation:
        raise ValueError(
            f'loss "{loss_name}" needs the model output "{key}", which this model does not produce; '
            'use a routing model (model.type = "decomposed") or remove this loss'
        )
    return inputs.explanation[key]


def distributed_behaviour(loss: object) -> Distributed:
    """What ``loss`` declares in its ``distributed`` attribute (``"local"`` when it declares nothing).

    Raises:
        ValueError: the declaration is neither ``"local"`` nor ``"gather"``.
    """
    value = getattr(loss, "distributed", LOCAL)
    if value not in (LOCAL, GATHER):
        raise ValueError(f'{type(loss).__name__}.distributed must be "local" or "gather", got {value!r}')
    return value
