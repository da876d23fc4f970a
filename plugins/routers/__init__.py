"""Built-in subspace routers."""

from jasper_core import hookimpl
from jasper_plugins.routers.gumbel_softmax import GumbelSoftmaxRouter, GumbelSoftmaxRouterConfig


@hookimpl
def jasper_register_routers(registry):
    registry.add("gumbel_softmax", GumbelSoftmaxRouter, config=GumbelSoftmaxRouterConfig)
