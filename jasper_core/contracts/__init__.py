"""Everything a plugin receives or returns, each idea in one module.

- :mod:`.steering`: the steering variants (names, codes, formulas).
- :mod:`.batch`: :class:`Batch`.
- :mod:`.dataset`: the :class:`Dataset` protocol.
- :mod:`.model`: :class:`Prediction`, :class:`Predictor`, :class:`Router`, :class:`StepState`,
  the explanation keys.
- :mod:`.loss`: :class:`LossInputs`.
- :mod:`.evaluation`: :class:`EvalContext`, :class:`EvalResults`.
- :mod:`.run`: :class:`RunInfo`.

All of it is re-exported from :mod:`jasper_core`.
"""

from jasper_core.contracts.batch import Batch
from jasper_core.contracts.dataset import SPLITS, Dataset
from jasper_core.contracts.evaluation import EvalContext, EvalResults
from jasper_core.contracts.loss import LossInputs, require_explanation
from jasper_core.contracts.model import (
    ATYPICALITY, COARSE, FINE, QUESTION_LATENT, ROUTING_LOGITS, ROUTING_WEIGHTS, Prediction, Predictor, Router, StepState,
)
from jasper_core.contracts.run import RunInfo
from jasper_core.contracts.steering import STEERING_VARIANTS, VARIANTS, SteeringInputs, SteeringVariant, variant_code

__all__ = [
    "ATYPICALITY", "COARSE", "FINE", "QUESTION_LATENT", "ROUTING_LOGITS", "ROUTING_WEIGHTS",
    "Batch", "Dataset", "EvalContext", "EvalResults", "LossInputs", "Prediction", "Predictor", "Router", "RunInfo", "SPLITS",
    "STEERING_VARIANTS", "StepState", "SteeringInputs", "SteeringVariant", "VARIANTS",
    "require_explanation", "variant_code",
]
