"""The loss composer: logged figures of a loss follow the total's device."""

import attrs
import torch

from jasper_core.testing import random_loss_inputs
from jasper_core.training.loss_composer import LossComposer


class HostFigures(torch.nn.Module):
    """A loss that logs figures created on the host (a float and a CPU tensor)."""

    def forward(self, inputs):
        return {"loss": inputs.prediction.sum() * 0, "plain": 0.5, "host": torch.tensor(2.0)}


def test_loss_composer__figures_made_on_the_host_move_to_the_total_device():
    inputs = random_loss_inputs(batch=3, dim=4)
    # the meta device stands in for an accelerator: a figure left on the host would stay "cpu"
    on_meta = attrs.evolve(inputs, **{f.name: getattr(inputs, f.name).to("meta") for f in attrs.fields(type(inputs))
                                      if torch.is_tensor(getattr(inputs, f.name))})
    total, parts = LossComposer([("h", HostFigures(), 1.0)])(on_meta)
    assert total.device.type == "meta"
    assert {k: p.device.type for k, p in parts.items()} == {"h": "meta", "h/plain": "meta", "h/host": "meta"}
