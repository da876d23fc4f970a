"""Built-in schedules: cosine, constant, warmup_cosine, steering_curriculum."""

from jasper_core import hookimpl
from jasper_plugins.schedules.constant import ConstantConfig, ConstantSchedule
from jasper_plugins.schedules.cosine import CosineConfig, CosineSchedule
from jasper_plugins.schedules.steering_curriculum import SteeringCurriculum, SteeringCurriculumConfig
from jasper_plugins.schedules.warmup_cosine import WarmupCosineConfig, WarmupCosineSchedule


@hookimpl
def jasper_register_schedules(registry):
    registry.add("cosine", CosineSchedule, config=CosineConfig)
    registry.add("constant", ConstantSchedule, config=ConstantConfig)
    registry.add("warmup_cosine", WarmupCosineSchedule, config=WarmupCosineConfig)
    registry.add("steering_curriculum", SteeringCurriculum, config=SteeringCurriculumConfig)
