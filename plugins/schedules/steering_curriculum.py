"""Steering curriculum: how often each steering variant is drawn, as training progresses.

Early in training most pairs get no steering or the centroid hint; the richer variants
(keyword-weighted, residual) gain probability linearly until ``ramp`` of the run has passed.
"""

from __future__ import annotations

import attrs

from jasper_core import STEERING_VARIANTS
from jasper_core.validators import each, non_negative, probability


def _variant_weights(instance, attribute, value) -> None:
    if len(value) != len(STEERING_VARIANTS):
        raise ValueError(f"needs {len(STEERING_VARIANTS)} weights ({', '.join(STEERING_VARIANTS)}), got {len(value)}")
    each(non_negative)(instance, attribute, value)
    if sum(value) <= 0:
        raise ValueError("weights must not all be zero")


def _even(first: float, second: float) -> tuple[float, ...]:
    """The first two variants get ``first`` and ``second``; the rest share what is left evenly."""
    rest = len(STEERING_VARIANTS) - 2
    return (first, second) + tuple(max(1.0 - first - second, 0.0) / rest for _ in range(rest))


@attrs.frozen(kw_only=True)
class SteeringCurriculumConfig:
    start: tuple[float, ...] = attrs.field(default=_even(0.5, 0.5), validator=_variant_weights)
    end: tuple[float, ...] = attrs.field(default=_even(0.25, 0.25), validator=_variant_weights)
    ramp: float = attrs.field(default=0.5, validator=probability)


class SteeringCurriculum:
    """Returns one probability per steering variant (in ``jasper_core.STEERING_VARIANTS`` order) at ``step``."""

    def __init__(self, config: SteeringCurriculumConfig) -> None:
        self.config = config

    def __call__(self, step: int, total_steps: int) -> tuple[float, ...]:
        c = self.config
        t = 1.0 if c.ramp == 0 or total_steps <= 0 else min(step / (c.ramp * total_steps), 1.0)
        raw = [a + (b - a) * t for a, b in zip(_norm(c.start), _norm(c.end))]
        return tuple(_norm(raw))


def _norm(values) -> list[float]:
    total = float(sum(values))
    return [float(v) / total for v in values]
