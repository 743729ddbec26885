"""The end of a training run: export the best checkpoint, score it once on the test set, report.

Everything is computed from the exported TorchScript file, the artefact that is actually served
(the temperature fitted on validation included). Two test figures: the tensor accuracy on the raw
MNIST test tensors, and the chain accuracy on the same digits written as PNG and normalised by the
handler, in-process from tools.normalised_mnist's cache: what TorchServe answers for them
(bench/mnist_chain.py checks that through a real TorchServe). Per-class accuracy, the confusion
matrix and the calibration figures are on the chain when the cache is there.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import subprocess
from pathlib import Path

import torch

from handler.normalize import scale_pixels
from training.calibrate import (
    ECE_BINS,
    Calibrated,
    expected_calibration_error,
    plot_reliability,
)
from training.data import Mnist
from training.export import export_torchscript, load_checkpoint


def git_commit() -> str:
    """The commit the code came from, marked "-dirty" when the tree has uncommitted changes."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("-dirty" if dirty else "")


@torch.no_grad()
def logits(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """(N, 10) logits for uint8 (N, 28, 28) images."""
    return torch.cat(
        [
            model(scale_pixels(images[i : i + batch_size].unsqueeze(1)))
            for i in range(0, len(images), batch_size)
        ]
    )


def predict(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Predicted digits for uint8 (N, 28, 28) images."""
    return logits(model, images, batch_size).argmax(1)


def confusion_matrix(labels: torch.Tensor, preds: torch.Tensor) -> torch.Tensor:
    """10×10 counts, rows = true digit, columns = predicted digit."""
    return torch.bincount(labels * 10 + preds, minlength=100).reshape(10, 10)


def plot_curves(out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def read(name: str) -> list[dict]:
        with (out / name).open() as f:
            return list(csv.DictReader(f))

    train, val = read("train_metrics.csv"), read("val_metrics.csv")
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for rows, label in [(train, "train (augmented)"), (val, "validation")]:
        epochs = [int(r["epoch"]) for r in rows]
        ax_loss.plot(epochs, [float(r["loss"]) for r in rows], marker="o", label=label)
        ax_acc.plot(epochs, [100 * float(r["accuracy"]) for r in rows], marker="o", label=label)
    ax_loss.set(title="Loss", xlabel="epoch")
    ax_acc.set(title="Accuracy (%)", xlabel="epoch", ylim=(97, 100))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=100)
    plt.close(fig)


def plot_confusion(out: Path, matrix: torch.Tensor) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5.5))
    # Log scale: the diagonal holds ~1000 per cell, the mistakes a handful.
    ax.imshow(torch.log1p(matrix.float()).numpy(), cmap="Blues")
    for t in range(10):
        for p in range(10):
            n = int(matrix[t, p])
            if n:
                ax.text(
                    p,
                    t,
                    str(n),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if t == p else "black",
                )
    ax.set(
        title="Test-set confusion matrix",
        xlabel="predicted",
        ylabel="true",
        xticks=range(10),
        yticks=range(10),
    )
    fig.tight_layout()
    fig.savefig(out / "confusion_matrix.png", dpi=100)
    plt.close(fig)


def final_report(out: Path, mnist: Mnist, summary: dict) -> dict:
    """Export best.pt (with summary["temperature"]) to model.pt, evaluate it on the 10k test
    set, write the report files."""
    temperature = summary.get("temperature", 1.0)
    model = Calibrated(load_checkpoint(out / "best.pt"), temperature)
    check = scale_pixels(mnist.test_images[:256].unsqueeze(1))
    max_diff = export_torchscript(model, out / "model.pt", check)
    scripted = torch.jit.load(str(out / "model.pt"))

    labels = mnist.test_labels
    tensor_preds = predict(scripted, mnist.test_images)
    served = mnist.test_images if mnist.served_test is None else mnist.served_test
    calibrated = logits(scripted, served)
    preds = calibrated.argmax(1)
    chain = {}
    if mnist.served_test is not None:
        chain = {
            "chain_test_accuracy": round((preds == labels).float().mean().item(), 5),
            "chain_test_errors": int((preds != labels).sum()),
        }
    if mnist.served_test_dark is not None:
        dark_preds = predict(scripted, mnist.served_test_dark)
        chain["dark_test_accuracy"] = round((dark_preds == labels).float().mean().item(), 5)
        chain["dark_test_errors"] = int((dark_preds != labels).sum())
    before = (calibrated * temperature).softmax(1)  # the logits as the network gives them
    after = calibrated.softmax(1)
    plot_reliability(
        out / "reliability.png",
        {"before (T = 1)": (before, labels), f"after (T = {temperature:.3f})": (after, labels)},
    )
    matrix = confusion_matrix(labels, preds)
    with (out / "confusion_matrix.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["true \\ predicted", *range(10)])
        for digit in range(10):
            writer.writerow([digit, *matrix[digit].tolist()])
    plot_curves(out)
    plot_confusion(out, matrix)

    per_class = {str(d): round(matrix[d, d].item() / matrix[d].sum().item(), 5) for d in range(10)}
    report = {
        "model": "DigitCNN",
        "test_accuracy": round((tensor_preds == labels).float().mean().item(), 5),
        "test_errors": int((tensor_preds != labels).sum()),
        **chain,
        "per_class_accuracy": per_class,
        **summary,
        "test_ece": round(expected_calibration_error(before, labels), 5),
        "test_ece_calibrated": round(expected_calibration_error(after, labels), 5),
        "torchscript_max_abs_diff": max_diff,
        "data_sha256": mnist.checksums,
        "git_commit": git_commit(),
        "torch_version": torch.__version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": torch.load(out / "best.pt", weights_only=False)["config"],
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(markdown(report))
    chain_text = (
        f", chain {100 * report['chain_test_accuracy']:.2f}% ({report['chain_test_errors']})"
        if chain
        else ""
    )
    print(
        f"Test accuracy: tensors {100 * report['test_accuracy']:.2f}% "
        f"({report['test_errors']} errors in {len(labels)}){chain_text}; "
        f"ECE {report['test_ece']:.2%} → {report['test_ece_calibrated']:.2%}; "
        f"report in {out / 'report.md'}"
    )
    return report


def markdown(r: dict) -> str:
    test = f"**{100 * r['test_accuracy']:.2f}%** ({r['test_errors']} errors)"
    chain = (
        f"| Chain accuracy: the same digits as PNG through the handler's preprocessing "
        f"(in-process, the served code) | **{100 * r['chain_test_accuracy']:.2f}%** "
        f"({r['chain_test_errors']} errors) |\n"
        if "chain_test_accuracy" in r
        else ""
    )
    if "dark_test_accuracy" in r:
        chain += (
            f"| The same digits sent dark on light (the whole normalisation runs) | "
            f"{100 * r['dark_test_accuracy']:.2f}% ({r['dark_test_errors']} errors) |\n"
        )
    on = "chain" if chain else "tensors"
    reliability = "\n![Reliability diagram](reliability.png)\n" if "temperature" in r else ""
    calibration = (
        f"| Temperature (fitted on validation) | {r['temperature']:.3f} |\n"
        f"| Expected calibration error, test ({on}, {ECE_BINS} bins): before / after | "
        f"{100 * r['test_ece']:.2f}% / **{100 * r['test_ece_calibrated']:.2f}%** |\n"
        if "temperature" in r
        else ""
    )
    val = f"{100 * r['best_val_accuracy']:.2f}% (epoch {r['best_epoch']})"
    val_what = "5,000 held-out training images"
    if "val_accuracy_dark" in r:
        val_what += ", each as sent in MNIST's form and dark on light"
        val += f": {100 * r['val_accuracy_mnist_form']:.2f}% / {100 * r['val_accuracy_dark']:.2f}%"
    extra = r.get("extra_data")
    extra_row = (
        f"| Extra training digits (`--extra-data`, IDX sha256 in report.json) | "
        f"{extra['count']:,} from `{extra['folder']}`, weight {extra['weight']:g} |\n"
        if extra
        else ""
    )
    flagged = r.get("val_flagged_ones_accuracy")
    flagged_row = (
        f"| Validation's 1s with a continental flag drawn on (1s trained with one: "
        f"{r['flagged_ones']:.0%}) | {100 * flagged:.2f}% read as 1 |\n"
        if flagged is not None
        else ""
    )
    times = f"{r['train_seconds']:.0f} s / {r['wall_seconds']:.0f} s"
    rows = "\n".join(f"| {d} | {100 * a:.2f}% |" for d, a in r["per_class_accuracy"].items())
    sums = "\n".join(f"| `{name}` | `{sha}` |" for name, sha in r["data_sha256"].items())
    return f"""# Model report: {r["model"]}

The test set was scored once, here, after every choice was made on validation: the
hyperparameters (`config` in report.json; the defaults come from `make tune`'s search) and the
epoch (best validation accuracy).

| | |
|---|---|
| Tensor accuracy (MNIST test set, 10,000 raw tensors) | {test} |
{chain}| Best validation accuracy ({val_what}) | {val} |
{flagged_row}{calibration}{extra_row}| Parameters | {r["parameters"]:,} |
| Training time: optimisation steps / whole run | {times} |
| TorchScript vs eager, max abs difference | {r["torchscript_max_abs_diff"]:.1e} |
| Git commit | `{r["git_commit"]}` |
| PyTorch | {r["torch_version"]} |
| Created | {r["created"]} |

## Per-class test accuracy ({on})

| digit | accuracy |
|---|---|
{rows}

## Data checksums (sha256 of the uncompressed IDX files)

| file | sha256 |
|---|---|
{sums}

![Training curves](curves.png)

![Confusion matrix](confusion_matrix.png)
{reliability}"""
