"""MNIST's test digits on the wire: as PNG files through a real TorchServe, against their labels.

    python -m bench.mnist_chain                      # own TorchServe (free ports), all 10,000
    python -m bench.mnist_chain --count 1000
    python -m bench.mnist_chain --url http://127.0.0.1:8080  # a running `make serve`

The model report's chain accuracy is computed in-process, from tools.normalised_mnist's cache
(the handler's preprocess on the same PNGs). This sends the PNGs to /predictions/mnist as
multipart forms of `--per-request` images, several requests in flight, and reads the digits
TorchServe answers: the same figure, measured where users meet it. It prints both, and how many
answers differ (0 expected: the same code runs on both sides).

Without --url it serves an archive built from the current sources (`--model`, by default
training/shipped/model.pt, with handler/ and serve_config/) on free ports, as the integration
tests do, and stops it afterwards: a candidate model can be measured on the wire before shipping.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from handler.normalize import scale_pixels
from handler.preprocess import to_png
from tools.archive import ArchiveConfig, build_archive
from tools.cli import parse_config
from tools.client import InferenceClient, ServiceUnavailable
from tools.normalised_mnist import Config as CacheConfig
from tools.normalised_mnist import ensure
from tools.paths import KEY_FILE, REPO_ROOT, SHIPPED_MODEL
from tools.torchserve import TorchServe, free_ports
from training.data import DEFAULT_DATA_DIR, load_mnist, with_served


@dataclass
class Config:
    count: int = 10_000  # the first `count` MNIST test digits
    per_request: int = 32  # images per multipart request (the handler takes up to 64)
    concurrency: int = 4  # requests in flight, so TorchServe batches them
    url: str = ""  # a running TorchServe; empty: start one from the current sources
    token_file: Path = KEY_FILE  # its key_file.json (with --url)
    model: Path = SHIPPED_MODEL  # the model served (without --url) and scored in-process
    data_dir: Path = REPO_ROOT / DEFAULT_DATA_DIR  # the MNIST IDX files


def served_predictions(
    client: InferenceClient, pngs: list[bytes], per_request: int, concurrency: int
) -> list[int | str]:
    """The digit TorchServe answers for each PNG (or its error code), in order."""

    def send(chunk: list[bytes]) -> list[int | str]:
        # Distinct field names: TorchServe keeps only the last of repeated names. The handler
        # answers a list in the order of the fields.
        fields = {f"i{k:02d}": (f"{k}.png", png, "image/png") for k, png in enumerate(chunk)}
        body, content_type = _multipart(fields)
        reply = client.post(body, headers={"Content-Type": content_type})
        if reply.status_code != 200:
            return [f"http_{reply.status_code}"] * len(chunk)
        return [item.get("digit", item.get("error", "?")) for item in reply.json()]

    chunks = [pngs[i : i + per_request] for i in range(0, len(pngs), per_request)]
    with ThreadPoolExecutor(concurrency) as pool:
        return [p for answers in pool.map(send, chunks) for p in answers]


def _multipart(fields: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type, for the client's raw `post`."""
    import requests  # its encoder, so the body is what `curl -F` sends

    request = requests.Request("POST", "http://x", files=fields).prepare()
    return request.body, request.headers["Content-Type"]


def in_process_predictions(model_path: Path, digits: torch.Tensor) -> list[int]:
    """The model on the handler's output for the same digits (tools.normalised_mnist's cache)."""
    model = torch.jit.load(str(model_path), map_location="cpu").eval()
    with torch.inference_mode():
        logits = torch.cat([model(scale_pixels(b.unsqueeze(1))) for b in digits.split(1000)])
    return logits.argmax(1).tolist()


def measure(config: Config, client: InferenceClient) -> dict:
    """Chain accuracy through TorchServe and in-process on the first `count` test digits."""
    mnist = load_mnist(config.data_dir, fetch=False)
    mnist = with_served(mnist, ensure(CacheConfig(data_dir=config.data_dir, quiet=True)))
    images, labels = mnist.test_images[: config.count], mnist.test_labels[: config.count].tolist()
    pngs = [to_png(image.numpy()) for image in images]
    started = time.perf_counter()
    served = served_predictions(client, pngs, config.per_request, config.concurrency)
    seconds = time.perf_counter() - started
    local = in_process_predictions(config.model, mnist.served_test[: config.count])
    return {
        "images": len(labels),
        "served_accuracy": float(np.mean([p == y for p, y in zip(served, labels, strict=True)])),
        "in_process_accuracy": float(np.mean([p == y for p, y in zip(local, labels, strict=True)])),
        "disagreements": sum(p != q for p, q in zip(served, local, strict=True)),
        "refused": sum(isinstance(p, str) for p in served),
        "seconds": round(seconds, 1),
    }


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_config(Config, argv)
    try:
        if config.url:
            with InferenceClient(config.url, key_file=config.token_file) as client:
                result = measure(config, client)
        else:
            with tempfile.TemporaryDirectory(prefix="mnist-chain-") as root:
                archive = ArchiveConfig(model_file=config.model, export_dir=Path(root) / "store")
                store = build_archive(archive).parent
                server = TorchServe(**free_ports(), workdir=Path(root) / "work", model_store=store)
                with server, InferenceClient(server.inference_url, key_file=server.key_file) as c:
                    result = measure(config, c)
    except ServiceUnavailable as error:
        sys.exit(f"error: {error}")
    print(
        f"{result['images']} MNIST test digits as PNG: through TorchServe "
        f"{result['served_accuracy']:.2%}, in-process {result['in_process_accuracy']:.2%}; "
        f"{result['disagreements']} answers differ, {result['refused']} refused; "
        f"{result['seconds']} s on the wire ({result['images'] / result['seconds']:.0f} images/s)"
    )


if __name__ == "__main__":
    main()
