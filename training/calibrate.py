"""Calibrated confidence: one temperature T fitted on validation logits, and how to judge it.

A network trained with label smoothing and augmentation is under-confident on clean digits (and
any network can be over-confident): its softmax is not "the chance that the answer is right".
Temperature scaling (Guo et al., 2017) divides the logits by one scalar T, chosen to minimise the
negative log-likelihood on held-out data; it never changes which digit wins, only how sure the
answer says it is. T travels inside the exported TorchScript model (`Calibrated`), so everything
that loads model.pt (the handler, the benchmarks) gets calibrated probabilities with no change.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ECE_BINS = 15  # the usual choice in the calibration literature


class Calibrated(nn.Module):
    """`model`'s logits divided by the fitted temperature."""

    def __init__(self, model: nn.Module, temperature: float) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("temperature", torch.tensor(float(temperature)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) / self.temperature


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The T > 0 minimising the NLL of softmax(logits / T); LBFGS on log T keeps T positive."""
    log_t = torch.zeros((), requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")
    logits = logits.detach().float()

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp())


def calibration_bins(
    probabilities: torch.Tensor, labels: torch.Tensor, bins: int = ECE_BINS
) -> list[tuple[float, float, int]]:
    """(mean confidence, accuracy, count) of the top answer in each equal-width confidence bin."""
    confidence, predicted = probabilities.max(dim=1)
    right = (predicted == labels).float()
    index = (confidence * bins).ceil().long().clamp(1, bins) - 1  # (k/bins, (k+1)/bins]
    rows = []
    for k in range(bins):
        inside = index == k
        n = int(inside.sum())
        rows.append(
            (float(confidence[inside].mean()), float(right[inside].mean()), n)
            if n
            else (0.0, 0.0, 0)
        )
    return rows


def expected_calibration_error(
    probabilities: torch.Tensor, labels: torch.Tensor, bins: int = ECE_BINS
) -> float:
    """Σ over bins of (share of answers) × |accuracy − mean confidence|."""
    total = len(labels)
    return sum(
        n / total * abs(acc - conf)
        for conf, acc, n in calibration_bins(probabilities, labels, bins)
    )


def plot_reliability(
    path: Path, curves: dict[str, tuple[torch.Tensor, torch.Tensor]], bins: int = ECE_BINS
) -> None:
    """Reliability diagram: accuracy against confidence per bin, one line per {name: (probs,
    labels)}, with each curve's ECE in the legend. Only the top bins hold answers on MNIST, so the
    x axis is logit-spaced (the error rate 1 − p on a log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax_err) = plt.subplots(1, 2, figsize=(10, 4.2))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfect calibration")
    ax_err.plot([1e-4, 1], [1e-4, 1], color="grey", lw=1, ls="--")
    for name, (probabilities, labels) in curves.items():
        rows = [r for r in calibration_bins(probabilities, labels, bins) if r[2]]
        conf = [r[0] for r in rows]
        acc = [r[1] for r in rows]
        ece = expected_calibration_error(probabilities, labels, bins)
        label = f"{name} (ECE {100 * ece:.2f}%)"
        ax.plot(conf, acc, marker="o", label=label)
        # Error view: 1 − confidence against 1 − accuracy, where MNIST's answers actually sit.
        confidence, predicted = probabilities.max(dim=1)
        order = confidence.argsort()
        groups = order.tensor_split(10)  # deciles of confidence: each holds 10% of the answers
        err_conf = [1 - float(confidence[g].mean()) for g in groups]
        err_acc = [1 - float((predicted[g] == labels[g]).float().mean()) for g in groups]
        ax_err.plot(err_conf, [max(e, 1e-4) for e in err_acc], marker="o", label=name)
    ax.set(
        title=f"Reliability ({bins} bins)",
        xlabel="confidence of the top answer",
        ylabel="accuracy",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax_err.set(
        title="The same by deciles of confidence, log scale",
        xlabel="1 − mean confidence",
        ylabel="error rate (floored at 1e-4)",
        xscale="log",
        yscale="log",
    )
    for a in (ax, ax_err):
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
