"""Build every component of a recipe into a ready-to-train :class:`Setup`."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import attrs
import torch
from torch import nn

from jasper_core.contracts import STEERING_VARIANTS, Dataset, Predictor, StepState
from jasper_core.errors import Problem, RecipeError
from jasper_core.recipe.component import Component, check_schedule_output
from jasper_core.recipe.schema import Recipe
from jasper_core.training.loss_composer import LossComposer
from jasper_core.training.nonfinite import NonFiniteGuard
from jasper_core.training.output_checks import check_schedule_range, probe_model
from jasper_core.training.step_reads import StepReads
from jasper_core.training.target_space import TargetSpace

AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for an absent CUDA device is a recipe error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RecipeError("recipe", [Problem("train.device", f'{name!r} asked for, but CUDA is not available here; use "auto" or "cpu"')])
    if name == "mps" and not torch.backends.mps.is_available():
        raise RecipeError("recipe", [Problem("train.device", '"mps" asked for, but it is not available here; use "auto" or "cpu"')])
    return torch.device(name)


@attrs.define(kw_only=True)
class Setup:
    """Everything a training run needs, built from one recipe."""

    recipe: Recipe
    registries: Any
    device: torch.device
    dataset: Dataset
    model: Predictor
    target_space: TargetSpace
    composer: LossComposer
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    lr_schedule: Callable[[int, int], float]
    ema_decay: Callable[[int, int], float]
    curriculum: Callable[[int, int], Sequence[float]]
    autocast_dtype: torch.dtype | None
    guard: NonFiniteGuard
    ddp: nn.Module | None = None  # the model wrapped for a multi-process job (jasper_core.distributed.ddp)
    compiled: Callable | None = None  # step.forward_losses under torch.compile (train.compile), else None: eager
    compiled_check: Callable | None = None  # step.decide_update compiled (train.compile = "default"), else None
    compiled_ema: Callable | None = None  # step.ema_update compiled (train.compile = "default"), else None
    graphed: Any = None  # the captured step (train.cuda_graph on a CUDA device: graphed.GraphedStep, set by the trainer)
    watch: set[str] | None = None  # while a set: the states built record reads of their step into it (step_reads.py)

    def step_state(self, step: int, total_steps: int, centroids: torch.Tensor | None = None) -> StepState:
        """The model's per-step input: position in training and target-space centroids ``[C, D]``
        (encoded here unless given)."""
        centroids = self.target_space(self.dataset.centroids) if centroids is None else centroids
        if self.watch is not None:
            return StepReads(step=step, total_steps=max(total_steps, 1), centroids=centroids, reads=self.watch)
        return StepState(step=step, total_steps=max(total_steps, 1), centroids=centroids)


def build_schedule(comp: Component, registries: Any, *, length: int | None = None) -> Callable[[int, int], Any]:
    """Build a schedule and check it gives what its place needs (see ``check_schedule_output``)."""
    schedule = comp.build(registries)
    check_schedule_output(schedule, comp, length)
    return schedule


def _loss_names(recipe: Recipe) -> list[str]:
    names, seen = [], {}
    for comp in recipe.loss:
        seen[comp.type] = seen.get(comp.type, 0) + 1
        names.append(comp.type if seen[comp.type] == 1 else f"{comp.type}_{seen[comp.type]}")
    return names


def build_optimizer(recipe: Recipe, params: list[nn.Parameter], device: torch.device) -> torch.optim.Optimizer:
    """Adam/AdamW with the fused kernel where the device has one (one kernel for all parameters; it
    skips a non-finite step on the device), else the multi-tensor (``foreach``) form; SGD multi-tensor."""
    o = recipe.optim
    if o.type == "sgd":
        return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay, foreach=True)
    cls = torch.optim.AdamW if o.type == "adamw" else torch.optim.Adam
    kind = {"fused": True} if device.type in ("cpu", "cuda") else {"foreach": True}
    return cls(params, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay, **kind)


def build_model(recipe: Recipe, registries: Any, dataset: Dataset, device: torch.device) -> tuple[Predictor, TargetSpace]:
    """The predictor (with whatever it nests, e.g. a router) and its target space, on ``device``.

    Every component is seeded from ``train.seed`` and its recipe path.
    """
    seed = recipe.train.seed
    space = recipe.target_space
    encoder = space.encoder.build(registries, seed=seed, dim=dataset.dim)
    model = recipe.model.build(registries, seed=seed, dim=dataset.dim, num_clusters=dataset.num_clusters,
                               centroids=dataset.centroids, encoder=encoder)
    if not isinstance(model, Predictor):
        raise RecipeError("recipe", [Problem("model.type", f'model "{recipe.model.type}" did not build a '
                                             "jasper_core.Predictor (subclass it, set online_encoder, implement forward)")])
    model = model.to(device)
    try:
        target_space = TargetSpace(space.mode, model.online_encoder)
    except ValueError as exc:
        raise RecipeError("recipe", [Problem("target_space.mode", str(exc))]) from None
    return model, target_space.to(device)


def compiled_parts(recipe: Recipe, device: torch.device) -> tuple[Any, Any, Any]:
    """The step's compiled functions for ``train.compile`` (each None where it runs eagerly): the forward and
    losses, and, under ``"default"`` on a GPU only, the clipping with the non-finite check and the EMA step
    (on the CPU the tail was not measurably faster, and each compiled call adds dynamo's guard checks on the
    host; the CUDA-graph modes keep it eager). All with ``train.compile_tuning``'s kernel tuning, and on a GPU
    the forward with the loss means split over blocks of rows (:func:`compile_step`)."""
    if recipe.train.compile == "off":
        return None, None, None
    from jasper_core.training.compiled import compile_step
    from jasper_core.training.step import decide_update, ema_update, forward_losses

    tuning, mode = recipe.train.compile_tuning, recipe.train.compile
    split = device.type == "cuda"  # no one-block batch mean for a timing to go wrong in (compile_step)
    compiled = compile_step(forward_losses, mode, tuning, split)  # the tail has no batch means
    if mode != "default" or device.type != "cuda":
        return compiled, None, None
    return compiled, compile_step(decide_update, mode, tuning), compile_step(ema_update, mode, tuning)


def assemble(recipe: Recipe, registries: Any, *, device: torch.device | None = None) -> Setup:
    """Build dataset, model, target space, losses, optimiser and schedules.

    Raises:
        RecipeError: a component's factory rejected its config (with the recipe path).
        DatasetError: the dataset is missing or corrupt.
    """
    device = device or resolve_device(recipe.train.device)
    torch.manual_seed(recipe.train.seed)
    seed = recipe.train.seed
    dataset = recipe.data.build(registries, seed=seed, device=device)
    problems = [Problem(f"eval.{key}", f"the dataset's {split!r} split has no pairs to evaluate on; "
                                      f"choose another split or rebuild the dataset with a larger {split} fraction")
                for key, split in (("split", recipe.eval.split), ("final_split", recipe.eval.final_split))
                if dataset.split(split).numel() == 0]
    n_train, t = int(dataset.split("train").numel()), recipe.train
    if t.drop_last and t.batch_size > n_train:  # not one step would run, yet the run would "complete"
        problems.append(Problem("train.batch_size", f"{t.batch_size} is more than the {n_train} training pairs and "
                                                    "train.drop_last is true: no step would run; lower it or set drop_last = false"))
    if problems:
        raise RecipeError("recipe", problems)
    model, target_space = build_model(recipe, registries, dataset, device)
    probe_model(model, target_space, dataset, recipe.model)
    terms = []
    for name, comp in zip(_loss_names(recipe), recipe.loss):
        module = comp.build(registries, seed=seed)
        if not callable(module):
            raise RecipeError("recipe", [Problem(comp.path, f'loss "{comp.type}" did not build a callable')])
        terms.append((name, module.to(device) if isinstance(module, nn.Module) else module, comp.options.get("weight", 1.0)))
    composer = LossComposer(terms, recipe.train.loss_weighting).to(device)
    params = [p for p in list(model.parameters()) + list(composer.parameters()) if p.requires_grad]
    precision = recipe.train.precision
    compiled, compiled_check, compiled_ema = compiled_parts(recipe, device)
    return Setup(
        recipe=recipe,
        registries=registries,
        device=device,
        dataset=dataset,
        model=model,
        target_space=target_space,
        composer=composer,
        optimizer=build_optimizer(recipe, params, device),
        scaler=torch.amp.GradScaler(device.type, enabled=precision == "fp16"),
        lr_schedule=check_schedule_range(build_schedule(recipe.optim.schedule, registries), recipe.optim.schedule,
                                         0.0, None, "the learning-rate multiplier"),
        ema_decay=check_schedule_range(build_schedule(recipe.target_space.decay, registries), recipe.target_space.decay,
                                       0.0, 1.0, "the EMA decay"),
        curriculum=build_schedule(recipe.train.curriculum, registries, length=len(STEERING_VARIANTS)),
        autocast_dtype=AUTOCAST_DTYPES[precision],
        guard=NonFiniteGuard(device, recipe.train.nonfinite, grad_norm_stops=precision != "fp16"),
        compiled=compiled,
        compiled_check=compiled_check,
        compiled_ema=compiled_ema,
    )
