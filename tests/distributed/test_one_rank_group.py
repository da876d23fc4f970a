"""The distributed code paths in this process: a real gloo process group of one rank.

A job of one rank goes through DDP, the collectives, the sharded evaluation and rank 0's writing;
it must train exactly what the plain one-process run trains. (Two ranks: test_ddp.py, slow.)
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.distributed as dist

from jasper_core.distributed import current, from_main, gather_rows_with_grad, gather_shards, leave
from jasper_core.errors import CheckpointError, JasperError
from jasper_core.training.checkpoint import load_checkpoint


@pytest.fixture
def one_rank_group(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        yield current()
    finally:
        leave()
    assert not current().distributed


def test_trainer__in_a_one_rank_group_trains_what_the_plain_run_trains(one_rank_group, tiny_run, tiny_recipe_text,
                                                                       plugins, tmp_path):
    from jasper_core.recipe import recipe_from_text
    from jasper_core.training.trainer import Trainer

    trainer = Trainer(recipe_from_text(tiny_recipe_text, plugins.registries), plugins, run_dir=tmp_path / "run")
    assert trainer.world.distributed and trainer.world.is_main
    results = trainer.fit()
    mine, plain = (load_checkpoint(r / "checkpoints" / "last.pt") for r in (tmp_path / "run", tiny_run.path))
    for part in ("model", "target"):
        assert all(torch.equal(mine[part][k], plain[part][k]) for k in plain[part]), part
    assert results.flat() == tiny_run.results.flat()
    start = json.loads((tmp_path / "run" / "history.jsonl").read_text().splitlines()[0])
    assert start["event"] == "run_start" and start["world_size"] == 1 and mine["world_size"] == 1


def test_collectives__one_rank_gathers_are_exact_and_the_gradient_flows_back(one_rank_group):
    x = torch.randn(5, 3, requires_grad=True)
    assert torch.equal(gather_shards(x.detach(), 5), x.detach())
    w = torch.randn(5, 3)
    grad, = torch.autograd.grad((gather_rows_with_grad(x) * w).sum(), x)
    assert torch.equal(grad, w)


def test_from_main__rank_0_s_error_is_raised_with_its_type_and_message(one_rank_group):
    def broken():
        raise CheckpointError("x.pt: checkpoint not found")

    with pytest.raises(CheckpointError, match="x.pt: checkpoint not found"):
        from_main(broken)
    assert from_main(lambda: {"run": "runs/a"}) == {"run": "runs/a"}


def test_timeout__a_malformed_setting_is_one_clear_error(monkeypatch):
    from jasper_core.distributed import timeout

    monkeypatch.setenv("JASPER_DIST_TIMEOUT_S", "ten")
    with pytest.raises(JasperError, match="JASPER_DIST_TIMEOUT_S='ten' is not an integer"):
        timeout()
    monkeypatch.setenv("JASPER_DIST_TIMEOUT_S", "0")
    with pytest.raises(JasperError, match="must be > 0 seconds, got 0"):
        timeout()
    monkeypatch.setenv("JASPER_DIST_TIMEOUT_S", "30")
    assert timeout().total_seconds() == 30


END = """
import atexit, sys
import torch.distributed as dist
from jasper_core.distributed import end_process, leave
atexit.register(lambda: print("finalised", flush=True))
if sys.argv[1] == "gloo":
    dist.init_process_group("gloo", init_method="file://" + sys.argv[2], rank=0, world_size=1)
    leave()
print("bye", end="")  # buffered: end_process must flush it
end_process(3)
"""


@pytest.mark.slow  # two fresh interpreters
@pytest.mark.parametrize("group", ["gloo", "none"])
def test_end_process__after_leaving_a_gloo_group_skips_finalisation_and_keeps_output(group, tmp_path):
    """A rank that left a gloo group ends without the interpreter's finalisation (gloo's threads could abort
    it there: SIGABRT after a finished job), with its exit status and its buffered output; any other process
    ends normally (its exit handlers run)."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", END, group, str(tmp_path / "store")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == ("bye" if group == "gloo" else "byefinalised\n")
