"""Built-in evaluation metrics."""

from jasper_core import hookimpl
from jasper_plugins.metrics.retrieval import RetrievalMetric, RetrievalMetricConfig


@hookimpl
def jasper_register_metrics(registry):
    registry.add("retrieval", RetrievalMetric, config=RetrievalMetricConfig)
