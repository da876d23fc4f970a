"""Built-in loggers: console, jsonl, csv, plots, wandb, xai_samples."""

from jasper_core import hookimpl
from jasper_plugins.loggers.console import ConsoleLogger, ConsoleLoggerConfig
from jasper_plugins.loggers.history import CsvLogger, CsvLoggerConfig, JsonlLogger, JsonlLoggerConfig
from jasper_plugins.loggers.plots import PlotLogger, PlotLoggerConfig
from jasper_plugins.loggers.wandb_logger import WandbLogger, WandbLoggerConfig
from jasper_plugins.loggers.xai_samples import XaiSamplesLogger, XaiSamplesLoggerConfig


@hookimpl
def jasper_register_loggers(registry):
    registry.add("console", ConsoleLogger, config=ConsoleLoggerConfig)
    registry.add("jsonl", JsonlLogger, config=JsonlLoggerConfig)
    registry.add("csv", CsvLogger, config=CsvLoggerConfig)
    registry.add("plots", PlotLogger, config=PlotLoggerConfig)
    registry.add("wandb", WandbLogger, config=WandbLoggerConfig)
    registry.add("xai_samples", XaiSamplesLogger, config=XaiSamplesLoggerConfig)
