"""PNG plots for the comparison report (matplotlib, headless): curves, bars, CRF transition heatmaps."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


class Run(Protocol):
    """What a plot needs of a run (``ner_lightning.compare.Run`` has it; plots do not import compare)."""

    label: str
    metrics: dict[str, float]
    curves: dict[str, list[tuple[int, float]]]
    transitions: dict[str, Any] | None
    loss_reduction: str


def _lines(runs: list[Run], key: str, title: str, ylabel: str, xlabel: str, path: Path) -> Path | None:
    series = [(r.label, r.curves.get(key, [])) for r in runs]
    if not any(points for _, points in series):
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, points in series:
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, label=label)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def heatmap(matrix: np.ndarray, labels: list[str], title: str, ax: plt.Axes) -> None:
    """One transition matrix (rows: from, columns: to), values written in the cells. Illegal (-10000) cells are
    masked (grey, "x"); the colour scale spans the learned values only."""
    shown = np.ma.masked_where(matrix <= -1000, matrix)
    lim = float(abs(shown).max()) if shown.count() else 1.0
    cmap = plt.get_cmap("RdBu_r").with_extremes(bad="lightgrey")
    im = ax.imshow(shown, cmap=cmap, vmin=-lim, vmax=lim)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_title(title, fontsize=8)
    if len(labels) <= 12:
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(
                    j, i, "x" if matrix[i, j] <= -1000 else f"{matrix[i, j]:.1f}", ha="center", va="center", fontsize=6
                )
    plt.colorbar(im, ax=ax, fraction=0.046)


def heatmap_figure(matrix: np.ndarray, labels: list[str], title: str) -> plt.Figure:
    """A single transition-matrix heatmap figure (for loggers that take images)."""
    fig, ax = plt.subplots(figsize=(5, 4.3))
    heatmap(matrix, labels, title, ax)
    fig.tight_layout()
    return fig


def confusion_figure(counts: np.ndarray, labels: list[str], title: str) -> plt.Figure:
    """Row-normalised confusion matrix (rows: gold, columns: predicted) with the counts written in."""
    rows = counts.sum(1, keepdims=True)
    rate = np.divide(counts, rows, out=np.zeros_like(counts, dtype=float), where=rows > 0)
    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    im = ax.imshow(rate, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    if len(labels) <= 12:
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(
                    j,
                    i,
                    f"{int(counts[i, j])}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if rate[i, j] > 0.5 else "black",
                )
    ax.set(xlabel="predicted", ylabel="gold")
    ax.set_title(title, fontsize=8)
    plt.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def write_plots(runs: list[Run], out: Path) -> list[Path]:
    """Write every plot that the runs have data for; returns the files."""
    reductions = sorted({r.loss_reduction for r in runs})
    made = [
        *[  # a summed loss and a mean loss never share an axis: one plot per reduction
            _lines(
                [r for r in runs if r.loss_reduction == red],
                "train/loss_epoch",
                f"Training loss (CRF loss: {red})",
                f"loss ({red} over sentences, epoch mean)",
                "epoch",
                out / ("train_loss.png" if len(reductions) == 1 else f"train_loss_{red}.png"),
            )
            for red in reductions
        ],
        _lines(runs, "val/f1", "Validation F1", "entity F1", "epoch", out / "val_f1.png"),
    ]
    with_curves = [r for r in runs if r.curves.get("train/loss_epoch") and r.curves.get("val/f1")]
    if with_curves:
        fig, axes = plt.subplots(1, len(with_curves), figsize=(4.5 * len(with_curves), 3.5), squeeze=False)
        for ax, run in zip(axes[0], with_curves):
            xs, loss = zip(*run.curves["train/loss_epoch"])
            ax.plot(xs, loss, color="tab:blue", label="train loss")
            ax.set(xlabel="epoch", title=run.label[:40])
            ax.tick_params(axis="y", labelcolor="tab:blue")
            twin = ax.twinx()
            xs, f1 = zip(*run.curves["val/f1"])
            twin.plot(xs, f1, color="tab:red", label="val F1")
            twin.tick_params(axis="y", labelcolor="tab:red")
        fig.suptitle("Training loss (blue) and validation F1 (red)")
        fig.tight_layout()
        fig.savefig(out / "loss_f1_overlay.png", dpi=110)
        plt.close(fig)
        made.append(out / "loss_f1_overlay.png")
    scored = [r for r in runs if r.metrics.get("test/f1") is not None or r.metrics.get("val/f1_best") is not None]
    if scored:
        fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(scored)), 4))
        x = np.arange(len(scored))
        for offset, key, name in ((-0.2, "val/f1_best", "best val F1"), (0.2, "test/f1", "test F1")):
            ax.bar(x + offset, [100 * r.metrics.get(key, 0.0) for r in scored], width=0.4, label=name)
        ax.set_xticks(x, [r.label[:30] for r in scored], rotation=20, ha="right", fontsize=7)
        ax.set(ylabel="F1 (%)", title="Final scores")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "final_scores.png", dpi=110)
        plt.close(fig)
        made.append(out / "final_scores.png")
    crf = [r for r in runs if r.transitions]
    if crf:
        fig, axes = plt.subplots(1, len(crf), figsize=(4.8 * len(crf), 4.2), squeeze=False)
        for ax, run in zip(axes[0], crf):
            assert run.transitions is not None
            heatmap(np.array(run.transitions["transitions"]), run.transitions["labels"], run.label[:40], ax)
        fig.suptitle("CRF transition scores (row: from, column: to; x: illegal)")
        fig.tight_layout()
        fig.savefig(out / "transitions.png", dpi=110)
        plt.close(fig)
        made.append(out / "transitions.png")
    return [p for p in made if p is not None]
