"""Built-in loss terms: jepa, infonce, centroid, vicreg, and the routing losses."""

from jasper_core import hookimpl
from jasper_plugins.losses.centroid import CentroidLoss, CentroidLossConfig
from jasper_plugins.losses.infonce import InfoNCEConfig, InfoNCELoss
from jasper_plugins.losses.jepa import JEPALoss, JEPALossConfig
from jasper_plugins.losses.disentanglement import DisentanglementConfig, DisentanglementLoss
from jasper_plugins.losses.residual_penalty import ResidualPenaltyConfig, ResidualPenaltyLoss
from jasper_plugins.losses.routing_ce import RoutingCEConfig, RoutingCELoss
from jasper_plugins.losses.routing_entropy import RoutingEntropyConfig, RoutingEntropyLoss
from jasper_plugins.losses.vicreg import VICRegConfig, VICRegLoss


@hookimpl
def jasper_register_losses(registry):
    registry.add("jepa", JEPALoss, config=JEPALossConfig)
    registry.add("infonce", InfoNCELoss, config=InfoNCEConfig)
    registry.add("centroid", CentroidLoss, config=CentroidLossConfig)
    registry.add("vicreg", VICRegLoss, config=VICRegConfig)
    registry.add("routing_ce", RoutingCELoss, config=RoutingCEConfig)
    registry.add("routing_entropy", RoutingEntropyLoss, config=RoutingEntropyConfig)
    registry.add("residual_penalty", ResidualPenaltyLoss, config=ResidualPenaltyConfig)
    registry.add("disentanglement", DisentanglementLoss, config=DisentanglementConfig)
