"""Built-in loggers: console, jsonl, csv, plots, wandb."""

from jasper_core import hookimpl
from jasper_plugins.loggers.console import ConsoleLogger, ConsoleLoggerConfig
from jasper_plugins.loggers.history import CsvLogger, CsvLoggerConfig, JsonlLogger, JsonlLoggerConfig
from jasper_plugins.loggers.plots import PlotLogger, PlotLoggerConfig
from jasper_plugins.loggers.wandb_logger import WandbLogger, WandbLoggerConfig


@hookimpl
def jasper_register_loggers(registry):
    registry.add("console", ConsoleLogger, config=ConsoleLoggerConfig)
    registry.add("jsonl", JsonlLogger, config=JsonlLoggerConfig)
    registry.add("csv", CsvLogger, config=CsvLoggerConfig)
    registry.add("plots", PlotLogger, config=PlotLoggerConfig)
    registry.add("wandb", WandbLogger, config=WandbLoggerConfig)
