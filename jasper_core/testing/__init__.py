"""Test helpers for jasper and for plugin authors.

- :func:`check_loss_properties`: the invariants every loss should satisfy, as one call.
- :func:`check_router`, :func:`check_model`, :func:`check_schedule`, :func:`check_logger`: the
  contracts of the other component kinds.
- :func:`synthetic_tensors`: a small dataset with known clusters, in the JASPER layout.
- :func:`plugins_with`: load the built-ins plus throwaway plugin objects.
"""

from jasper_core.testing.contracts import check_logger, check_model, check_router, check_schedule, sample_results
from jasper_core.testing.loss_properties import check_loss_properties, random_loss_inputs
from jasper_core.testing.plugins import plugins_with
from jasper_core.testing.synthetic import synthetic_tensors

__all__ = ["check_logger", "check_loss_properties", "check_model", "check_router", "check_schedule", "plugins_with",
           "random_loss_inputs", "sample_results", "synthetic_tensors"]
