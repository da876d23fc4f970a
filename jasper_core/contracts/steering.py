"""Steering variants: the one place that knows their names, codes and formulas.

Code 0 is always the variant without a hint (``zero``): batches default to it.

A steering embedding is the hint a predictor receives beside the question. Each variant is one
:class:`SteeringVariant` in :data:`VARIANTS`; its position there is its code in
``Batch.steering_variant``. Everything else — the dataset builder, the synthetic data, the
dataset's steering table, the curriculum's probabilities, evaluation per variant, ``jasper
explain`` — reads this list, so adding a variant is adding one entry here.

The formulas take ``[N, D]`` tensors and return ``[N, D]``:

- ``zero``: no hint, all zeros.
- ``centroid``: ``normalize(centroid − question)``, the direction from the question to its
  cluster's centroid. It names the true cluster: a *topic hint*.
- ``keyword``: ``normalize(mean keyword embedding)``; keywords come from the question text.
- ``residual``: ``question − centroid``; uses the true cluster too (a topic hint).
"""

from __future__ import annotations

from typing import Callable

import attrs
import torch


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-8)


@attrs.frozen(kw_only=True)
class SteeringInputs:
    """What the formulas are computed from (all ``[N, D]``; ``keywords`` may be None).

    Attributes:
        question: question embeddings.
        centroid: the centroid of each pair's cluster.
        keywords: the mean embedding of each pair's keywords.
    """

    question: torch.Tensor
    centroid: torch.Tensor | None = None
    keywords: torch.Tensor | None = None


@attrs.frozen(kw_only=True)
class SteeringVariant:
    """One steering variant.

    Attributes:
        name: used in recipes (``eval.variants``), tables and ``eval.json``.
        formula: ``SteeringInputs -> [N, D]``.
        stored_as: the dataset tensor holding precomputed rows (None: computed, never stored).
        topic_hint: True when the formula uses the pair's true cluster (labelled so in reports).
    """

    name: str
    formula: Callable[[SteeringInputs], torch.Tensor]
    stored_as: str | None = None
    topic_hint: bool = False


def _needs(x: torch.Tensor | None, variant: str, what: str) -> torch.Tensor:
    if x is None:
        raise ValueError(f'steering variant "{variant}" is computed from the {what}, which was not given')
    return x


VARIANTS: tuple[SteeringVariant, ...] = (
    SteeringVariant(name="zero", formula=lambda s: torch.zeros_like(s.question)),
    SteeringVariant(name="centroid", stored_as="steering_centroid", topic_hint=True,
                    formula=lambda s: _unit(_needs(s.centroid, "centroid", "cluster centroid") - s.question)),
    SteeringVariant(name="keyword", stored_as="steering_keyword_weighted",
                    formula=lambda s: _unit(_needs(s.keywords, "keyword", "keyword embeddings"))),
    SteeringVariant(name="residual", stored_as="steering_residual", topic_hint=True,
                    formula=lambda s: s.question - _needs(s.centroid, "residual", "cluster centroid")),
)

#: Variant names in code order.
STEERING_VARIANTS: tuple[str, ...] = tuple(v.name for v in VARIANTS)


def keyword_mean(keyword_embs: torch.Tensor, keyword_ids: torch.Tensor) -> torch.Tensor:
    """Mean keyword embedding per pair: ``keyword_embs [W, D]``, ``keyword_ids [P, M]`` (-1 padded) → ``[P, D]``."""
    mask = (keyword_ids >= 0).unsqueeze(-1).to(keyword_embs.dtype)  # [P, M, 1]
    return (keyword_embs[keyword_ids.clamp_min(0)] * mask).sum(1) / mask.sum(1).clamp_min(1)


def variant_code(name: str) -> int:
    """Code of a variant name; raises ValueError listing the valid ones."""
    try:
        return STEERING_VARIANTS.index(name)
    except ValueError:
        raise ValueError(f"unknown steering variant {name!r}; choose from {', '.join(STEERING_VARIANTS)}") from None


def variant(name: str) -> SteeringVariant:
    """The :class:`SteeringVariant` called ``name``."""
    return VARIANTS[variant_code(name)]


def steering(name: str, inputs: SteeringInputs) -> torch.Tensor:
    """``[N, D]`` steering of variant ``name`` computed from ``inputs``."""
    return variant(name).formula(inputs)


def stored_steering(inputs: SteeringInputs) -> dict[str, torch.Tensor]:
    """Every stored variant's tensor, by its dataset tensor name (what a dataset writer saves)."""
    return {v.stored_as: v.formula(inputs) for v in VARIANTS if v.stored_as}


def label(name: str) -> str:
    """``"centroid (topic hint)"`` for topic-hint variants, the plain name otherwise."""
    return f"{name} (topic hint)" if variant(name).topic_hint else name
