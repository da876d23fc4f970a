"""Shared fixtures: loaded plugins, a synthetic dataset on disk, a tiny recipe that trains in seconds."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.pop("JASPER_DISABLE_PLUGINS", None)
os.environ.pop("JASPER_STRICT_PLUGINS", None)
# The test models are tiny: a second intra-op thread only adds overhead, and on a busy 2-core machine it
# makes a 0.4 s training run take several seconds. Set before torch loads (subprocesses inherit it).
os.environ.setdefault("OMP_NUM_THREADS", "1")

from hypothesis import settings  # noqa: E402

# torch and jasper are imported by the fixtures and tests, not here: pytest-xdist's controller loads this file
# too (it runs no test), and importing torch takes about 1.5 s of the fast suite's 30 s there.

# Hypothesis budgets: `make test` runs the "fast" profile (the default here), `make test-all` passes
# --hypothesis-profile=full. Tests leave max_examples to the profile.
settings.register_profile("fast", max_examples=20, deadline=None)
settings.register_profile("full", max_examples=200, deadline=None)
settings.load_profile("fast")


def examples() -> int:
    """The current profile's max_examples, for helpers that take the budget as an argument."""
    return settings().max_examples


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    """torch's intra-op threads: OMP_NUM_THREADS (1 unless set), in each process that runs tests."""
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(autouse=True)
def _corpus_cache(tmp_path_factory, monkeypatch):
    """Encoded corpora (``jasper search``) are cached in the session's temporary directory, not the user's cache."""
    monkeypatch.setenv("JASPER_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "jasper_cache"))


@pytest.fixture(scope="session")
def plugins():
    from jasper_core import load_plugins

    loaded = load_plugins(disabled=[])
    assert not loaded.failures, loaded.failures
    return loaded


@pytest.fixture(scope="session")
def registries(plugins):
    return plugins.registries


def write_synthetic(path: Path, fmt: str = "legacy", **kwargs) -> Path:
    from jasper_core.testing import synthetic_tensors
    from jasper_plugins.data.writer import write_dataset

    tensors, meta = synthetic_tensors(**kwargs)
    return write_dataset(path, tensors, meta, fmt=fmt)


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("synthetic") / "data")


TINY_RECIPE = """
[data]
type = "jasper"
path = "{path}"

[model]
type = "jepa"
hidden_dim = 32
num_layers = 2
dropout = 0.1

[target_space.encoder]
type = "residual_mlp"
hidden_dim = 32

[[loss]]
type = "jepa"

[[loss]]
type = "infonce"
weight = 0.5

[[loss]]
type = "centroid"
weight = 0.1

[[loss]]
type = "vicreg"
weight = 0.1

[optim]
lr = 1e-3

[optim.schedule]
type = "warmup_cosine"
warmup_steps = 2

[train]
epochs = 3
batch_size = 16
seed = 0
device = "cpu"

[[logger]]
type = "jsonl"
"""


@pytest.fixture
def tiny_recipe_text(synthetic_dir) -> str:
    return TINY_RECIPE.format(path=synthetic_dir)


@pytest.fixture
def tiny_recipe_file(tmp_path, tiny_recipe_text) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(tiny_recipe_text)
    return path


@pytest.fixture(scope="session")
def tiny_recipe_text_session(synthetic_dir) -> str:
    return TINY_RECIPE.format(path=synthetic_dir)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_recipe_text_session, plugins) -> SimpleNamespace:
    """One finished training run of the tiny recipe (``.path``, ``.results``), shared by tests that only read it.

    Tests that write into a run (resume it, evaluate into it) work on a copy: ``copy_run``.
    """
    from jasper_core.recipe import recipe_from_text
    from jasper_core.training.trainer import Trainer

    run = tmp_path_factory.mktemp("tiny_run") / "run"
    results = Trainer(recipe_from_text(tiny_recipe_text_session, plugins.registries), plugins, run_dir=run).fit()
    return SimpleNamespace(path=run, results=results)


def copy_run(run: Path, dest: Path) -> Path:
    import shutil

    return Path(shutil.copytree(run, dest))


# Twelve question → source pairs in three topics, for `jasper data build` and `jasper explain`.
TEXT_RECORDS = [
    {"question": "How do I open a file for reading?", "source": "Use open(path) with mode 'r' to read text files.", "cluster": "files", "keywords": ["open", "read"]},
    {"question": "How can I delete a directory tree?", "source": "shutil.rmtree removes a directory and all its contents.", "cluster": "files"},
    {"question": "How do I list files matching a pattern?", "source": "glob.glob returns paths matching a shell-style wildcard.", "cluster": "files"},
    {"question": "How do I copy a file?", "source": "shutil.copy copies the data and permission bits of a file.", "cluster": "files"},
    {"question": "How to parse a JSON string?", "source": "json.loads turns a JSON document into Python objects.", "cluster": "formats", "keywords": "json, parse"},
    {"question": "How to write CSV rows?", "source": "csv.writer writes delimited rows to a file object.", "cluster": "formats"},
    {"question": "How do I read an INI file?", "source": "configparser reads INI-style configuration files into sections.", "cluster": "formats"},
    {"question": "How to encode bytes as base64?", "source": "base64.b64encode encodes a bytes-like object using Base64.", "cluster": "formats"},
    {"question": "How do I start a thread?", "source": "threading.Thread(target=f).start() runs f in a new thread.", "cluster": "concurrency"},
    {"question": "How to run tasks in a pool of processes?", "source": "multiprocessing.Pool maps a function over inputs in worker processes.", "cluster": "concurrency"},
    {"question": "How do I wait for futures?", "source": "concurrent.futures.wait blocks until the given futures complete.", "cluster": "concurrency"},
    {"question": "How to share a queue between threads?", "source": "queue.Queue is a thread-safe FIFO for producer-consumer code.", "cluster": "concurrency"},
]
WORDS_DIM = 64


def words_embedder(model_name: str = "words", batch_size: int = 64, progress: bool = True):
    """A stand-in for the sentence-transformers embedder (same signature): hashed bag of words, L2-normalised.

    Importing sentence-transformers alone takes ~4 s, so the fast suite builds and explains with this;
    the real MiniLM runs in the slow tests (`make test-all`).
    """
    import re
    import zlib

    import torch

    def embed(texts):
        out = torch.zeros(len(texts), WORDS_DIM)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                out[i, zlib.crc32(word.encode()) % WORDS_DIM] += 1.0
        return torch.nn.functional.normalize(out, dim=1)

    embed.model_name = model_name
    return embed


def build_text_dataset(root: Path) -> Path:
    """``jasper data build`` of TEXT_RECORDS into ``root/ds`` (asserting it exits 0)."""
    import json

    from jasper_core.cli.main import main

    root.mkdir(parents=True, exist_ok=True)
    src = root / "pairs.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in TEXT_RECORDS))
    out = root / "ds"
    assert main(["data", "build", str(src), "--out", str(out), "--negatives", "2", "1", "1",
                 "--val", "0.2", "--test", "0.2", "-q"]) == 0
    return out


@pytest.fixture
def use_words_embedder(monkeypatch):
    """Text is embedded by ``words_embedder`` instead of sentence-transformers (data build, explain)."""
    import jasper_plugins.data.builder as builder

    monkeypatch.setattr(builder, "sentence_transformer_embedder", words_embedder)


@pytest.fixture(scope="session")
def text_dataset(tmp_path_factory, plugins) -> Path:
    """TEXT_RECORDS built with the stand-in ``words_embedder`` (dimension WORDS_DIM)."""
    import jasper_plugins.data.builder as builder

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(builder, "sentence_transformer_embedder", words_embedder)
        return build_text_dataset(tmp_path_factory.mktemp("text_dataset"))


@pytest.fixture(scope="session")
def minilm_text_dataset(tmp_path_factory, plugins) -> Path:
    """TEXT_RECORDS built with the real MiniLM model (dimension 384; slow tests only)."""
    return build_text_dataset(tmp_path_factory.mktemp("minilm_text_dataset"))


class ReplayByRerun:
    """A capture backend for the CPU: ``capture`` runs the step once; ``replay`` runs it again into the same outputs."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def capture(self, fn):
        if self.fail:
            raise RuntimeError("CUDA error: operation not permitted when stream is capturing\nmore detail")
        out = fn()

        def replay():
            names, values, taken = fn()
            out[1].copy_(values)
            out[2].copy_(taken)

        return out, replay
