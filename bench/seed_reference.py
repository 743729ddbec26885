"""A digit server written the way the seed project would: the baseline of `make bench-compare`.

Flask with the TorchScript model loaded in the server process, the naive preprocessing of public
demos (greyscale, invert, resize to 28×28: bench.realistic_eval's baseline), waitress with its
default 4 threads. No auth, no input limits, no error contract: a benchmark baseline, never
shipped.

    python -m bench.seed_reference --port 5050
    curl --data-binary @docs/samples/seven.png http://127.0.0.1:5050/predict  # {"digit": 7, …}
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import waitress
from flask import Flask, jsonify, request

from bench.realistic_eval import naive_digit
from handler.normalize import scale_pixels
from tools import paths
from tools.cli import parse_config


@dataclass
class ReferenceConfig:
    port: int = 5050  # listens on 127.0.0.1:<port>
    threads: int = 4  # waitress worker threads (waitress's default, which a seed would keep)
    model: Path = paths.SHIPPED_MODEL  # TorchScript model


def create_app(model_path: Path) -> Flask:
    torch.set_num_threads(1)  # as TorchServe's workers (OMP_NUM_THREADS=1): no core oversubscribed
    model = torch.jit.load(str(model_path), map_location="cpu").eval()
    app = Flask(__name__)

    @app.post("/predict")
    def predict():
        pixels = scale_pixels(naive_digit(request.get_data()))
        with torch.inference_mode():
            logits = model(torch.from_numpy(pixels)[None, None])
        confidence, digit = torch.softmax(logits, dim=1)[0].max(dim=0)
        return jsonify(digit=int(digit), confidence=round(float(confidence), 4))

    return app


def main(argv: list[str] | None = None) -> int:
    config = parse_config(ReferenceConfig, argv)
    waitress.serve(
        create_app(config.model), host=paths.HOST, port=config.port, threads=config.threads
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
