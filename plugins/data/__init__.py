"""The JASPER dataset plugin and the ``jasper data`` commands."""

from jasper_core import hookimpl
from jasper_plugins.data.builder import SentenceTransformersConfig, sentence_transformers
from jasper_plugins.data.commands import jasper_add_commands
from jasper_plugins.data.dataset import JasperDataset, JasperDatasetConfig

__all__ = ["jasper_add_commands", "jasper_register_datasets", "jasper_register_embedders"]


@hookimpl
def jasper_register_datasets(registry):
    registry.add("jasper", JasperDataset, config=JasperDatasetConfig)


@hookimpl
def jasper_register_embedders(registry):
    registry.add("sentence_transformers", sentence_transformers, config=SentenceTransformersConfig)
