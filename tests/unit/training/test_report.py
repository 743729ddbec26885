import csv
import json

import torch

from handler.normalize import scale_pixels
from training.model import DigitCNN
from training.report import confusion_matrix, final_report, markdown, predict


def test_confusion_matrix_rows_are_true_digits_and_columns_predictions():
    labels = torch.tensor([0, 0, 1, 2, 2, 2, 9])
    preds = torch.tensor([0, 1, 1, 2, 2, 7, 9])
    expected = torch.zeros(10, 10, dtype=torch.long)
    expected[0, 0] = expected[0, 1] = expected[1, 1] = expected[2, 7] = expected[9, 9] = 1
    expected[2, 2] = 2
    assert torch.equal(confusion_matrix(labels, preds), expected)


class BrightestOfTheTopRow(torch.nn.Module):
    """Logits = the first ten pixels of the top row, so the brightest of them is the prediction."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batches.append(x)
        return x[:, 0, 0, :10]


def test_predict_scales_pixels_and_covers_every_batch():
    digits = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5])
    images = torch.zeros(len(digits), 28, 28, dtype=torch.uint8)
    images[torch.arange(len(digits)), 0, digits] = 200
    model = BrightestOfTheTopRow()
    preds = predict(model, images, batch_size=4)
    assert torch.equal(preds, digits)
    assert [len(b) for b in model.batches] == [4, 4, 3]
    assert torch.equal(torch.cat(model.batches), scale_pixels(images.unsqueeze(1)))


REPORT = {
    "model": "DigitCNN",
    "test_accuracy": 0.9973,
    "test_errors": 27,
    "per_class_accuracy": {str(d): 0.99 + d / 1000 for d in range(10)},
    "best_val_accuracy": 0.9968,
    "best_epoch": 12,
    "train_seconds": 229.4,
    "wall_seconds": 241.0,
    "parameters": 157_098,
    "torchscript_max_abs_diff": 1.9e-6,
    "data_sha256": {"t10k-labels-idx1-ubyte": "ff7bcfd4" + "0" * 56},
    "git_commit": "62a27a9-dirty",
    "torch_version": "2.13.0",
    "created": "2026-01-02T03:04:05+00:00",
}


def test_markdown_shows_the_key_figures():
    text = markdown(REPORT)
    assert text.startswith("# Model report: DigitCNN\n")
    for figure in [
        "**99.73%** (27 errors)",
        "99.68% (epoch 12)",
        "| 157,098 |",
        "229 s / 241 s",
        "1.9e-06",
        "`62a27a9-dirty`",
        "| 2.13.0 |",
        "2026-01-02T03:04:05+00:00",
        "| 0 | 99.00% |",
        "| 9 | 99.90% |",
        f"| `t10k-labels-idx1-ubyte` | `ff7bcfd4{'0' * 56}` |",
        "![Training curves](curves.png)",
        "![Confusion matrix](confusion_matrix.png)",
    ]:
        assert figure in text, figure


def test_final_report_writes_every_file_from_the_exported_model(synthetic_mnist, tmp_path):
    torch.manual_seed(0)
    config = {"width": 4, "dropout": 0.1}
    model = DigitCNN(**config).eval()
    with torch.no_grad():  # untrained, it calls every image the same digit; centre its logits
        pooled = model.features(scale_pixels(synthetic_mnist.test_images.unsqueeze(1)))
        model.head[-1].bias.copy_(-model.head[-1].weight @ pooled.mean(dim=(0, 2, 3)))
    torch.save({"model": model.state_dict(), "config": config}, tmp_path / "best.pt")
    for name in ["train_metrics.csv", "val_metrics.csv"]:
        (tmp_path / name).write_text("epoch,loss,accuracy\n1,0.31,0.981\n2,0.22,0.990\n")
    summary = {
        "best_val_accuracy": 0.99,
        "best_epoch": 2,
        "train_seconds": 1.0,
        "wall_seconds": 2.0,
        "parameters": 1234,
    }

    report = final_report(tmp_path, synthetic_mnist, summary)

    for name in ["curves.png", "confusion_matrix.png"]:
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG"), name
    assert json.loads((tmp_path / "report.json").read_text()) == report
    assert (tmp_path / "report.md").read_text() == markdown(report)
    assert report.items() >= summary.items()
    assert report["config"] == config
    assert report["data_sha256"] == synthetic_mnist.checksums
    assert report["torchscript_max_abs_diff"] <= 1e-4

    # The figures come from the exported TorchScript model on the whole test set.
    labels = synthetic_mnist.test_labels
    preds = predict(torch.jit.load(str(tmp_path / "model.pt")), synthetic_mnist.test_images)
    assert len(preds.unique()) >= 5, preds.bincount()  # a matrix worth checking
    assert report["test_accuracy"] == round((preds == labels).float().mean().item(), 5)
    assert report["test_errors"] == int((preds != labels).sum())
    matrix = confusion_matrix(labels, preds)
    with (tmp_path / "confusion_matrix.csv").open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["true \\ predicted", *map(str, range(10))]
    assert [[int(n) for n in row] for row in rows[1:]] == [
        [d, *matrix[d].tolist()] for d in range(10)
    ]
    per_class = {str(d): round(int(matrix[d, d]) / int(matrix[d].sum()), 5) for d in range(10)}
    assert report["per_class_accuracy"] == per_class
