"""Built-in loss terms: jepa, infonce, centroid, vicreg."""

from jasper_core import hookimpl
from jasper_plugins.losses.centroid import CentroidLoss, CentroidLossConfig
from jasper_plugins.losses.infonce import InfoNCEConfig, InfoNCELoss
from jasper_plugins.losses.jepa import JEPALoss, JEPALossConfig
from jasper_plugins.losses.vicreg import VICRegConfig, VICRegLoss


@hookimpl
def jasper_register_losses(registry):
    registry.add("jepa", JEPALoss, config=JEPALossConfig)
    registry.add("infonce", InfoNCELoss, config=InfoNCEConfig)
    registry.add("centroid", CentroidLoss, config=CentroidLossConfig)
    registry.add("vicreg", VICRegLoss, config=VICRegConfig)
