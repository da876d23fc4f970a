"""jasper core: registries, hook specs, plugin loading, recipes, trainer and CLI.

The public plugin API::

    from jasper_core import hookimpl, LossInputs, Prediction, Predictor, validators
"""

from jasper_core import validators
from jasper_core.batch import STEERING_VARIANTS, Batch
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
from jasper_core.losses import LossInputs
from jasper_core.model import Prediction, Predictor
from jasper_core.plugin_manager import load_plugins

__version__ = "0.1.0"

__all__ = [
    "Batch", "CheckpointError", "DatasetError", "JasperError", "LossInputs", "NonFiniteLossError",
    "PluginError", "Prediction", "Predictor", "RecipeError", "RegistryError", "STEERING_VARIANTS",
    "hookimpl", "load_plugins", "validators", "__version__",
]
