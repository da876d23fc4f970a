"""The JASPER dataset plugin and the ``jasper data`` commands."""

from jasper_core import hookimpl
from jasper_plugins.data.dataset import JasperDataset, JasperDatasetConfig


@hookimpl
def jasper_register_datasets(registry):
    registry.add("jasper", JasperDataset, config=JasperDatasetConfig)
