"""Built-in online encoders (what the EMA target encoder follows)."""

from jasper_core import hookimpl
from jasper_plugins.encoders.residual_mlp import ResidualMLPEncoder, ResidualMLPEncoderConfig


@hookimpl
def jasper_register_encoders(registry):
    registry.add("residual_mlp", ResidualMLPEncoder, config=ResidualMLPEncoderConfig)
