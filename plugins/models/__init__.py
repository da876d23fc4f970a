"""Built-in predictor models."""

from jasper_core import hookimpl
from jasper_plugins.models.decomposed import DecomposedPredictor, DecomposedPredictorConfig
from jasper_plugins.models.jepa import JEPAPredictor, JEPAPredictorConfig


@hookimpl
def jasper_register_models(registry):
    registry.add("jepa", JEPAPredictor, config=JEPAPredictorConfig)
    registry.add("decomposed", DecomposedPredictor, config=DecomposedPredictorConfig)
