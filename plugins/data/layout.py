"""The JASPER dataset layout: which tensors exist, their dtype family and shape.

Shapes use: Q questions, S sources, W keywords, C clusters, P pairs, K negatives, D dims, M
keywords per pair (``pair_keyword_ids`` is padded with -1).
"""

from __future__ import annotations

from jasper_core import SPLITS, VARIANTS  # noqa: F401 - SPLITS re-exported for the data plugin

#: name -> (dtype family, shape symbols). "float" accepts fp16/bf16/fp32/fp64, "int" any integer.
TENSORS: dict[str, tuple[str, tuple[str, ...]]] = {
    "question_embs": ("float", ("Q", "D")),
    "source_embs": ("float", ("S", "D")),
    "keyword_embs": ("float", ("W", "D")),
    "centroid_embs": ("float", ("C", "D")),
    "pair_index": ("int", ("P", "2")),
    "pair_cluster_id": ("int", ("P",)),
    "pair_relevance": ("float", ("P",)),
    "pair_keyword_ids": ("int", ("P", "M")),
    "hard_negatives": ("int", ("P", "K")),
    "negative_tiers": ("int", ("P", "K")),
    **{v.stored_as: ("float", ("P", "D")) for v in VARIANTS if v.stored_as},  # precomputed steering variants
    "centroid_distances": ("float", ("P",)),
    "train_idx": ("int", ("Ntrain",)),
    "val_idx": ("int", ("Nval",)),
    "test_idx": ("int", ("Ntest",)),
}

#: (tensor, column or None, target tensor whose rows it indexes, allow -1 padding)
REFERENCES: tuple[tuple[str, int | None, str, bool], ...] = (
    ("pair_index", 0, "question_embs", False),
    ("pair_index", 1, "source_embs", False),
    ("pair_cluster_id", None, "centroid_embs", False),
    ("pair_keyword_ids", None, "keyword_embs", True),
    ("hard_negatives", None, "source_embs", False),
    ("train_idx", None, "pair_index", False),
    ("val_idx", None, "pair_index", False),
    ("test_idx", None, "pair_index", False),
)

LEGACY_SUFFIX = ".pt"
H5_FILE = "dataset.h5"
NATIVE_TENSORS = "tensors.safetensors"
NATIVE_META = "meta.json"
CONFIG_FILE = "config.json"
TEXTS_FILE = "texts.json"
