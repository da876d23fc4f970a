"""Learning-rate multiplier: linear warm-up, then cosine decay to ``min_ratio``."""

from __future__ import annotations

import attrs

from jasper_core.validators import at_least, probability
from jasper_plugins.schedules.cosine import cosine_schedule


@attrs.frozen(kw_only=True)
class WarmupCosineConfig:
    warmup_steps: int = attrs.field(default=100, validator=at_least(0))
    min_ratio: float = attrs.field(default=0.01, validator=probability)


class WarmupCosineSchedule:
    """Multiplier of the base learning rate: ``step/warmup`` up to 1, then cosine to ``min_ratio``.

    The warm-up is capped at a tenth of the run so short runs still get to train.
    """

    def __init__(self, config: WarmupCosineConfig) -> None:
        self.config = config

    def __call__(self, step: int, total_steps: int) -> float:
        warmup = min(self.config.warmup_steps, max(total_steps // 10, 1))
        if step < warmup:
            return (step + 1) / warmup
        return cosine_schedule(step - warmup, max(total_steps - warmup, 1), 1.0, self.config.min_ratio)
