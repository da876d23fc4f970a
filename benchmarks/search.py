"""Search speed and routed-vs-exact agreement: an exported model on its dataset, and synthetic corpora at scale.

    python benchmarks/search.py --model models/q                       # the model's dataset (embedded by default)
    python benchmarks/search.py --synthetic 100000 1000000            # D=384 synthetic corpora, CPU
    python benchmarks/search.py --synthetic 1000000 --device cuda      # exact torch search on the GPU

Model part: encode time (texts through the embedding model when the dataset has them, then the target
space), index build time, queries/s exact vs routed (top-m = 1, 2, 4) with the model's own router,
and per m the recall of the exact top-10 within the routed top-10, the top-1 agreement over all
test queries and over those the router is confident about (top routing weight >= each of --confident).

Synthetic part: S unit vectors around C = sqrt(S) random centroids (each source: its centroid plus
Gaussian noise of norm --spread), queries are sources plus noise of the same size, the "router" is
the query's nearest centroids; FAISS flat vs FAISS IVF routed (lists = the clusters), and torch.
Synthetic clusters are cleaner than real topics: its recall says what the index does, not what a
trained router achieves (the model part says that).
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F

from jasper_core.inference.index import TorchIndex, build_index, faiss_available

MS = (1, 2, 4)


def timed(fn, *args, sync=None, **kwargs):
    """``(result, seconds)`` of one call (after ``sync()`` for asynchronous devices)."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    if sync:
        sync()
    return out, time.perf_counter() - start


def agreement(exact: torch.Tensor, routed: torch.Tensor) -> tuple[float, torch.Tensor]:
    """Mean recall of each query's exact top-k rows ``[N, k]`` within its routed top-k, and ``[N]`` top-1 agreement."""
    hit = (exact.unsqueeze(2) == routed.unsqueeze(1)).any(2).float()  # [N, k]
    return float(hit.mean()), exact[:, 0] == routed[:, 0]


def search_rows(index, q: torch.Tensor, k: int, lists=None, sync=None) -> tuple[torch.Tensor, float]:
    hits, seconds = timed(index.search, q, k, lists, sync=sync)
    return hits.rows.cpu(), q.shape[0] / seconds


# -- an exported model on its dataset -------------------------------------------------------------
def model_part(args: argparse.Namespace) -> None:
    import jasper
    from jasper_core.plugin_manager import load_plugins
    from jasper_core.recipe import recipe_from_text
    from jasper_core.recipe.overrides import set_override

    model = jasper.load(args.model)
    registries = load_plugins().registries
    recipe = recipe_from_text(model.config["recipe"], registries, source="stored recipe",
                              overrides=[set_override("data.path", args.data)] if args.data else [])
    dataset = recipe.data.build(registries, device="cpu")
    pairs = dataset.split(args.split)
    questions = dataset.questions[dataset.pair_question[pairs]]
    texts = dataset.texts.get("sources") if args.encode_texts else None
    vectors = dataset.sources  # [S, D] (read once: an fp16 dataset upcasts the whole table on each read)
    sources = list(texts[: args.encode_texts]) if texts else vectors
    if texts:
        _, load_s = timed(model.embed, ["load the embedding model"])
        print(f"embedding model {model.embedding_model} loaded in {load_s:.1f} s")
    _, encode_s = timed(model.encode_corpus, sources)
    what = f"{len(sources)} source texts (embedding model + target space)" if texts else f"{len(vectors)} source vectors (target space)"
    print(f"model {args.model}: {model.config['model_type']}, {model.num_clusters} clusters; dataset {dataset.root}")
    print(f"encode: {what}: {encode_s:.2f} s ({len(sources) / encode_s:,.0f} sources/s)")
    for backend in ("faiss", "torch") if faiss_available() else ("torch",):
        _, build_s = timed(model.index, vectors, clusters=dataset.source_cluster.tolist(), backend=backend)
        print(f"\n[{backend}] index of {len(vectors)} sources (with encoding): {build_s:.3f} s; "
              f"{len(questions)} {args.split} queries, no steering")
        pred = F.normalize(model.encode_queries(questions), dim=-1)
        weights = model.route(questions)
        top_weight = weights.max(1).values
        repeat = max(1, args.queries // len(pred))  # time at least --queries queries
        timing = pred.repeat(repeat, 1)
        model.corpus.index.search(timing[:8], 10, weights[:8].topk(1, dim=1).indices)  # warm-up
        exact, _ = search_rows(model.corpus.index, pred, 10)
        _, qps = search_rows(model.corpus.index, timing, 10)
        print(f"  exact   : {qps:>12,.0f} queries/s")
        for m in MS:
            lists = weights.topk(m, dim=1).indices
            routed, _ = search_rows(model.corpus.index, pred, 10, lists)
            _, qps = search_rows(model.corpus.index, timing, 10, lists.repeat(repeat, 1))
            recall, top1 = agreement(exact, routed)
            by = "; ".join(f">= {t}: {float(top1[top_weight >= t].float().mean()):.3f} on {int((top_weight >= t).sum())}"
                           for t in args.confident if bool((top_weight >= t).any()))
            print(f"  routed {m}: {qps:>12,.0f} queries/s  recall@10 vs exact {recall:.3f}  top-1 agreement "
                  f"{float(top1.float().mean()):.3f} (all {len(top1)}); by top routing weight {by}")


# -- synthetic corpora --------------------------------------------------------------------------
def synthetic(size: int, dim: int, clusters: int, spread: float, queries: int, seed: int):
    """``(corpus [S, D], lists [S], centroids [C, D], queries [N, D])``, unit vectors, made in chunks."""
    g = torch.Generator().manual_seed(seed)
    centroids = F.normalize(torch.randn(clusters, dim, generator=g), dim=-1)
    owner = torch.randint(clusters, (size,), generator=g)
    corpus = torch.empty(size, dim)
    for start in range(0, size, 100_000):
        sl = slice(start, start + 100_000)
        noise = torch.randn(corpus[sl].shape, generator=g) * spread / math.sqrt(dim)
        corpus[sl] = F.normalize(centroids[owner[sl]] + noise, dim=-1)
    picked = torch.randint(size, (queries,), generator=g)
    q = F.normalize(corpus[picked] + torch.randn(queries, dim, generator=g) * spread / math.sqrt(dim), dim=-1)
    lists = torch.empty(size, dtype=torch.long)
    for start in range(0, size, 100_000):  # the IVF lists: each source's nearest centroid
        lists[start:start + 100_000] = (corpus[start:start + 100_000] @ centroids.T).argmax(1)
    return corpus, lists, centroids, q


def synthetic_part(size: int, args: argparse.Namespace) -> None:
    clusters = args.clusters or int(round(math.sqrt(size)))
    (corpus, lists, centroids, q), gen_s = timed(synthetic, size, args.dim, clusters, args.spread, args.queries, args.seed)
    route = (q @ centroids.T).topk(max(MS), dim=1).indices  # the router: nearest centroids, best first
    print(f"\nsynthetic S={size:,} D={args.dim} C={clusters} spread={args.spread} queries={args.queries} "
          f"(made in {gen_s:.1f} s), device {args.device}")
    if args.device == "cpu":
        backends = (["faiss"] if faiss_available() else []) + (["torch"] if args.torch else [])
    else:
        backends = ["torch"]
    for backend in backends:
        if args.device == "cpu":
            index, build_s = timed(build_index, corpus, lists, centroids, backend)
            sync, qd = None, q
        else:
            dev = torch.device(args.device)
            dtype = getattr(torch, args.dtype)
            data = corpus.to(dev, dtype)
            index, build_s = timed(TorchIndex, data, lists.to(dev), clusters, chunk_elements=1 << 30)
            sync, qd = torch.cuda.synchronize, q.to(dev, dtype)
            index.search(qd[:64], 10)  # warm-up
            sync()
        flat_n = min(args.flat_queries, q.shape[0])
        exact, flat_qps = search_rows(index, qd[:flat_n], 10, sync=sync)
        print(f"  [{backend}] build {build_s:.2f} s; exact: {flat_qps:>12,.0f} queries/s ({flat_n} queries)")
        if args.device != "cpu":
            _, big_qps = search_rows(index, qd, 10, sync=sync)
            print(f"  [{backend}] exact, {q.shape[0]} queries at once: {big_qps:>12,.0f} queries/s ({args.dtype})")
            continue
        for m in MS:
            routed, qps = search_rows(index, qd[:flat_n], 10, route[:flat_n, :m], sync=sync)
            recall, top1 = agreement(exact, routed)
            print(f"  [{backend}] routed {m}: {qps:>12,.0f} queries/s ({qps / flat_qps:5.1f}x exact)  "
                  f"recall@10 vs exact {recall:.3f}  top-1 agreement {float(top1.float().mean()):.3f}")
        del index


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", metavar="DIR", help="an exported model directory (the model part)")
    p.add_argument("--data", metavar="DIR", help="its dataset, if not the one in its recipe")
    p.add_argument("--split", default="test")
    p.add_argument("--encode-texts", type=int, default=2000, metavar="N",
                   help="encode time over the first N source texts (0: vectors only)")
    p.add_argument("--confident", type=float, nargs="+", default=[0.5, 0.8, 0.9, 0.95],
                   help="top routing weights above which the router counts as confident")
    p.add_argument("--synthetic", type=int, nargs="*", default=[], metavar="S", help="synthetic corpus sizes")
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--clusters", type=int, default=0, help="synthetic clusters (default sqrt(S))")
    p.add_argument("--spread", type=float, default=1.0, help="norm of the noise around a centroid")
    p.add_argument("--queries", type=int, default=2000)
    p.add_argument("--flat-queries", type=int, default=500, help="queries timed on CPU (exact and routed)")
    p.add_argument("--torch", action="store_true", help="also time the torch index on the CPU")
    p.add_argument("--device", default="cpu", help="cpu, or cuda: exact torch search on the GPU")
    p.add_argument("--dtype", default="float16", help="corpus dtype on the GPU")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch / FAISS threads (0: their default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        if faiss_available():
            import faiss

            faiss.omp_set_num_threads(args.threads)
    print(f"threads: torch {torch.get_num_threads()}" + (f", faiss {__import__('faiss').omp_get_max_threads()}" if faiss_available() else ""))
    if args.model:
        model_part(args)
    for size in args.synthetic:
        synthetic_part(size, args)


if __name__ == "__main__":
    main()
