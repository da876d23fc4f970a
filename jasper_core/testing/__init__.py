"""Test helpers for jasper and for plugin authors.

- :func:`check_loss_properties`: the invariants every loss should satisfy, as one call.
- :func:`synthetic_tensors`: a small dataset with known clusters, in the JASPER layout.
- :func:`plugins_with`: load the built-ins plus throwaway plugin objects.
"""

from jasper_core.testing.loss_properties import check_loss_properties, random_loss_inputs
from jasper_core.testing.plugins import plugins_with
from jasper_core.testing.synthetic import synthetic_tensors

__all__ = ["check_loss_properties", "plugins_with", "random_loss_inputs", "synthetic_tensors"]
