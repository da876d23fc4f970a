"""Frozen contracts that ``torch.compile`` can build inside a compiled step.

attrs' generated ``__init__`` of a frozen class fetches ``object.__setattr__.__get__``, which dynamo
(torch 2.13) cannot trace: building a :class:`~jasper_core.contracts.Prediction` inside a model's
forward would split the compiled step. The contracts built in the step (``Batch``, gathered inside
it under ``train.compile``; ``StepState``, ``Prediction``, ``LossInputs``) therefore declare
``init=False`` and a short ``__init__`` that calls :func:`set_fields`; they stay attrs classes
(``attrs.fields``, ``attrs.evolve``, equality, frozen).
"""

from __future__ import annotations

from typing import Any


def set_fields(obj: Any, **values: Any) -> None:
    """Set the fields of a frozen attrs instance from its ``__init__``."""
    for name, value in values.items():
        object.__setattr__(obj, name, value)
