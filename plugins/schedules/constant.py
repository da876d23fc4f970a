"""A schedule that never changes."""

from __future__ import annotations

import attrs


@attrs.frozen(kw_only=True)
class ConstantConfig:
    value: float = 1.0


class ConstantSchedule:
    """Always ``value``."""

    def __init__(self, config: ConstantConfig) -> None:
        self.value = float(config.value)

    def __call__(self, step: int, total_steps: int) -> float:
        return self.value
