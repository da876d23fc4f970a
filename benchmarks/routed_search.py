"""Full top-10 search vs. search of the routed cluster only, as the corpus grows.

Random unit-norm corpora with C equal clusters; each query is routed to one cluster (what a
per-cluster index serves). Prints milliseconds per 1,000 queries for both.
"""

from __future__ import annotations

import argparse

import torch

from jasper_plugins.metrics.routing import search_timing


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 400_000])
    ap.add_argument("--clusters", type=int, default=64)
    ap.add_argument("--queries", type=int, default=2048)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    g = torch.Generator().manual_seed(0)
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(f"{name}: {args.queries} queries, D={args.dim}, {args.clusters} clusters; ms per 1,000 queries (best of 3)")
    print(f"{'corpus':>10} {'full':>10} {'routed top-1':>13} {'speed-up':>9}")
    for size in args.sizes:
        corpus = torch.randn(size, args.dim, generator=g).to(args.device)
        queries = torch.randn(args.queries, args.dim, generator=g).to(args.device)
        source_cluster = (torch.arange(size) % args.clusters).to(args.device)
        routed = torch.randint(0, args.clusters, (args.queries,), generator=g).to(args.device)
        t = search_timing(queries, corpus, source_cluster, routed)
        full, rt = t["full_ms_per_1k_queries"], t["routed_top1_ms_per_1k_queries"]
        print(f"{size:>10,} {full:>10.2f} {rt:>13.2f} {full / rt:>8.1f}x")


if __name__ == "__main__":
    main()
