"""Cosine interpolation from ``start`` to ``end`` over training (EMA tau, Gumbel temperature, ...)."""

from __future__ import annotations

import math

import attrs

from jasper_core.validators import at_least


def cosine_schedule(step: int, total_steps: int, start: float, end: float) -> float:
    """Return ``start`` at step 0, ``end`` at ``total_steps``, cosine-shaped between.

    Args:
        step: current global step (clamped to ``[0, total_steps]``).
        total_steps: steps of the whole run (0 or less returns ``end``).
    """
    if total_steps <= 0:
        return float(end)
    progress = min(max(step / total_steps, 0.0), 1.0)
    return float(end - (end - start) * (math.cos(math.pi * progress) + 1.0) / 2.0)


@attrs.frozen(kw_only=True)
class CosineConfig:
    start: float = 0.996
    end: float = 0.999
    warmup_steps: int = attrs.field(default=0, validator=at_least(0))


class CosineSchedule:
    """Cosine from ``start`` to ``end``; held at ``start`` for ``warmup_steps`` first."""

    def __init__(self, config: CosineConfig) -> None:
        self.config = config

    def __call__(self, step: int, total_steps: int) -> float:
        c = self.config
        return cosine_schedule(step - c.warmup_steps, total_steps - c.warmup_steps, c.start, c.end)
