"""Rebuild the embedded default dataset from the Python standard library's docstrings.

    .venv/bin/python scripts/build_embedded_dataset.py [--out plugins/data/embedded]

Each public function, class and method with a docstring of a summary line plus a body becomes a
pair: the summary line is the question, the rest of the docstring is the source, the module
family is the cluster, and salient words (TF-IDF) are the keywords. Python's documentation is
under the PSF licence, which allows redistribution. Stored as fp16 to stay small.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import random
import shutil
import sys
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docstrings import members, split_docstring  # noqa: E402 - shared with build_devbench.py

FAMILIES: dict[str, tuple[str, ...]] = {
    "async io": ("asyncio",),
    "email": ("email", "email.message", "email.utils", "email.parser", "email.policy", "email.headerregistry", "mailbox"),
    "web and urls": ("http.client", "http.server", "http.cookiejar", "http.cookies", "urllib.request", "urllib.parse", "urllib.robotparser"),
    "xml": ("xml.etree.ElementTree", "xml.dom.minidom", "xml.sax", "xml.sax.saxutils", "xml.dom.pulldom"),
    "unit testing": ("unittest", "unittest.mock", "doctest"),
    "logging": ("logging", "logging.handlers", "logging.config"),
    "collections and functional tools": ("collections", "functools", "itertools", "operator", "heapq", "bisect", "contextlib"),
    "data formats": ("json", "csv", "configparser", "plistlib", "base64", "binascii", "quopri"),
    "files and paths": ("os", "pathlib", "shutil", "glob", "fnmatch", "tempfile", "filecmp", "fileinput"),
    "concurrency": ("multiprocessing", "multiprocessing.pool", "concurrent.futures", "threading", "queue", "sched"),
    "imports and packaging": ("importlib", "importlib.abc", "importlib.util", "importlib.resources", "importlib.metadata", "pkgutil", "zipimport", "runpy"),
    "types and introspection": ("typing", "inspect", "dataclasses", "abc", "enum", "types"),
    "dates and time": ("datetime", "calendar", "zoneinfo", "time", "_strptime", "_pydatetime"),
    "numbers and statistics": ("decimal", "fractions", "statistics", "random", "numbers", "cmath", "math"),
    "text processing": ("string", "textwrap", "difflib", "html", "html.parser", "re", "unicodedata", "locale", "gettext"),
    "compression and archives": ("zipfile", "tarfile", "gzip", "bz2", "lzma", "zlib"),
    "networking": ("socket", "ssl", "selectors", "smtplib", "ftplib", "imaplib", "poplib", "socketserver", "ipaddress"),
    "command-line interfaces": ("argparse", "optparse", "getopt", "cmd", "shlex"),
    "debugging and profiling": ("pdb", "bdb", "traceback", "trace", "tracemalloc", "cProfile", "profile", "pstats", "timeit", "faulthandler"),
    "persistence": ("sqlite3", "dbm", "dbm.dumb", "shelve", "pickle", "pickletools", "copyreg", "marshal"),
    "binary data and io": ("io", "_pyio", "codecs", "struct", "array", "mmap", "encodings"),
    "python language tools": ("ast", "dis", "tokenize", "symtable", "code", "codeop", "compileall", "py_compile", "pydoc", "keyword"),
    "web servers and rpc": ("wsgiref.simple_server", "wsgiref.handlers", "wsgiref.headers", "wsgiref.util", "wsgiref.validate", "xmlrpc.client", "xmlrpc.server"),
    "foreign functions": ("ctypes", "ctypes.util"),
    "operating system services": ("subprocess", "signal", "platform", "errno", "resource", "pty", "tty", "termios", "fcntl", "stat", "pwd", "grp"),
    "runtime services": ("sys", "gc", "weakref", "copy", "pprint", "reprlib", "atexit", "warnings", "sysconfig", "site"),
}
MAX_PER_CLUSTER = 200


def collect(seed: int) -> list[dict]:
    rng = random.Random(seed)
    records, seen = [], set()
    for cluster, modules in FAMILIES.items():
        found = []
        for mod_name in modules:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    module = importlib.import_module(mod_name)
            except Exception:  # noqa: BLE001 - a module missing on this build is skipped
                continue
            for qualname, obj in members(module):
                if id(obj) in seen:
                    continue
                seen.add(id(obj))
                doc = inspect.getdoc(obj)
                parts = split_docstring(doc) if doc else None
                if parts:
                    found.append({"question": parts[0], "source": parts[1], "cluster": cluster, "object": qualname})
        rng.shuffle(found)
        records.extend(found[:MAX_PER_CLUSTER])
    counts = Counter(r["question"] for r in records)
    sources = Counter(r["source"] for r in records)
    return [r for r in records if counts[r["question"]] == 1 and sources[r["source"]] == 1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "plugins" / "data" / "embedded"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from jasper_plugins.data.builder import build_dataset

    records = collect(args.seed)
    print(f"{len(records)} pairs in {len({r['cluster'] for r in records})} clusters (Python {sys.version.split()[0]})")
    out = Path(args.out)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "stdlib_docstrings.jsonl"
        src.write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
        staged = Path(tmp) / "dataset"
        build_dataset(src, staged, fmt="native", float_dtype=torch.float16, seed=args.seed)
        meta = json.loads((staged / "meta.json").read_text())
        meta["description"] = "Python standard-library docstrings: summary line -> rest of docstring, cluster = module family"
        meta["python_version"] = sys.version.split()[0]
        (staged / "meta.json").write_text(json.dumps(meta, indent=1))
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(staged, out)
    size = sum(f.stat().st_size for f in out.iterdir())
    print(f"wrote {out} ({size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
