"""Learning-curve figure of a run: training loss (and validation loss) against updates.

Drawn from ``progress.jsonl`` and ``valid.jsonl`` records with matplotlib's Agg backend.
"""

from __future__ import annotations

import os

from speechssl.io.atomic import atomic_path


def plot_learning_curve(
    progress: list[dict], valid: list[dict], path: str | os.PathLike, title: str = ""
) -> None:
    """Write a PNG with loss vs update (log-scaled when it spans a decade) and lr on a twin axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    if progress:
        axis.plot([r["update"] for r in progress], [r["loss"] for r in progress], label="train loss")
    points = [r for r in valid if "valid_loss" in r]
    if points:
        axis.plot([r["update"] for r in points], [r["valid_loss"] for r in points], "o-", label="valid loss")
    losses = [r["loss"] for r in progress if r["loss"] > 0] + [
        r["valid_loss"] for r in points if r["valid_loss"] > 0
    ]
    if losses and max(losses) > 10 * min(losses):
        axis.set_yscale("log")
    axis.set_xlabel("update")
    axis.set_ylabel("loss")
    axis.grid(alpha=0.3)
    if progress and "lr" in progress[0]:
        lr_axis = axis.twinx()
        lr_axis.plot(
            [r["update"] for r in progress], [r["lr"] for r in progress], color="gray", alpha=0.4, label="lr"
        )
        lr_axis.set_ylabel("learning rate")
    axis.legend(loc="upper right")
    axis.set_title(title)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)
