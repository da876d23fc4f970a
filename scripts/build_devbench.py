"""Build the development benchmark from the docstrings of installed scientific Python packages.

    .venv/bin/python scripts/build_devbench.py [--out DIR] [--seed 0] [--max-per-cluster N] [--packages ...]

Every public function, class, method and property of the packages (``DEFAULT_PACKAGES``: numpy,
scipy, pandas, scikit-learn, sympy, matplotlib, networkx, statsmodels, torch, astropy, ...; a
missing one is skipped with a warning) whose own docstring has a summary line and a body becomes a
pair: the summary is the question, the body (numpydoc cleaned to prose and parameter descriptions,
at most 110 words) the source, the subpackage or module family (``scipy.stats``, ``sympy.polys``,
``pandas.core`` ...) the cluster. Pairs are deduplicated by object (re-exports), then by identical
question and by identical source (inherited and templated docstrings); a pair whose question
appears verbatim in its source is dropped (trivial). A family under ``--min-cluster`` pairs joins
its package's cluster (``numpy.fft`` -> ``numpy``), a package cluster still under it is dropped,
and each cluster is capped at ``--max-per-cluster`` (a seeded sample). The dataset is written
through ``jasper data build``'s ``build_dataset`` (native format, fp16; keywords from the question
only) into a temporary directory next to ``--out`` and renamed into place, so an interrupted build
leaves no half dataset.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import inspect
import io
import json
import os
import pkgutil
import random
import re
import shutil
import sys
import tempfile
import time
import warnings
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docstrings import MAX_SUMMARY_WORDS, class_members, clean_docstring, split_docstring  # noqa: E402

# import names; pip names in the Makefile's DEVBENCH_PACKAGES
DEFAULT_PACKAGES = ("numpy", "scipy", "pandas", "sklearn", "sympy", "matplotlib", "networkx", "statsmodels", "torch",
                    "astropy", "skimage", "xarray", "mpmath", "PIL", "polars", "pyarrow", "Bio", "nltk", "dask", "seaborn")
# test suites, and third-party code vendored into a package (sklearn.externals, astropy.extern)
SKIPPED_MODULES = {"tests", "test", "testing", "conftest", "setup", "benchmarks", "externals", "extern", "vendor", "vendored"}
MIN_CLUSTER = 100
MAX_PER_CLUSTER = 800


def default_out() -> Path:
    return Path(os.environ.get("JASPER_DEVBENCH_DIR") or Path.home() / ".cache" / "jasper" / "devbench").expanduser()


def log(msg: str) -> None:
    print(msg, flush=True)


def safe_import(name: str):
    """The module, or None if importing it fails in any way (errors, SystemExit, noise silenced)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            return importlib.import_module(name)
        except KeyboardInterrupt:
            raise
        except BaseException:  # noqa: BLE001 - optional dependency, platform module, import-time error ...
            return None


def _skipped(name: str) -> bool:
    leaf = name.rsplit(".", 1)[-1]
    return leaf.startswith("_") or leaf in SKIPPED_MODULES or leaf.startswith("test_")


def public_modules(package: str, stats: Counter | None = None) -> Iterator:
    """The package and its public submodules, depth first in name order.

    Like ``pkgutil.walk_packages`` with errors swallowed, but private (``_x``) and test modules are
    pruned before they are imported, so their subpackages are never imported either.
    """
    stats = stats if stats is not None else Counter()
    top = safe_import(package)
    if top is None:
        return
    stack = [top]
    while stack:
        module = stack.pop()
        stats["modules"] += 1
        yield module
        try:  # a module's __getattr__ may raise anything, even for __path__
            path = getattr(module, "__path__", None)
            infos = sorted(pkgutil.iter_modules(path, module.__name__ + "."), key=lambda m: m.name) if path else []
        except Exception:  # noqa: BLE001
            continue
        children = []
        for info in infos:
            if _skipped(info.name):
                continue
            child = safe_import(info.name)
            if child is None:
                stats["failed imports"] += 1
                continue
            children.append(child)
        stack.extend(reversed(children))


def _belongs(obj, package: str) -> bool:
    owner = getattr(obj, "__module__", None)
    if owner is None:
        return inspect.isbuiltin(obj)
    return isinstance(owner, str) and (owner == package or owner.startswith(package + "."))


def _is_api_object(obj) -> bool:
    if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj) or inspect.ismethoddescriptor(obj):
        return True
    if inspect.ismodule(obj) or not callable(obj):
        return False
    doc = getattr(obj, "__doc__", None)  # ufuncs, scipy.stats distributions: instances with their own docstring
    return isinstance(doc, str) and doc is not getattr(type(obj), "__doc__", None)


def _shared_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a.split("."), b.split(".")):
        if x != y:
            break
        n += 1
    return n


def module_attributes(module) -> list[tuple[str, object]]:
    """The module's attributes, with the lazily loaded names of its ``__all__`` (scikit-image, scipy)."""
    try:
        names = set(vars(module))
        public = getattr(module, "__all__", None)
        if isinstance(public, (list, tuple)):
            names.update(n for n in public if isinstance(n, str))
    except Exception:  # noqa: BLE001
        return []
    out = []
    for name in sorted(names):
        try:
            out.append((name, getattr(module, name)))
        except BaseException as exc:  # noqa: BLE001 - a lazy attribute that fails to load
            if isinstance(exc, KeyboardInterrupt):
                raise
    return out


def package_objects(package: str, stats: Counter | None = None) -> list[tuple[str, str, object]]:
    """``(home module, qualname, object)`` of the package's public API, each object once.

    An object re-exported by several public modules is given the one closest to where it is
    defined (``sympy.factor`` -> ``sympy.polys.polytools``; ``sklearn.ensemble._forest`` objects ->
    ``sklearn.ensemble``); ties go to the shorter module name.
    """
    found: dict[int, tuple[tuple, str, str, object]] = {}
    for module in public_modules(package, stats):
        for name, obj in module_attributes(module):
            try:
                if name.startswith("_") or not _is_api_object(obj) or not _belongs(obj, package):
                    continue
                owner = getattr(obj, "__module__", None) or module.__name__
            except Exception:  # noqa: BLE001 - an object that fails to describe itself
                continue
            rank = (-_shared_prefix(module.__name__, owner), len(module.__name__), module.__name__)
            if id(obj) not in found or rank < found[id(obj)][0]:
                found[id(obj)] = (rank, module.__name__, name, obj)
    out, seen = [], set(found)
    for _, home, name, obj in sorted(found.values(), key=lambda v: (v[1], v[2])):
        out.append((home, f"{home}.{name}", obj))
        if inspect.isclass(obj):
            for qualname, sub in class_members(f"{home}.{name}", obj):
                if id(sub) not in seen:
                    seen.add(id(sub))
                    out.append((home, qualname, sub))
    return out


def own_docstring(obj) -> str | None:
    """The object's own docstring (not one ``inspect.getdoc`` would inherit from a base class)."""
    try:
        doc = obj.__doc__
    except Exception:  # noqa: BLE001
        return None
    return doc if isinstance(doc, str) and doc.strip() else None


_SENTENCE_END = re.compile(r"(?<=[a-z)][.])\s+(?=[A-Z])")


def first_sentence_summary(text: str) -> str:
    """A first paragraph too long for a summary gives its first sentence; the rest joins the body."""
    head, sep, rest = text.partition("\n\n")
    words = head.split()
    if len(words) <= MAX_SUMMARY_WORDS:
        return text
    parts = _SENTENCE_END.split(" ".join(words), maxsplit=1)
    if len(parts) < 2:
        return text
    return parts[0] + "\n\n" + parts[1] + (" " + rest if sep else "")


def docstring_pair(obj) -> tuple[str, str] | None:
    doc = own_docstring(obj)
    if not doc:
        return None
    parts = split_docstring(first_sentence_summary(clean_docstring(doc)))
    if not parts:
        return None
    question, source = parts
    if " ".join(question.lower().split()) in source.lower():  # the answer repeats the question
        return None
    return parts


def harvest(packages, stats: dict | None = None) -> list[dict]:
    """Records (question, source, family, object, package) of every package, deduplicated."""
    records = []
    for package in packages:
        counts: Counter = Counter()
        started = time.time()
        if safe_import(package) is None:
            log(f"warning: package {package!r} is not installed (or fails to import); skipped")
            continue
        n = 0
        with warnings.catch_warnings():  # deprecated aliases warn when looked at
            warnings.simplefilter("ignore")
            for home, qualname, obj in package_objects(package, counts):
                pair = docstring_pair(obj)
                if pair:
                    n += 1
                    records.append({"question": pair[0], "source": pair[1], "family": home, "object": qualname,
                                    "package": package})
        log(f"{package}: {counts['modules']} modules ({counts['failed imports']} failed to import), "
            f"{n} docstring pairs, {time.time() - started:.1f}s")
        if stats is not None:
            stats[package] = {"modules": counts["modules"], "failed_imports": counts["failed imports"], "pairs": n}
    kept, questions, sources = [], set(), set()
    for r in records:  # inherited / templated docstrings: the first of identical texts stays
        q, s = r["question"].lower(), r["source"].lower()
        if q in questions or s in sources:
            continue
        questions.add(q)
        sources.add(s)
        kept.append(r)
    log(f"{len(records)} pairs harvested, {len(kept)} after removing identical questions or sources")
    return kept


def _family(module: str) -> str:
    return ".".join(module.split(".")[:2])


def assign_clusters(records: list[dict], min_cluster: int = MIN_CLUSTER) -> list[dict]:
    """Cluster = ``package.subpackage``; a family under ``min_cluster`` pairs joins its package's cluster
    (``numpy.fft`` -> ``numpy``), and a package cluster still under ``min_cluster`` is dropped."""
    sizes = Counter(_family(r["family"]) for r in records)
    for r in records:
        fam = _family(r["family"])
        r["cluster"] = fam if sizes[fam] >= min_cluster else r["package"]
    sizes = Counter(r["cluster"] for r in records)
    return [r for r in records if sizes[r["cluster"]] >= min_cluster]


def collect(packages=DEFAULT_PACKAGES, *, seed: int = 0, max_per_cluster: int = MAX_PER_CLUSTER,
            min_cluster: int = MIN_CLUSTER, stats: dict | None = None) -> list[dict]:
    """Harvest, cluster, cap each cluster at ``max_per_cluster`` (seeded sample), in a stable order."""
    records = assign_clusters(harvest(packages, stats), min_cluster)
    rng = random.Random(seed)
    by_cluster: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_cluster[r["cluster"]].append(r)
    out = []
    for cluster in sorted(by_cluster):
        group = by_cluster[cluster]
        rng.shuffle(group)
        out.extend(sorted(group[:max_per_cluster], key=lambda r: r["object"]))
    return out


def _versions(packages) -> dict[str, str]:
    dists = importlib.metadata.packages_distributions()
    out = {}
    for p in packages:
        for dist in dists.get(p, [p]):
            try:
                out[dist] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                pass
    return out


def _replace(staged: Path, out: Path) -> None:
    """Move ``staged`` to ``out``; an existing ``out`` is moved aside first and removed after."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    staged.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _remove_stale(out: Path) -> None:
    """Temporary directories of builds that were killed (their process is gone)."""
    for p in out.parent.glob(f".{out.name}.*-*"):
        try:
            pid = int(p.name.rsplit("-", 1)[1])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(p, ignore_errors=True)
        except (ValueError, PermissionError):
            pass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=default_out(),
                        help="dataset directory (default: $JASPER_DEVBENCH_DIR or ~/.cache/jasper/devbench)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-per-cluster", type=int, default=MAX_PER_CLUSTER)
    parser.add_argument("--min-cluster", type=int, default=MIN_CLUSTER)
    parser.add_argument("--packages", nargs="+", default=list(DEFAULT_PACKAGES), help="import names")
    args = parser.parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    started = time.time()
    out = args.out.expanduser().resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(out)

    stats: dict = {}
    records = collect(args.packages, seed=args.seed, max_per_cluster=args.max_per_cluster,
                      min_cluster=args.min_cluster, stats=stats)
    sizes = Counter(r["cluster"] for r in records)
    log(f"{len(records)} pairs in {len(sizes)} clusters (cap {args.max_per_cluster}, minimum {args.min_cluster}):")
    for cluster, n in sorted(sizes.items()):
        log(f"  {n:5d}  {cluster}")
    if not records:
        log("error: no pairs (are the packages installed?)")
        return 1
    harvested = time.time() - started

    import torch
    from jasper_plugins.data.builder import build_dataset

    staged = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-", suffix=f"-{os.getpid()}"))
    try:
        pairs = staged / "pairs.jsonl"
        pairs.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
        log(f"embedding {len(records)} questions and sources with MiniLM ...")
        build_dataset(pairs, staged / "dataset", fmt="native", float_dtype=torch.float16, seed=args.seed)
        shutil.move(str(pairs), staged / "dataset" / "pairs.jsonl")
        meta_path = staged / "dataset" / "meta.json"
        meta = json.loads(meta_path.read_text())
        meta["description"] = ("Docstrings of installed scientific Python packages: summary line -> rest of the "
                               "docstring (numpydoc cleaned, <= 110 words), cluster = subpackage or module family")
        meta["package_versions"] = _versions(args.packages)
        meta["python_version"] = sys.version.split()[0]
        meta["harvest"] = {"packages": stats, "max_per_cluster": args.max_per_cluster,
                           "min_cluster": args.min_cluster, "build_seconds": round(time.time() - started)}
        meta_path.write_text(json.dumps(meta, indent=1))
        _replace(staged / "dataset", out)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    size = sum(f.stat().st_size for f in out.iterdir())
    log(f"wrote {out}: {meta['num_pairs']} pairs, {meta['num_questions']} questions, {meta['num_sources']} sources, "
        f"{meta['num_clusters']} clusters, {size / 1e6:.1f} MB "
        f"(harvest {harvested:.0f}s, total {time.time() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
