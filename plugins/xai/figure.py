"""The three-panel explanation figure: routing bars, coarse vs. fine magnitude, steering influence."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping


def explanation_figure(e: Mapping[str, Any], path: str | Path, *, top: int = 8, title: str | None = None) -> Path:
    """Write a PNG for one explanation; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), gridspec_kw={"width_ratios": [2.2, 1, 1]})
    items = list(e["routing_distribution"].items())[:top][::-1]
    axes[0].barh([k for k, _ in items], [v for _, v in items], color=["tab:blue"] * (len(items) - 1) + ["tab:orange"])
    axes[0].set(xlim=(0, 1), xlabel="routing weight",
                title=f"routing ({e['routing_source'].replace('_', ' ')}): {e['primary_subspace']} {e['confidence']:.2f}")
    axes[1].bar(["coarse\n(routed centroid)", "fine\n(residual)"], [e["coarse_norm"], e["atypicality"]], color=["tab:green", "tab:red"])
    mean = e["typical_atypicality"]["mean"]
    axes[1].axhline(mean, ls="--", color="black", lw=1, label=f"typical ‖fine‖ {mean:.2f}")
    axes[1].set(title=f"magnitudes (atypicality {e['atypicality']:.2f})", ylabel="L2 norm")
    axes[1].legend(fontsize=8)
    infl = e["steering_influence"]
    if infl["steered"]:
        axes[2].bar(["routing KL\n(nats)", "prediction\nshift (L2)"], [infl["kl"], infl["l2_shift"]], color="tab:purple")
        axes[2].set(title="steering influence")
    else:
        axes[2].text(0.5, 0.5, "no steering given", ha="center", va="center", fontsize=11, transform=axes[2].transAxes)
        axes[2].set(title="steering influence", xticks=[], yticks=[])
    for ax in axes:
        ax.grid(alpha=0.3, axis="x" if ax is axes[0] else "y")
    fig.suptitle(title or e["actionable_signal"], fontsize=10, wrap=True)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
