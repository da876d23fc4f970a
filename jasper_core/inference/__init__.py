"""Putting a trained model to work: ``jasper export`` writes a model directory, :func:`load` reads it.

A model directory holds ``model.safetensors`` (weights and centroids), ``config.json`` (the recipe,
sizes, cluster names, embedding model) and ``README.md`` (the model card). Loading needs neither the
training dataset nor an optimiser.
"""

from jasper_core.inference.export import export_model
from jasper_core.inference.model import InferenceError, JasperModel, Keywords, load

__all__ = ["InferenceError", "JasperModel", "Keywords", "export_model", "load"]
