"""JEPA predictor: question + steering embedding → predicted source embedding (target space).

After I-JEPA (Assran et al., 2023): an online (context) encoder embeds the question, a predictor
head maps it — together with the encoded steering hint — to the target encoder's embedding of
the source. In the residual form the head predicts a correction to the encoded question, and
starts at zero, so an untrained model retrieves exactly like plain cosine search.
"""

from __future__ import annotations

import attrs
import torch
from torch import nn

from jasper_core import QUESTION_LATENT, Prediction, Predictor, StepState
from jasper_core.validators import at_least, non_negative, one_of, positive, probability
from jasper_plugins.nn import ACTIVATIONS, SteeringGate, jitter, l2_normalize, mlp


@attrs.frozen(kw_only=True)
class JEPAPredictorConfig:
    hidden_dim: int = attrs.field(default=512, validator=at_least(1))
    num_layers: int = attrs.field(default=3, validator=at_least(1))
    dropout: float = attrs.field(default=0.1, validator=probability)
    activation: str = attrs.field(default="gelu", validator=one_of(ACTIVATIONS))
    layer_norm: bool = True
    residual: bool = True
    normalize_output: bool = True
    steering_gate: bool = True
    steering_gate_gain: float = attrs.field(default=100.0, validator=positive)
    input_noise: float = attrs.field(default=0.0, validator=non_negative)


class JEPAPredictor(Predictor):
    """``question [B,D], steering [B,D], state -> Prediction(prediction [B,D])``; the step state is not used."""

    def __init__(self, config: JEPAPredictorConfig, *, dim: int, encoder: nn.Module, **_: object) -> None:
        super().__init__()
        self.config = config
        self.online_encoder = encoder
        self.steering_encoder = mlp(dim, config.hidden_dim, config.hidden_dim, num_layers=2,
                                    activation=config.activation, layer_norm=config.layer_norm)
        self.head = mlp(dim + config.hidden_dim, config.hidden_dim, dim, num_layers=config.num_layers,
                        dropout=config.dropout, activation=config.activation, layer_norm=config.layer_norm,
                        zero_last=config.residual)
        self.steering_gate = SteeringGate(dim, config.steering_gate_gain) if config.steering_gate else None

    def forward(self, question: torch.Tensor, steering: torch.Tensor, state: StepState | None = None) -> Prediction:
        q = self.online_encoder(jitter(question, self.config.input_noise, self.training))  # [B, D]
        s = self.steering_encoder(steering)  # [B, H]
        out = self.head(torch.cat([q, s], dim=-1))  # [B, D]
        if self.config.residual:
            out = q + out
        if self.steering_gate is not None:
            out = out + self.steering_gate(steering)
        if self.config.normalize_output:
            out = l2_normalize(out)
        return Prediction(out, {QUESTION_LATENT: q})
