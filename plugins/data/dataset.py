"""The ``jasper`` dataset plugin: any supported layout, validated, resident on the device."""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any, Literal

import attrs
import torch

from jasper_core import VARIANTS, Batch, SteeringInputs
from jasper_core.contracts.steering import keyword_mean
from jasper_core.errors import DatasetError
from jasper_core.validators import at_least
from jasper_plugins.data.layout import SPLITS
from jasper_plugins.data.readers import load_pt, read_dataset_dir
from jasper_plugins.data.validate import validate

EMBEDDED = "embedded"


def embedded_path() -> Path:
    """Directory of the small real-text dataset shipped inside the package."""
    return Path(str(importlib.resources.files("jasper_plugins.data") / "embedded"))


def resolve_path(path: str) -> Path:
    return embedded_path() if path == EMBEDDED else Path(path).expanduser()


@attrs.frozen(kw_only=True)
class JasperDatasetConfig:
    path: str = EMBEDDED
    format: Literal["auto", "legacy", "h5", "native"] = "auto"
    max_negatives: int = attrs.field(default=0, validator=at_least(0))
    negatives_reload_every: int = attrs.field(default=0, validator=at_least(0))
    negatives_from: Literal["train", "all"] = "train"


def stored(table: torch.Tensor, device: torch.device) -> torch.Tensor:
    """An embedding table on ``device`` in its stored precision (fp16, bf16 or fp32; fp64 becomes fp32).

    On CPU a memory-mapped table of the native format stays a view of the file: nothing is copied.
    """
    return table.to(device, torch.float32 if table.dtype == torch.float64 else table.dtype)


def take(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[index]`` for a long ``index`` of any shape: rows ``[*index.shape, *table.shape[1:]]``."""
    return table.index_select(0, index.reshape(-1)).reshape(*index.shape, *table.shape[1:])


class JasperDataset:
    """A JASPER dataset held as tensors on one device; batches come from vectorised indexing.

    The large embedding tables (questions, sources, stored steering) keep the file's precision —
    an fp16 dataset takes half the memory — and a native-format file on CPU stays memory-mapped
    (read from disk as batches touch it); each batch is upcast to float32.

    See :class:`jasper_core.Dataset` for the attributes. ``meta`` is the dataset's
    ``config.json`` / ``meta.json``; ``texts`` has ``questions``, ``sources`` lists (or is empty).
    """

    def __init__(self, config: JasperDatasetConfig, *, device: str | torch.device = "cpu") -> None:
        self.config = config
        self.root = resolve_path(config.path)
        tensors, meta, texts, fmt = read_dataset_dir(self.root, config.format)
        self.format = fmt
        self.sizes = validate(tensors, self.root, fmt)
        self.meta = meta
        self.texts = texts or {}
        self.device = torch.device(device)
        self._load(tensors)

    def _load(self, t: dict[str, torch.Tensor]) -> None:
        dev, f32 = self.device, torch.float32
        self.question_table = stored(t["question_embs"], dev)  # [Q, D]
        self.source_table = stored(t["source_embs"], dev)  # [S, D]
        self.keywords = t["keyword_embs"].to(dev, f32)  # [W, D]
        self.centroids = t["centroid_embs"].to(dev, f32)  # [C, D]
        pair_index = t["pair_index"].to(dev, torch.long)
        self.pair_question = pair_index[:, 0].contiguous()  # [P]
        self.pair_source = pair_index[:, 1].contiguous()  # [P]
        self.pair_cluster = t["pair_cluster_id"].to(dev, torch.long)  # [P]
        self.pair_relevance = t["pair_relevance"].to(dev, f32)  # [P]
        self.pair_keyword_ids = t["pair_keyword_ids"].to(dev, torch.long)  # [P, M]
        self.centroid_distances = t["centroid_distances"].to(dev, f32)  # [P]
        self.steering_tables = self._steering_tables(t)  # V-1 of [P, D]: variant codes 1.. (0 is no hint)
        self.splits = {s: t[f"{s}_idx"].to(dev, torch.long) for s in SPLITS}
        self._set_negatives(t["hard_negatives"], t["negative_tiers"])
        self.dim = int(self.question_table.shape[1])
        self.num_clusters = int(self.centroids.shape[0])
        names = self.meta.get("cluster_names")
        self.cluster_names = list(names) if isinstance(names, list) and len(names) == self.num_clusters else [
            f"cluster_{i}" for i in range(self.num_clusters)
        ]
        source_cluster = torch.full((self.source_table.shape[0],), -1, dtype=torch.long, device=dev)
        source_cluster[self.pair_source] = self.pair_cluster
        self.source_cluster = source_cluster  # [S]

    @property
    def questions(self) -> torch.Tensor:
        """``[Q, D]`` float32; a table stored as fp16/bf16 is upcast on each access (batches upcast only their rows)."""
        return self.question_table.float()

    @property
    def sources(self) -> torch.Tensor:
        """``[S, D]`` float32, upcast like :attr:`questions`."""
        return self.source_table.float()

    def _steering_tables(self, t: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """Each hinting variant's rows ``[P, D]``: its stored tensor, or its formula computed here."""
        inputs = None
        tables = []
        for v in VARIANTS[1:]:
            if v.stored_as:
                tables.append(stored(t[v.stored_as], self.device))
                continue
            inputs = inputs or SteeringInputs(question=self.questions[self.pair_question],
                                              centroid=self.centroids[self.pair_cluster],
                                              keywords=keyword_mean(self.keywords, self.pair_keyword_ids))
            tables.append(v.formula(inputs))
        return tables

    def _set_negatives(self, negatives: torch.Tensor, tiers: torch.Tensor) -> None:
        """Keep ``max_negatives`` per pair; with ``negatives_from = "train"`` a negative whose source
        answers no training pair gets tier -1 (masked by the losses): a validation or test source
        seen only as a negative would teach the model to push exactly those sources away."""
        k = self.config.max_negatives or negatives.shape[1]
        self.negatives = negatives[:, :k].to(self.device, torch.long)  # [P, K]
        self.negative_tiers = tiers[:, :k].to(self.device, torch.long)  # [P, K]
        if self.config.negatives_from == "train":
            in_train = torch.zeros(self.source_table.shape[0], dtype=torch.bool, device=self.device)
            in_train[self.pair_source[self.splits["train"]]] = True  # [S]
            self.negative_tiers = torch.where(in_train[self.negatives], self.negative_tiers, -1)

    def split(self, name: str) -> torch.Tensor:
        if name not in self.splits:
            raise ValueError(f"unknown split {name!r}; choose from {', '.join(SPLITS)}")
        return self.splits[name]

    def steering(self, pairs: torch.Tensor, variants: torch.Tensor) -> torch.Tensor:
        """``pairs [B]``, ``variants [B]`` codes (see ``jasper_core.VARIANTS``; 0 is no hint) → ``[B, D]``."""
        n = pairs.shape[0]
        rows = torch.cat([table.index_select(0, pairs) for table in self.steering_tables])  # [(V-1)·B, D]
        pick = (variants - 1).clamp_min(0) * n + torch.arange(n, device=pairs.device)  # [B]: each pair's variant row
        rows = rows.index_select(0, pick).float()
        return rows * (variants > 0).unsqueeze(-1).to(rows.dtype)

    def gather(self, pairs: torch.Tensor, variants: torch.Tensor) -> Batch:
        """The batch of ``pairs [B]`` with steering ``variants [B]`` (``index_select``: a third of the
        CPU time of advanced indexing; the embedding rows are upcast to float32 here)."""
        negatives = take(self.negatives, pairs)  # [B, K]
        source_index = take(self.pair_source, pairs)  # [B]
        return Batch(
            question=take(self.question_table, take(self.pair_question, pairs)).float(),
            steering=self.steering(pairs, variants),
            steering_variant=variants,
            source=take(self.source_table, source_index).float(),
            negatives=take(self.source_table, negatives).float(),
            negative_tiers=take(self.negative_tiers, pairs),
            cluster=take(self.pair_cluster, pairs),
            relevance=take(self.pair_relevance, pairs),
            source_index=source_index,
            pair_index=pairs,
        )

    def on_epoch_start(self, epoch: int) -> None:
        """Reload hard negatives from disk every ``negatives_reload_every`` epochs (legacy layout)."""
        every = self.config.negatives_reload_every
        if every and epoch > 1 and (epoch - 1) % every == 0 and self.format == "legacy":
            negatives = load_pt(self.root / "hard_negatives.pt", "hard_negatives")
            tiers = load_pt(self.root / "negative_tiers.pt", "negative_tiers")
            if negatives.shape != tiers.shape or negatives.shape[0] != self.pair_source.shape[0]:
                raise DatasetError(f"{self.root}: reloaded hard negatives have shape {list(negatives.shape)}, "
                                   f"tiers {list(tiers.shape)}; expected [{self.pair_source.shape[0]}, K] for both")
            if ((negatives < 0) | (negatives >= self.source_table.shape[0])).any():
                raise DatasetError(f"{self.root / 'hard_negatives.pt'}: reloaded negatives index outside the sources")
            self._set_negatives(negatives, tiers)

    def describe(self) -> dict[str, Any]:
        return {"path": str(self.root), "format": self.format, **{k: v for k, v in self.sizes.items() if k != "2"}}
