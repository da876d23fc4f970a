"""Training throughput (pairs/s) and peak memory per precision, on CPU or CUDA.

Uses the jepa_base model sizes on a synthetic dataset resident on the device.
"""

from __future__ import annotations

import argparse
import time

import torch

from common import synthetic_dataset_dir
from jasper_core import load_plugins
from jasper_core.training.batches import epoch_batches
from jasper_core.recipe import load_recipe
from jasper_core.training.assemble import assemble
from jasper_core.training.step import train_step


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(plugins, data_dir, device: str, precision: str, batch_size: int, steps: int, recipe_name: str) -> dict:
    recipe = load_recipe(recipe_name, plugins.registries, [
        f'data.path="{data_dir}"', f"train.device={device}", f"train.precision={precision}",
        f"train.batch_size={batch_size}", 'logger=[]'])
    setup = assemble(recipe, plugins.registries)
    dev = setup.device
    pairs = setup.dataset.split("train")
    gen = torch.Generator().manual_seed(0)
    batches = []
    while len(batches) < steps + 10:
        batches.extend(epoch_batches(setup.dataset, pairs, batch_size, generator=gen, variant_probs=[0.25] * 4))
    for i in range(10):  # warm-up
        train_step(setup, batches[i], step=i, total_steps=steps + 10, aux_active=True)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    sync(dev)
    t = time.perf_counter()
    for i in range(10, steps + 10):
        result = train_step(setup, batches[i], step=i, total_steps=steps + 10, aux_active=True)
    sync(dev)
    elapsed = time.perf_counter() - t
    peak = torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else float("nan")
    return {"precision": precision, "steps_per_s": steps / elapsed, "pairs_per_s": steps * batch_size / elapsed,
            "peak_mib": peak, "final_loss": float(result.metrics.get("loss", float("nan")))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pairs", type=int, default=50_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--batch-size", type=int, nargs="+", default=[256])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--precision", nargs="+", default=["fp32", "bf16"])
    ap.add_argument("--recipe", default="jepa_base")
    args = ap.parse_args()
    plugins = load_plugins()
    data_dir = synthetic_dataset_dir(args.pairs, args.dim)
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(f"{args.recipe} on {name} (torch {torch.__version__}), {args.pairs} synthetic pairs, D={args.dim}, {args.steps} timed steps")
    print(f"{'batch':>6} {'precision':>9} {'steps/s':>9} {'pairs/s':>11} {'peak MiB':>9} {'loss':>8}")
    for bs in args.batch_size:
        for precision in args.precision:
            r = measure(plugins, data_dir, args.device, precision, bs, args.steps, args.recipe)
            print(f"{bs:>6} {precision:>9} {r['steps_per_s']:>9.1f} {r['pairs_per_s']:>11,.0f} {r['peak_mib']:>9.1f} {r['final_loss']:>8.4f}")


if __name__ == "__main__":
    main()
