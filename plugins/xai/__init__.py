"""Explainability: the XAI interface and ``jasper explain``."""

from jasper_plugins.xai.command import jasper_add_commands
from jasper_plugins.xai.explainer import XAI, actionable_signal

__all__ = ["XAI", "actionable_signal", "jasper_add_commands"]
