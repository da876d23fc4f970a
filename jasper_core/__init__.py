"""jasper core: registries, hook specs, plugin loading, recipes, trainer and CLI.

The public plugin API, importable from here::

    from jasper_core import hookimpl, LossInputs, Prediction, Predictor, StepState, validators

Everything a plugin receives or returns is defined in :mod:`jasper_core.contracts`.
"""

from jasper_core import validators
from jasper_core.contracts import (
    ATYPICALITY,
    COARSE,
    FINE,
    QUESTION_LATENT,
    ROUTING_LOGITS,
    ROUTING_WEIGHTS,
    SPLITS,
    STEERING_VARIANTS,
    VARIANTS,
    Batch,
    Dataset,
    EvalContext,
    EvalResults,
    LossInputs,
    Prediction,
    Predictor,
    Router,
    RunInfo,
    SteeringInputs,
    SteeringVariant,
    StepState,
    require_explanation,
    variant_code,
)
from jasper_core.errors import (
    CheckpointError,
    DatasetError,
    JasperError,
    NonFiniteLossError,
    PluginError,
    RecipeError,
    RegistryError,
)
from jasper_core.hookspecs.markers import hookimpl
from jasper_core.plugin_manager import load_plugins

__version__ = "0.1.0"

__all__ = [
    "ATYPICALITY", "Batch", "COARSE", "CheckpointError", "Dataset", "DatasetError", "EvalContext", "EvalResults",
    "FINE", "JasperError", "LossInputs", "NonFiniteLossError", "PluginError", "Prediction", "Predictor",
    "QUESTION_LATENT", "ROUTING_LOGITS", "ROUTING_WEIGHTS", "RecipeError", "RegistryError", "Router", "RunInfo", "SPLITS",
    "STEERING_VARIANTS", "SteeringInputs", "SteeringVariant", "StepState", "VARIANTS", "hookimpl", "load_plugins",
    "require_explanation", "validators", "variant_code", "__version__",
]
