"""Vectorised batching (device-resident tensors, one gather per batch) vs. a per-sample DataLoader."""

from __future__ import annotations

import argparse
import time

import torch

from common import synthetic_dataset_dir
from jasper_core.training.batches import epoch_batches
from jasper_plugins.data.dataset import JasperDataset, JasperDatasetConfig


class PerSample(torch.utils.data.Dataset):
    """The conventional path: ``__getitem__`` builds one sample's tensors; collate stacks them."""

    def __init__(self, ds: JasperDataset, pairs: torch.Tensor, probs) -> None:
        self.ds, self.pairs = ds, pairs.cpu()
        self.codes = torch.multinomial(torch.tensor(probs), len(pairs), replacement=True)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int):
        p = self.pairs[i : i + 1].to(self.ds.device)
        b = self.ds.gather(p, self.codes[i : i + 1].to(self.ds.device))
        return {k: getattr(b, k)[0] for k in ("question", "steering", "source", "negatives", "negative_tiers", "cluster")}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pairs", type=int, default=50_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--workers", type=int, default=0)
    args = ap.parse_args()
    device = torch.device(args.device)
    ds = JasperDataset(JasperDatasetConfig(path=str(synthetic_dataset_dir(args.pairs, args.dim))), device=device)
    pairs = ds.split("train")
    probs = [0.25] * 4
    print(f"device {device}, {len(pairs)} train pairs, D={ds.dim}, K={ds.negatives.shape[1]}, batch {args.batch_size}")

    for _ in range(2):  # warm-up, then timed
        sync(device)
        t = time.perf_counter()
        n = sum(1 for _ in epoch_batches(ds, pairs, args.batch_size, generator=torch.Generator().manual_seed(0), variant_probs=probs))
        sync(device)
        vec = time.perf_counter() - t
    print(f"vectorised:  {n} batches in {vec:.3f}s = {n / vec:,.0f} batches/s ({n * args.batch_size / vec:,.0f} pairs/s)")

    loader = torch.utils.data.DataLoader(PerSample(ds, pairs, probs), batch_size=args.batch_size, shuffle=True,
                                         drop_last=True, num_workers=args.workers)
    limit = max(n // 10, 5)
    sync(device)
    t = time.perf_counter()
    m = 0
    for batch in loader:
        m += 1
        if m >= limit:
            break
    sync(device)
    per = time.perf_counter() - t
    print(f"per-sample DataLoader (workers={args.workers}): {m} batches in {per:.3f}s = {m / per:,.0f} batches/s "
          f"({m * args.batch_size / per:,.0f} pairs/s)")
    print(f"speed-up: {(n / vec) / (m / per):.1f}x")


if __name__ == "__main__":
    main()
