"""Calibrate an already exported TorchScript model: `python -m training.calibrate_exported`.

`make train` fits its temperature before exporting; a model.pt exported without one (the shipped
model predates that) gets it here, with no checkpoint and no retraining: T is fitted on the
model's validation split, `Calibrated(model, T)` replaces model.pt as TorchScript (the handler
loads it unchanged and gets calibrated logits), and the report beside it gains the calibration
figures and reliability.png. `make calibrate` runs it on training/shipped/model.pt, then rebuilds
the .mar.

The split is the one the model was trained with: val_size and seed from the config recorded in
its report.json, through training.data.split_train_val. T is fitted on those 5,000 digits as
served (written as PNG and normalised by the handler: tools.normalised_mnist's cache), because
what people see is the softmax of the handler's output, not of the raw tensors. The test set is
scored once, for the report (ECE before and after T, on the served digits and on the raw
tensors); it chooses nothing. Temperature never changes the answer: the script checks that every
prediction, and the report's test accuracy, are the same after it.

Run again on its own output, it refits T on the network inside (the temperature is replaced,
never stacked): the same T and the same logits (TorchScript stamps each saved file with a random
serialization id, so the bytes differ).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from handler.normalize import scale_pixels
from training.calibrate import (
    ECE_BINS,
    Calibrated,
    expected_calibration_error,
    fit_temperature,
    plot_reliability,
)
from training.data import Mnist, MnistDataError, load_mnist, split_train_val, with_served
from training.export import export_torchscript
from training.report import git_commit, logits
from training.train import parse_config

SECTION = "## Calibration (temperature scaling)"


@dataclass
class CalibrateConfig:
    model: str = "training/shipped/model.pt"  # exported TorchScript model, report.json beside it
    out: str = ""  # where the calibrated model, report and diagram go ("": replace --model's)
    data_dir: str = "data/mnist"  # the four MNIST IDX files
    normalised: str = "data/normalised"  # the digits as served: tools.normalised_mnist's cache


def uncalibrated(model: torch.jit.ScriptModule) -> torch.jit.ScriptModule:
    """The network itself: a model already wrapped in `Calibrated` loses its temperature."""
    return model.model if hasattr(model, "temperature") else model


def ece_pair(raw: torch.Tensor, calibrated: torch.Tensor, labels: torch.Tensor) -> list[float]:
    """[ECE of the network's own probabilities, ECE after the temperature], rounded."""
    return [round(expected_calibration_error(z.softmax(1), labels), 5) for z in (raw, calibrated)]


def calibrate(cfg: CalibrateConfig, mnist: Mnist | None = None) -> dict:
    """Fit T, write the calibrated model, update the report; return the report's new figures.

    `mnist` must carry the served digits; None (the default) loads cfg.data_dir and
    cfg.normalised.
    """
    commit = git_commit()  # before model.pt is rewritten, which would make the tree dirty
    source = Path(cfg.model)
    out = Path(cfg.out) if cfg.out else source
    report = json.loads(source.with_name("report.json").read_text())
    if mnist is None:
        mnist = with_served(load_mnist(Path(cfg.data_dir)), Path(cfg.normalised))
    if mnist.served_train is None or mnist.served_test is None:
        raise MnistDataError("calibration needs the digits as served (tools.normalised_mnist)")
    if report["data_sha256"] != mnist.checksums:
        raise MnistDataError("the model's report names other MNIST files than --data-dir holds")
    split = report["config"]
    _, val_idx = split_train_val(len(mnist.train_labels), split["val_size"], split["seed"])
    val_labels, test_labels = mnist.train_labels[val_idx], mnist.test_labels
    inputs = {
        "val": mnist.served_train[val_idx],
        "test": mnist.served_test,  # the chain: what TorchServe answers for the test PNGs
        "test_tensor": mnist.test_images,
    }

    network = uncalibrated(torch.jit.load(str(source)).eval())
    raw = {name: logits(network, images) for name, images in inputs.items()}
    temperature = fit_temperature(raw["val"], val_labels)
    check = scale_pixels(inputs["val"][:256].unsqueeze(1))  # scripted vs eager, as in training
    diff = export_torchscript(Calibrated(network, temperature), out, check)
    served = torch.jit.load(str(out)).eval()
    scaled = {name: logits(served, images) for name, images in inputs.items()}
    for name in inputs:  # the file computes logits / T, so no answer can have changed
        torch.testing.assert_close(scaled[name] * temperature, raw[name], rtol=1e-5, atol=1e-4)
        if not torch.equal(scaled[name].argmax(1), raw[name].argmax(1)):
            raise AssertionError(f"the temperature changed an answer on {name}")
    accuracy = (scaled["test_tensor"].argmax(1) == test_labels).float().mean().item()
    if round(accuracy, 5) != report["test_accuracy"]:
        raise AssertionError(f"test accuracy {accuracy} is not the report's")

    labels = {"val": val_labels, "test": test_labels, "test_tensor": test_labels}
    ece = {name: ece_pair(raw[name], scaled[name], labels[name]) for name in inputs}
    figures = {
        "temperature": round(temperature, 5),
        "val_ece": ece["val"][0],
        "val_ece_calibrated": ece["val"][1],
        "test_ece": ece["test"][0],
        "test_ece_calibrated": ece["test"][1],
        "test_tensor_ece": ece["test_tensor"][0],
        "test_tensor_ece_calibrated": ece["test_tensor"][1],
        "calibration": {
            "fitted_on": (
                f"{len(val_idx):,} validation images (held out of training: val_size"
                f" {split['val_size']}, seed {split['seed']}) as served, normalised by the handler"
            ),
            "ece_bins": ECE_BINS,
            "torchscript_max_abs_diff": diff,
            "git_commit": commit,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
    }
    report |= figures
    folder = out.parent
    (folder / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    text = source.with_name("report.md").read_text()
    text = re.sub(rf"\n{re.escape(SECTION)}\n.*", "", text, flags=re.DOTALL)  # replaced, not added
    (folder / "report.md").write_text(text.rstrip("\n") + "\n\n" + markdown_section(report))
    plot_reliability(
        folder / "reliability.png",
        {
            "test, before (T = 1)": (raw["test"].softmax(1), test_labels),
            f"test, after (T = {temperature:.3f})": (scaled["test"].softmax(1), test_labels),
        },
    )
    return figures


def markdown_section(r: dict) -> str:
    """The report.md section of the calibration figures (always the file's last section)."""

    def pair(key: str) -> str:
        return f"{100 * r[key]:.2f}% | **{100 * r[key + '_calibrated']:.2f}%**"

    return f"""{SECTION}

Added after export by `make calibrate` (`python -m training.calibrate_exported`): model.pt
divides its logits by one temperature T, fitted on the {r["calibration"]["fitted_on"]}.
It changes no answer (checked on every image below), so no accuracy above changes.
Expected calibration error of the top answer, {r["calibration"]["ece_bins"]} bins:

| | before (T = 1) | after (T = {r["temperature"]:.3f}) |
|---|---:|---:|
| validation, served digits (fits T) | {pair("val_ece")} |
| test, served digits: the 10,000 as PNG through the handler (report) | {pair("test_ece")} |
| test, raw tensors (report) | {pair("test_tensor_ece")} |

Calibrated at `{r["calibration"]["git_commit"]}`, {r["calibration"]["created"]}.

![Reliability diagram](reliability.png)
"""


def main() -> None:
    cfg = parse_config(CalibrateConfig)
    try:
        figures = calibrate(cfg)
    except (MnistDataError, FileNotFoundError) as error:
        raise SystemExit(f"error: {error}") from None
    print(
        f"Temperature {figures['temperature']:.3f}, fitted on validation;"
        f" ECE validation {figures['val_ece']:.2%} → {figures['val_ece_calibrated']:.2%},"
        f" test (served) {figures['test_ece']:.2%} → {figures['test_ece_calibrated']:.2%},"
        f" test (tensors) {figures['test_tensor_ece']:.2%}"
        f" → {figures['test_tensor_ece_calibrated']:.2%}; wrote {cfg.out or cfg.model}"
    )


if __name__ == "__main__":
    main()
