"""Two CPU processes with gloo, started by torchrun, against one process on the global batch.

Slow: each scenario starts processes (make test-all).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from jasper_core.training.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("ddp_worker.py")
PER_DEVICE = 8

# Losses that are exact under DDP: per-row means (jepa) and gathered in-batch negatives (infonce); no
# dropout or input noise, so the two runs draw nothing from the RNG while training.
RECIPE = """
[data]
type = "jasper"
path = "{path}"

[model]
type = "jepa"
hidden_dim = 32
num_layers = 2
dropout = 0.0

[target_space.encoder]
type = "residual_mlp"
hidden_dim = 32
dropout = 0.0

[[loss]]
type = "jepa"

[[loss]]
type = "infonce"
weight = 0.5

[optim]
lr = 1e-3

[optim.schedule]
type = "warmup_cosine"
warmup_steps = 2

[train]
epochs = 2
batch_size = {batch}
seed = 0
device = "cpu"
checkpoint_every = 1
keep_checkpoints = 5

[train.curriculum]
type = "steering_curriculum"
start = [0.25, 0.25, 0.25, 0.25]
end = [0.25, 0.25, 0.25, 0.25]

[[logger]]
type = "jsonl"
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun(mode: str, recipe: Path, run_dir: Path, out: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "JASPER_DIST_TIMEOUT_S": "60"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(WORKER),
           mode, str(recipe), str(run_dir), str(out)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory, synthetic_dir) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("ddp")
    recipe = root / "ddp.toml"
    recipe.write_text(RECIPE.format(path=synthetic_dir, batch=PER_DEVICE))
    proc = torchrun("train", recipe, root / "run", root / "out")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return SimpleNamespace(root=root, recipe=recipe, run=root / "run", out=root / "out", synthetic_dir=synthetic_dir)


@pytest.fixture(scope="module")
def single_run(tmp_path_factory, ddp_run, plugins) -> Path:
    """The same recipe in one process with the global batch."""
    return train_one_process(RECIPE.format(path=ddp_run.synthetic_dir, batch=2 * PER_DEVICE), plugins,
                             tmp_path_factory.mktemp("single") / "run")


def train_one_process(text: str, plugins, run: Path) -> Path:
    from jasper_core.recipe import recipe_from_text
    from jasper_core.training.trainer import Trainer

    Trainer(recipe_from_text(text, plugins.registries), plugins, run_dir=run).fit()
    return run


def assert_weights_close(mine: dict, one: dict, parts: tuple[str, ...]) -> None:
    """The 2-process job's weights (rank 0) against the one-process run's, within float tolerance."""
    for part in parts:
        for key, value in mine[part].items():
            torch.testing.assert_close(value, one[part][key], rtol=1e-4, atol=1e-5, msg=f"{part}.{key}")


def test_ddp__both_ranks_hold_identical_weights_and_ema_targets(ddp_run):
    r0, r1 = (torch.load(ddp_run.out / f"weights-rank{r}.pt", weights_only=True) for r in (0, 1))
    for part in ("model", "target"):
        assert r0[part].keys() == r1[part].keys()
        for key in r0[part]:
            assert torch.equal(r0[part][key], r1[part][key]), (part, key)
    initial = torch.load(ddp_run.out / "weights-rank0.pt", weights_only=True)["target"]
    assert initial  # the EMA target has weights (mode "ema"), and they moved with training:
    first = load_checkpoint(ddp_run.run / "checkpoints" / "epoch-1.pt")["target"]
    assert any(not torch.equal(first[k], initial[k]) for k in first)


def test_ddp__weights_equal_the_one_process_run_on_the_global_batch(ddp_run, single_run):
    mine = torch.load(ddp_run.out / "weights-rank0.pt", weights_only=True)
    one = load_checkpoint(single_run / "checkpoints" / "last.pt")
    assert load_checkpoint(ddp_run.run / "checkpoints" / "last.pt")["step"] == one["step"] > 0
    assert_weights_close(mine, one, ("model", "target"))


def test_ddp__with_sgd_too_the_weights_equal_the_one_process_run(ddp_run, plugins, tmp_path):
    """AdamW is all but blind to a constant factor on the gradients; SGD without clipping is not: had the
    ranks' gradients been summed, or averaged twice, these weights would differ."""

    def recipe(batch: int) -> str:
        text = RECIPE.format(path=ddp_run.synthetic_dir, batch=batch)
        return text.replace("[optim]\nlr = 1e-3", '[optim]\ntype = "sgd"\nlr = 0.05\ngrad_clip = 0.0')

    assert 'type = "sgd"' in recipe(PER_DEVICE)
    (tmp_path / "sgd.toml").write_text(recipe(PER_DEVICE))
    proc = torchrun("train", tmp_path / "sgd.toml", tmp_path / "run", tmp_path / "out")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    one = train_one_process(recipe(2 * PER_DEVICE), plugins, tmp_path / "one")
    assert_weights_close(torch.load(tmp_path / "out" / "weights-rank0.pt", weights_only=True),
                         load_checkpoint(one / "checkpoints" / "last.pt"), ("model",))


def test_ddp__gathered_infonce_loss_and_gradients_equal_the_global_batch(ddp_run):
    from jasper_core.testing.loss_properties import random_loss_inputs
    from jasper_plugins.losses.infonce import InfoNCEConfig, InfoNCELoss

    sys.path.insert(0, str(WORKER.parent))
    from ddp_worker import GLOBAL_BATCH

    whole = random_loss_inputs(batch=GLOBAL_BATCH, negatives=3, seed=7, requires_grad=True)
    loss = InfoNCELoss(InfoNCEConfig())(whole)["loss"]
    grad, = torch.autograd.grad(loss, whole.prediction)
    ranks = [torch.load(ddp_run.out / f"loss-rank{r}.pt", weights_only=True) for r in (0, 1)]
    torch.testing.assert_close((ranks[0]["loss"] + ranks[1]["loss"]) / 2, loss.detach())
    # DDP averages the ranks' gradients: each rank's gradient is twice its rows' share of the global one
    torch.testing.assert_close(torch.cat([r["grad"] for r in ranks]) / 2, grad)
    # the gathered rows get the gradient of every rank's loss: rank r weighs row i by (r + 1)·w_i
    dim = ranks[0]["gather_grad"].shape[1]
    w = torch.arange(GLOBAL_BATCH * dim, dtype=torch.float).reshape(GLOBAL_BATCH, dim) * 3
    torch.testing.assert_close(torch.cat([r["gather_grad"] for r in ranks]), w)


def test_ddp__sharded_evaluation_equals_one_process(ddp_run, plugins):
    from jasper_core.evaluation.evaluate import run_evaluation
    from jasper_core.recipe import load_recipe
    from jasper_core.training.assemble import assemble

    recipe = load_recipe(str(ddp_run.recipe), plugins.registries)
    setup = assemble(recipe, plugins.registries)
    one = run_evaluation(setup.model, setup.target_space, setup.dataset, recipe, plugins.registries, "test").to_dict()
    for rank in (0, 1):
        sharded = torch.load(ddp_run.out / f"eval-rank{rank}.pt", weights_only=False)
        sharded.pop("search_timing", None)
        expected = {k: v for k, v in one.items() if k != "search_timing"}
        assert_same(sharded, expected)
        assert sharded["num_queries"] == setup.dataset.split("test").numel()


def assert_same(a, b, path="results"):
    """Equal nested results; numbers to 1e-9."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for key in a:
            assert_same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert a == pytest.approx(b, abs=1e-9), path
    else:
        assert a == b, path


def test_ddp__one_run_directory_written_by_rank_0(ddp_run):
    names = sorted(p.relative_to(ddp_run.run).as_posix() for p in ddp_run.run.rglob("*"))
    assert names == ["checkpoints", "checkpoints/best.pt", "checkpoints/epoch-1.pt", "checkpoints/epoch-2.pt",
                     "checkpoints/last.pt", "eval.json", "history.jsonl", "recipe.toml"]
    assert sorted(p.name for p in ddp_run.root.iterdir()) == ["ddp.toml", "out", "run"]
    events = [json.loads(line) for line in (ddp_run.run / "history.jsonl").read_text().splitlines()]
    starts = [e for e in events if e["event"] == "run_start"]
    assert len(starts) == 1 and starts[0]["world_size"] == 2
    assert starts[0]["batch_size"] == PER_DEVICE and starts[0]["global_batch_size"] == 2 * PER_DEVICE
    assert sum(e["event"] == "run_end" for e in events) == 1
    assert load_checkpoint(ddp_run.run / "checkpoints" / "last.pt")["world_size"] == 2


def test_ddp__a_two_process_checkpoint_resumes_in_one_process(ddp_run, plugins, tmp_path):
    from jasper_core.recipe import load_recipe
    from jasper_core.training.batches import num_batches
    from jasper_core.training.trainer import Trainer

    recipe = load_recipe(str(ddp_run.recipe), plugins.registries)
    ckpt = ddp_run.run / "checkpoints" / "epoch-1.pt"
    Trainer(recipe, plugins, run_dir=tmp_path / "run", resume=str(ckpt)).fit()
    events = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    start = next(e for e in events if e["event"] == "run_start")
    assert start["resumed"] and start["start_epoch"] == 2 and start["world_size"] == 1
    spe = num_batches(_train_pairs(ddp_run, plugins), PER_DEVICE, True, 1)
    steps = [e["step"] for e in events if e["event"] == "step"]
    assert start["total_steps"] == 2 * spe and spe < min(steps) and max(steps) == 2 * spe  # continued at the same epoch
    assert [e["step"] for e in events if e["event"] == "epoch"] == [2 * spe]
    last = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert last["epoch"] == 2 and last["world_size"] == 1


def test_ddp__a_two_process_run_resumed_in_two_processes_ends_with_the_same_weights(ddp_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(ddp_run.run, run)
    (run / "checkpoints" / "epoch-1.pt").replace(run / "checkpoints" / "last.pt")  # as if stopped after epoch 1
    env = {**os.environ, "OMP_NUM_THREADS": "1", "JASPER_DIST_TIMEOUT_S": "60"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
                           "jasper", "train", str(ddp_run.recipe), "--run-dir", str(run), "--resume", "auto"],
                          capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    resumed, straight = (load_checkpoint(r / "checkpoints" / "last.pt") for r in (run, ddp_run.run))
    assert resumed["step"] == straight["step"]
    for part in ("model", "target", "optimizer"):
        for key, value in straight[part].items() if part != "optimizer" else straight[part]["state"].items():
            other = resumed[part][key] if part != "optimizer" else resumed[part]["state"][key]
            if isinstance(value, dict):
                assert all(torch.equal(value[k], other[k]) for k in value), (part, key)
            else:
                assert torch.equal(value, other), (part, key)


def _train_pairs(ddp_run, plugins) -> int:
    from jasper_plugins.data.dataset import JasperDataset, JasperDatasetConfig

    return JasperDataset(JasperDatasetConfig(path=str(ddp_run.synthetic_dir)), device="cpu").split("train").numel()


def test_torchrun__a_failing_rank_ends_the_job_with_its_error_and_no_rank_hangs(ddp_run, tmp_path):
    proc = torchrun("fail", ddp_run.recipe, tmp_path / "run", tmp_path / "out", timeout=120)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "error: rank 1: broke on purpose in epoch 2" in out
    assert not (tmp_path / "run" / "checkpoints" / "epoch-2.pt").exists()  # rank 0 did not finish epoch 2 alone


def test_ddp__two_nodes_of_one_process_train_what_one_node_of_two_trains(ddp_run, tmp_path):
    """torchrun's multi-node launch (static rendezvous), both "nodes" on this host: each process is local
    rank 0 of its node, global ranks 0 and 1; the result is the one-node job's, and only rank 0 writes."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "JASPER_DIST_TIMEOUT_S": "60"}
    port = free_port()
    nodes = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes=2", f"--node_rank={node}",
                               "--nproc_per_node=1", "--master_addr=127.0.0.1", f"--master_port={port}", str(WORKER),
                               "train", str(ddp_run.recipe), str(tmp_path / "run"), str(tmp_path / "out")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) for node in (0, 1)]
    outputs = [node.communicate(timeout=240)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], "\n".join(o[-2000:] for o in outputs)
    for rank in (0, 1):
        two_nodes = torch.load(tmp_path / "out" / f"weights-rank{rank}.pt", weights_only=True)
        one_node = torch.load(ddp_run.out / f"weights-rank{rank}.pt", weights_only=True)
        for part in ("model", "target"):
            for key, value in one_node[part].items():
                torch.testing.assert_close(two_nodes[part][key], value, rtol=1e-6, atol=1e-7, msg=f"{part}.{key}")
    events = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert [e["world_size"] for e in events if e["event"] == "run_start"] == [2]
    assert sum(e["event"] == "run_end" for e in events) == 1


def test_ddp__the_captured_step_trains_what_the_eager_job_trains(ddp_run, tmp_path):
    """train.cuda_graph's logic under DDP, on CPUs (the capture stood in for by re-running the step): both
    ranks watch the first step, warm up, capture at the same step and end with the eager job's weights."""
    from jasper_core.training.graphed import WARMUP_DDP

    recipe = tmp_path / "long.toml"  # 6 steps per epoch: the capture (after 12 eager steps) then replays
    recipe.write_text(RECIPE.format(path=ddp_run.synthetic_dir, batch=PER_DEVICE).replace("epochs = 2", "epochs = 4"))
    for mode in ("train", "graphed"):
        proc = torchrun(mode, recipe, tmp_path / mode, tmp_path / f"{mode}-out")
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert load_checkpoint(tmp_path / "graphed" / "checkpoints" / "last.pt")["step"] > WARMUP_DDP + 1
    for rank in (0, 1):
        assert json.loads((tmp_path / "graphed-out" / f"graphed-rank{rank}.json").read_text()) == \
            {"captures": 1, "disabled": ""}
        eager = torch.load(tmp_path / "train-out" / f"weights-rank{rank}.pt", weights_only=True)
        graphed = torch.load(tmp_path / "graphed-out" / f"weights-rank{rank}.pt", weights_only=True)
        for part in ("model", "target"):
            for key, value in eager[part].items():
                assert torch.equal(graphed[part][key], value), (rank, part, key)


def test_ddp__the_compiled_step_breaks_its_graph_only_at_ddps_forward(ddp_run, tmp_path):
    """Under DDP, train.compile splits the step only where DDP's forward stops dynamo; the gathered InfoNCE
    and the rest of the losses trace into one graph, and the compiled tail (as on a GPU) traces the non-finite
    vote's all-reduce without a break. (A ``World`` built in the gather broke the graph inside
    the loss composer's plugin-naming ``try``: the composer ran eagerly, each loss compiled on its own.)"""
    recipe = tmp_path / "compiled.toml"
    recipe.write_text(RECIPE.format(path=ddp_run.synthetic_dir, batch=PER_DEVICE)
                      .replace('seed = 0', 'seed = 0\ncompile = "default"'))
    proc = torchrun("compiled", recipe, tmp_path / "run", tmp_path / "out")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for rank in (0, 1):
        record = json.loads((tmp_path / "out" / f"compiled-rank{rank}.json").read_text())
        breaks = record["graph_breaks"]
        assert breaks, "DDP's forward always breaks the graph: nothing recorded means nothing was compiled"
        ddp_own = ("set_runtime_stats_and_log", "DistributedDataParallel.")
        assert [b for b in breaks if not any(mark in b for mark in ddp_own)] == [], rank
        assert record["tail_compiled"], rank  # the non-finite vote's all-reduce traced in the compiled check
