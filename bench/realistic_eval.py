"""Score the realistic digit set: in-process (preprocess → model), or through TorchServe's API.

    python -m bench.realistic_eval --dir artifacts/realistic --model training/shipped/model.pt
    python -m bench.realistic_eval --dir artifacts/realistic --baseline
    python -m bench.realistic_eval --url http://127.0.0.1:8080 \
        --token-file .run/torchserve/key_file.json

Prints accuracy overall, per category, per digit and per writing style, and the worst
confusions. A refused image (no_digit, bad_image…) counts as wrong. `--baseline` also scores the
naive pipeline of public demos (greyscale, invert, resize to 28×28) on the same files.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from handler.limits import InputError
from handler.normalize import scale_pixels
from handler.preprocess import preprocess
from tools.cli import parse_config
from tools.client import InferenceClient, ServiceUnavailable
from tools.paths import KEY_FILE, MODEL_NAME, REALISTIC_DIR, SHIPPED_MODEL


@dataclass
class Config:
    """Which set to score, and how."""

    dir: Path = REALISTIC_DIR  # folder written by bench.realistic_digits
    model: Path = SHIPPED_MODEL  # TorchScript model for in-process scoring
    url: str = ""  # score through TorchServe at this URL (e.g. http://127.0.0.1:8080) instead
    token_file: Path = KEY_FILE  # TorchServe's key_file.json (for --url)
    baseline: bool = False  # also score the naive greyscale-invert-resize pipeline
    json: str = ""  # also write the results as JSON to this file


@dataclass
class Sample:
    file: str
    category: str
    digit: int
    style: str


Prediction = int | str  # a digit, or the error code of a refused image


def load_labels(folder: Path) -> list[Sample]:
    path = folder / "labels.csv"
    if not path.exists():
        sys.exit(f"{path} not found: generate the set with `python -m bench.realistic_digits`.")
    with path.open() as handle:
        return [
            Sample(r["file"], r["category"], int(r["digit"]), r["style"])
            for r in csv.DictReader(handle)
        ]


def load_model(path: Path) -> torch.jit.ScriptModule:
    if not path.exists():
        sys.exit(f"{path} not found: train and export the model first (`make train`).")
    return torch.jit.load(str(path), map_location="cpu").eval()


def classify(model: torch.jit.ScriptModule, digits: list[np.ndarray]) -> list[int]:
    """Predicted digit for each uint8 28×28 image."""
    with torch.no_grad():
        batch = scale_pixels(torch.from_numpy(np.stack(digits)).unsqueeze(1))
        return model(batch).argmax(1).tolist()


def score_in_process(
    samples: list[Sample], folder: Path, model: torch.jit.ScriptModule, to_digit: Callable
) -> tuple[list[Prediction], list[float]]:
    """Predictions with `to_digit` (bytes → 28×28) as the preprocessing, and its time per image."""
    digits: dict[int, np.ndarray] = {}
    predictions: list[Prediction] = []
    seconds = []
    for i, sample in enumerate(samples):
        data = (folder / sample.file).read_bytes()
        start = time.perf_counter()
        try:
            digits[i] = to_digit(data)
            predictions.append(-1)
        except InputError as error:
            predictions.append(error.code)
        seconds.append(time.perf_counter() - start)
        _progress(i + 1, len(samples))
    indices = sorted(digits)
    for i, digit in zip(indices, classify(model, [digits[i] for i in indices]), strict=True):
        predictions[i] = digit
    return predictions, seconds


def naive_digit(data: bytes) -> np.ndarray:
    """What many demos do: greyscale, invert, squash to 28×28. The baseline to beat."""
    grey = Image.open(io.BytesIO(data)).convert("L").resize((28, 28))
    return 255 - np.asarray(grey, dtype=np.uint8)


def score_over_http(
    samples: list[Sample], folder: Path, client: InferenceClient
) -> tuple[list[Prediction], list[float]]:
    """Predictions through TorchServe: raw bytes in, the "digit" of the JSON reply out."""
    predictions: list[Prediction] = []
    seconds = []
    for i, sample in enumerate(samples):
        start = time.perf_counter()
        reply = client.post((folder / sample.file).read_bytes())
        seconds.append(time.perf_counter() - start)
        body = (
            reply.json()
            if reply.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        if reply.status_code == 200 and "digit" in body:
            predictions.append(int(body["digit"]))
        else:
            predictions.append(str(body.get("error", f"http_{reply.status_code}")))
        _progress(i + 1, len(samples))
    return predictions, seconds


def _progress(done: int, total: int) -> None:
    if done % 500 == 0 or done == total:
        print(f"  {done}/{total}", file=sys.stderr, flush=True)


def summarise(samples: list[Sample], predictions: list[Prediction]) -> dict:
    """Accuracy overall and by category, digit and style; confusions and refusals."""

    def accuracy(group: Callable[[Sample], str]) -> dict[str, float]:
        hits, counts = Counter(), Counter()
        for sample, predicted in zip(samples, predictions, strict=True):
            counts[group(sample)] += 1
            hits[group(sample)] += predicted == sample.digit
        return {key: hits[key] / counts[key] for key in counts}

    confusions = Counter(
        f"{s.digit} → {p}" for s, p in zip(samples, predictions, strict=True) if p != s.digit
    )
    return {
        "images": len(samples),
        "accuracy": accuracy(lambda s: "all")["all"],
        "per_category": accuracy(lambda s: s.category),
        "per_digit": accuracy(lambda s: str(s.digit)),
        "per_style": accuracy(lambda s: f"{s.digit} {s.style}"),
        "worst_confusions": confusions.most_common(10),
        "refused": Counter(p for p in predictions if isinstance(p, str)),
    }


def print_summary(title: str, summary: dict, seconds: list[float], samples: list[Sample]) -> None:
    print(f"\n{title}: {summary['accuracy']:.1%} of {summary['images']} images")
    times = defaultdict(list)
    for sample, s in zip(samples, seconds, strict=True):
        times[sample.category].append(s * 1000)
    print(f"  {'category':<10} {'accuracy':>8}  {'median ms/image':>15}")
    for category, value in summary["per_category"].items():
        print(f"  {category:<10} {value:>8.1%}  {np.median(times[category]):>15.1f}")
    print("  per digit: " + "  ".join(f"{d}: {v:.1%}" for d, v in summary["per_digit"].items()))
    worst = sorted(summary["per_style"].items(), key=lambda item: item[1])[:6]
    print("  weakest styles: " + ", ".join(f"{style} {v:.1%}" for style, v in worst))
    print(
        "  worst confusions (true → predicted): "
        + ", ".join(f"{pair} ×{n}" for pair, n in summary["worst_confusions"])
    )
    if summary["refused"]:
        print("  refused: " + ", ".join(f"{code} ×{n}" for code, n in summary["refused"].items()))


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_config(Config, argv)
    samples = load_labels(config.dir)
    results = {}
    if config.url:
        print(f"Scoring {len(samples)} images through {config.url}/predictions/{MODEL_NAME}")
        try:
            with InferenceClient(config.url, key_file=config.token_file) as client:
                predictions, seconds = score_over_http(samples, config.dir, client)
        except ServiceUnavailable as error:
            sys.exit(f"error: {error}")
        title = "Full chain (HTTP → TorchServe → handler → model), ms include the round trip"
    else:
        model = load_model(config.model)
        print(f"Scoring {len(samples)} images in-process with {config.model}")
        predictions, seconds = score_in_process(samples, config.dir, model, preprocess)
        title = "In-process (handler.preprocess → model), ms are preprocessing only"
    results["ours"] = summarise(samples, predictions)
    print_summary(title, results["ours"], seconds, samples)

    if config.baseline:
        model = load_model(config.model)
        predictions, seconds = score_in_process(samples, config.dir, model, naive_digit)
        results["naive"] = summarise(samples, predictions)
        print_summary(
            "Naive baseline (greyscale, invert, resize)", results["naive"], seconds, samples
        )

    if config.json:
        path = Path(config.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
