"""One rank of the distributed tests; started by ``torchrun`` (see test_ddp.py).

    torchrun --standalone --nproc_per_node=2 tests/distributed/ddp_worker.py train RECIPE RUN_DIR OUT_DIR
    torchrun --standalone --nproc_per_node=2 tests/distributed/ddp_worker.py fail RECIPE RUN_DIR OUT_DIR
    torchrun --standalone --nproc_per_node=2 tests/distributed/ddp_worker.py graphed RECIPE RUN_DIR OUT_DIR

``train``: ``jasper train RECIPE --run-dir RUN_DIR`` through the CLI; each rank leaves in OUT_DIR the
weights it trained (before the final evaluation loads best.pt), the sharded evaluation of an
untrained model, and a gathered InfoNCE loss with its gradient. ``fail``: rank 1 raises in epoch 2.
``graphed``: ``train`` with the captured step of ``train.cuda_graph`` (its capture replaced by the CPU
stand-in ``conftest.ReplayByRerun``); each rank leaves its weights and what the captured step did.
``compiled``: ``train`` (the recipe sets ``train.compile``), the step's tail compiled too as on a GPU;
each rank leaves the reasons of dynamo's graph breaks, and whether the tail stayed compiled.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from jasper_core import JasperError, hookimpl
from jasper_core.cli import main as cli
from jasper_core.distributed import current, gather_rows_with_grad, join
from jasper_core.evaluation.evaluate import run_evaluation
from jasper_core.recipe import load_recipe
from jasper_core.testing import plugins_with
from jasper_core.testing.loss_properties import random_loss_inputs
from jasper_core.training.assemble import assemble
from jasper_core.training.trainer import Trainer
from jasper_plugins.losses.infonce import InfoNCEConfig, InfoNCELoss

GLOBAL_BATCH = 6


def dump_trained_weights(out: Path) -> None:
    final_evaluation = Trainer._final_evaluation

    def dump_then_evaluate(self, setup):
        torch.save({"model": setup.model.state_dict(), "target": setup.target_space.state_dict()},
                   out / f"weights-rank{self.world.rank}.pt")
        return final_evaluation(self, setup)

    Trainer._final_evaluation = dump_then_evaluate


def gathered_loss(out: Path) -> None:
    """InfoNCE on this rank's rows of one global batch, and a gather whose gathered rows carry gradients."""
    world = current()
    whole = random_loss_inputs(batch=GLOBAL_BATCH, negatives=3, seed=7, requires_grad=True)
    b = GLOBAL_BATCH // world.size
    rows = slice(world.rank * b, (world.rank + 1) * b)
    pred = whole.prediction.detach()[rows].clone().requires_grad_(True)
    mine = type(whole)(prediction=pred, positive=whole.positive[rows], negatives=whole.negatives[rows],
                       negative_tiers=whole.negative_tiers[rows], cluster=whole.cluster[rows], state=whole.state)
    loss = InfoNCELoss(InfoNCEConfig())(mine)["loss"]
    grad, = torch.autograd.grad(loss, pred)
    x = whole.positive[rows].clone().requires_grad_(True)
    weights = torch.arange(GLOBAL_BATCH * x.shape[1], dtype=torch.float).reshape(GLOBAL_BATCH, -1) * (world.rank + 1)
    gather_grad, = torch.autograd.grad((gather_rows_with_grad(x) * weights).sum(), x)
    torch.save({"loss": loss.detach(), "grad": grad, "gather_grad": gather_grad}, out / f"loss-rank{world.rank}.pt")


def sharded_evaluation(out: Path, recipe_path: str, plugins) -> None:
    recipe = load_recipe(recipe_path, plugins.registries)
    setup = assemble(recipe, plugins.registries)  # untrained: the same weights as any process's
    results = run_evaluation(setup.model, setup.target_space, setup.dataset, recipe, plugins.registries, "test")
    torch.save(results.to_dict(), out / f"eval-rank{current().rank}.pt")


class FailOnRank1:
    @hookimpl
    def jasper_epoch_start(self, run, epoch):
        if run.rank == 1 and epoch == 2:
            raise JasperError("broke on purpose in epoch 2")


def train_graphed(recipe: str, run_dir: str, out: Path) -> int:
    import json

    import jasper_core.training.trainer as trainer_module
    from jasper_core.training.graphed import GraphedStep

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from conftest import ReplayByRerun

    steps = []
    trainer_module.graphed_step = lambda recipe, device: steps.append(GraphedStep(ReplayByRerun())) or steps[-1]
    join(torch.device("cpu"))
    dump_trained_weights(out)
    code = cli.main(["train", recipe, "--run-dir", run_dir])
    (out / f"graphed-rank{os.environ['RANK']}.json").write_text(json.dumps({"captures": steps[0].captures,
                                                                        "disabled": steps[0].disabled}))
    return code


def train_compiled(recipe: str, run_dir: str, out: Path) -> int:
    import json

    from torch._dynamo.utils import counters

    from jasper_core.training import trainer
    from jasper_core.training.compiled import compile_step
    from jasper_core.training.step import decide_update, ema_update

    setups = []

    def assemble_with_compiled_tail(*args, **kwargs):  # the tail compiled as on a GPU (its all-reduce traced)
        setup = assemble(*args, **kwargs)
        setup.compiled_check, setup.compiled_ema = compile_step(decide_update, "default"), compile_step(ema_update, "default")
        setups.append(setup)
        return setup

    trainer.assemble = assemble_with_compiled_tail
    code = cli.main(["train", recipe, "--run-dir", run_dir])
    breaks = [" ".join(reason.split()[:40]) for reason in counters["graph_break"]]
    tail = bool(setups) and all(s.compiled_check is not None and s.compiled_ema is not None for s in setups)
    (out / f"compiled-rank{os.environ['RANK']}.json").write_text(json.dumps({"graph_breaks": breaks, "tail_compiled": tail}))
    return code


def main() -> int:
    mode, recipe, run_dir, out = sys.argv[1:5]
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if mode == "graphed":
        return train_graphed(recipe, run_dir, out_dir)
    if mode == "compiled":
        return train_compiled(recipe, run_dir, out_dir)
    if mode == "fail":
        plugins = plugins_with(FailOnRank1())
        cli.get_plugins = lambda args: plugins
        return cli.main(["train", recipe, "--run-dir", run_dir])
    join(torch.device("cpu"))
    gathered_loss(out_dir)
    sharded_evaluation(out_dir, recipe, cli.get_plugins(None))
    dump_trained_weights(out_dir)
    return cli.main(["train", recipe, "--run-dir", run_dir])  # the same process group; it leaves it at the end


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from jasper_core.distributed import end_process

    end_process(main())  # as the jasper command ends (see distributed.leave)
