"""Train from a memory-mapped fp16 native dataset: peak memory and pairs/s of the training steps.

    .venv/bin/python benchmarks/memmap.py --pairs 200000 --dim 768 --batch-size 256 --steps 100
    python benchmarks/memmap.py --pairs 1000000 --dim 768 --device cuda --batch-size 4096 --steps 300

Writes a synthetic native dataset (``--dtype fp16`` by default) in row chunks, so it is never whole
in memory, unless ``--data`` names one (it is kept in ``--out`` for the next run). Then a fresh
process builds ``jepa_base`` on it and runs ``--steps`` training steps (the trainer's step and
batcher; no evaluation, which would encode the whole corpus) and prints the file size, the
process's peak RSS (``ru_maxrss``: it counts the file pages the batches touched, which the OS can
drop), the peak anonymous RSS (``RssAnon`` sampled each step: memory that is not the file), GPU
peak memory, and pairs/s. Last line: ``pairs/s: <value>``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

from jasper_plugins.data.layout import NATIVE_META, NATIVE_TENSORS, TENSORS
from jasper_plugins.data.native import NativeWriter

CHUNK = 1 << 15


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True)


def write_synthetic(out: Path, pairs: int, dim: int, dtype: torch.dtype, clusters: int = 256, negatives: int = 8,
                    keywords: int = 2048, per_pair_keywords: int = 4) -> Path:
    """A native dataset of ``pairs`` question → source pairs (one question and one source each), written in chunks."""
    out.mkdir(parents=True, exist_ok=True)
    n_val = n_test = max(pairs // 100, 1)
    n_train = pairs - n_val - n_test
    shape = {"Q": pairs, "S": pairs, "W": keywords, "C": clusters, "P": pairs, "D": dim, "2": 2, "M": per_pair_keywords,
             "K": negatives, "Ntrain": n_train, "Nval": n_val, "Ntest": n_test}
    specs = {name: (dtype if family == "float" else torch.int64, tuple(shape[s] for s in symbols))
             for name, (family, symbols) in TENSORS.items()}
    g = torch.Generator().manual_seed(0)
    centroids = _unit(torch.randn(clusters, dim, generator=g))
    order = torch.randperm(pairs, generator=g)
    with NativeWriter(out / NATIVE_TENSORS, specs) as w:
        w.write("centroid_embs", centroids)
        w.write("keyword_embs", _unit(torch.randn(keywords, dim, generator=g)))
        w.write("train_idx", order[:n_train])
        w.write("val_idx", order[n_train : n_train + n_val])
        w.write("test_idx", order[n_train + n_val :])
        for start in range(0, pairs, CHUNK):
            n = min(CHUNK, pairs - start)
            ids = torch.arange(start, start + n)
            cluster = ids % clusters
            question = _unit(centroids[cluster] + 0.6 * _unit(torch.randn(n, dim, generator=g)))
            source = _unit(question + 0.4 * _unit(torch.randn(n, dim, generator=g)))
            w.write("question_embs", question)
            w.write("source_embs", source)
            w.write("pair_index", torch.stack([ids, ids], dim=1))
            w.write("pair_cluster_id", cluster)
            w.write("pair_relevance", torch.ones(n))
            w.write("pair_keyword_ids", torch.randint(0, keywords, (n, per_pair_keywords), generator=g))
            w.write("hard_negatives", torch.randint(0, pairs, (n, negatives), generator=g))
            w.write("negative_tiers", torch.randint(0, 3, (n, negatives), generator=g))
            w.write("steering_centroid", centroids[cluster])
            w.write("steering_keyword_weighted", _unit(question + torch.randn(n, dim, generator=g)))
            w.write("steering_residual", centroids[cluster] - question)
            w.write("centroid_distances", 1 - (question * centroids[cluster]).sum(-1))
    meta = {"embedding_dim": dim, "num_clusters": clusters, "num_pairs": pairs, "model_name": "synthetic"}
    (out / NATIVE_META).write_text(json.dumps(meta), encoding="utf-8")
    return out


def rss_anon() -> int:
    """This process's anonymous resident memory in bytes (Linux ``/proc/self/status``; 0 elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def train(args: argparse.Namespace) -> None:
    from jasper_core.recipe import load_recipe
    from jasper_core.recipe.overrides import set_override
    from jasper_core.testing import plugins_with
    from jasper_core.training.assemble import assemble
    from jasper_core.training.batches import epoch_batches
    from jasper_core.training.step import train_step

    plugins = plugins_with()
    overrides = [set_override("data.path", str(args.data)), set_override("train.device", args.device),
                 set_override("train.precision", args.precision), f"train.batch_size={args.batch_size}", "logger=[]"]
    recipe = load_recipe(args.recipe, plugins.registries, overrides)
    started = time.perf_counter()
    setup = assemble(recipe, plugins.registries)
    loaded = time.perf_counter() - started
    anon = rss_anon()
    gen = torch.Generator().manual_seed(0)
    batches = epoch_batches(setup.dataset, setup.dataset.split("train"), args.batch_size, generator=gen,
                            variant_probs=setup.curriculum(0, 1))
    sync = torch.cuda.synchronize if setup.device.type == "cuda" else (lambda: None)
    timed = 0.0
    for step in range(args.steps):
        if step == min(10, args.steps // 2):  # the first steps warm up (and fault in the first pages)
            sync()
            t0, first = time.perf_counter(), step
        train_step(setup, next(batches), step=step, total_steps=args.steps, aux_active=True)
        anon = max(anon, rss_anon())
    sync()
    timed = time.perf_counter() - t0
    ds = setup.dataset
    print(f"dataset: {args.data} ({(Path(args.data) / NATIVE_TENSORS).stat().st_size / 2**30:.2f} GiB file, "
          f"{ds.question_table.dtype} tables, {int(ds.pair_source.shape[0]):,} pairs, dim {ds.dim})")
    print(f"device: {setup.device}; recipe {args.recipe}; batch {args.batch_size}; {args.precision}; load {loaded:.1f} s")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB (file pages included); "
          f"peak anonymous RSS: {anon / 2**30:.2f} GiB")
    if setup.device.type == "cuda":
        print(f"GPU peak memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
    print(f"pairs/s: {(args.steps - first) * args.batch_size / timed:.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="an existing native dataset directory (default: write a synthetic one to --out)")
    ap.add_argument("--out", default="/tmp/jasper-memmap", help="where the synthetic dataset is written and kept")
    ap.add_argument("--pairs", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--dtype", default="fp16", choices=("fp16", "fp32"))
    ap.add_argument("--recipe", default="jepa_base")
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"))
    ap.add_argument("--train-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.train_only:
        return train(args)
    if not args.data:
        out = Path(args.out) / f"{args.pairs}x{args.dim}-{args.dtype}"
        if not (out / NATIVE_META).exists():
            t = time.perf_counter()
            write_synthetic(out, args.pairs, args.dim, torch.float16 if args.dtype == "fp16" else torch.float32)
            print(f"wrote {out} in {time.perf_counter() - t:.0f} s")
        args.data = str(out)
    child = [sys.executable, __file__, "--train-only", *sys.argv[1:], "--data", args.data]  # a fresh process: its peaks are training's
    raise SystemExit(subprocess.call(child))


if __name__ == "__main__":
    main()
