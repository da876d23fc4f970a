"""Built-in predictor models."""

from jasper_core import hookimpl
from jasper_plugins.models.jepa import JEPAPredictor, JEPAPredictorConfig


@hookimpl
def jasper_register_models(registry):
    registry.add("jepa", JEPAPredictor, config=JEPAPredictorConfig)
