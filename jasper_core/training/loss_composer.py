"""Combine the recipe's ``[[loss]]`` terms into one scalar.

``fixed``: ``Σ w_i·L_i``. ``uncertainty``: ``Σ exp(−s_i)·w_i·L_i + s_i`` with a learned log-variance
``s_i`` per term (Kendall, Gal & Cipolla, 2018). During ``aux_warmup`` only the first term counts.
"""

from __future__ import annotations

import torch
from torch import nn

from jasper_core.errors import JasperError
from jasper_core.training.output_checks import check_loss_output


class LossComposer(nn.Module):
    """Holds the loss modules and their weights; returns the total and every component."""

    def __init__(self, terms: list[tuple[str, nn.Module, float]], weighting: str = "fixed") -> None:
        super().__init__()
        self.names = [name for name, _, _ in terms]
        self.losses = nn.ModuleDict({name: module for name, module, _ in terms})
        self.weights = {name: float(w) for name, _, w in terms}
        self.weighting = weighting
        self.log_vars = nn.Parameter(torch.zeros(len(terms))) if weighting == "uncertainty" else None
        self.host_numbers: list[str] = []  # the logged extras ("<term>/<key>") a loss returned as Python numbers

    def forward(self, inputs, *, aux_active: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Return ``(total, components)``; components are named ``<term>/<key>`` (``<term>`` for the loss)."""
        total = inputs.prediction.new_zeros(())
        parts: dict[str, torch.Tensor] = {}
        for i, name in enumerate(self.names):
            out = self._run(name, inputs)
            value = check_loss_output(out, name)
            parts[name] = value
            for key, extra in out.items():
                if key == "loss":
                    continue
                label = f"{name}/{key}"  # logged figures live beside the total (one device-side read per interval)
                if torch.is_tensor(extra):
                    parts[label] = torch.as_tensor(extra.detach(), device=total.device)
                    continue
                if not torch.compiler.is_compiling() and label not in self.host_numbers:
                    self.host_numbers.append(label)  # a captured step (train.cuda_graph) could not update it
                parts[label] = torch.as_tensor(float(extra), device=total.device)
            weight = self.weights[name] if (aux_active or i == 0) else 0.0
            if weight == 0.0:
                continue
            if self.log_vars is not None:
                total = total + torch.exp(-self.log_vars[i]) * weight * value + self.log_vars[i]
            else:
                total = total + weight * value
        return total, parts

    def _run(self, name: str, inputs) -> dict:
        """Loss ``name``'s output; its error is raised naming it. A method of its own: a loss that breaks
        dynamo's graph inside this ``try`` makes dynamo run only this small frame eagerly, not the composer."""
        try:
            return self.losses[name](inputs)
        except (ValueError, TypeError, RuntimeError, IndexError, KeyError) as exc:  # say which loss
            if isinstance(exc, (JasperError, torch.OutOfMemoryError)):
                raise
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise JasperError(f'loss "{name}": {first}' if isinstance(exc, (ValueError, TypeError))
                              else f'loss "{name}" failed: {type(exc).__name__}: {first}') from exc
