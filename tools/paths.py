"""Paths, names and ports the host-side tools agree on, defined once.

The web UI (its own image) and the handler (inside the .mar) keep their own defaults; everything
that runs on the host (tools/, bench/, tests/) takes them from here.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# The model as TorchServe knows it: /predictions/<MODEL_NAME>, /models/<MODEL_NAME>/<MODEL_VERSION>.
MODEL_NAME = "mnist"
MODEL_VERSION = "1.0"

# What ships: the TorchScript model and its report, and the archive built from them.
SHIPPED_DIR = REPO_ROOT / "training" / "shipped"
SHIPPED_MODEL = SHIPPED_DIR / "model.pt"
SHIPPED_REPORT = SHIPPED_DIR / "report.json"
# The digit check that helps reading whole numbers cut touching digits (tools.digit_check).
SHIPPED_DIGIT_CHECK = SHIPPED_DIR / "digit_check.pt"
SHIPPED_PAIR_READER = SHIPPED_DIR / "pair_reader.pt"
MODEL_STORE = REPO_ROOT / "model_store"
SHIPPED_MAR = MODEL_STORE / f"{MODEL_NAME}.mar"
SERVE_CONFIG_DIR = REPO_ROOT / "serve_config"
HANDLER_DIR = REPO_ROOT / "handler"

# Run state of `make serve` / `make run`: TorchServe's working directory holds its key file.
RUN_DIR = REPO_ROOT / ".run"
TORCHSERVE_WORKDIR = RUN_DIR / "torchserve"
KEY_FILE = TORCHSERVE_WORKDIR / "key_file.json"  # TorchServe writes it into its working directory
FEEDBACK_DB = RUN_DIR / "feedback.db"  # the UI's corrections (SQLite) under `make run`

# Everything listens on loopback only; these are the defaults, every tool takes other ports.
HOST = "127.0.0.1"
INFERENCE_PORT = 8080
MANAGEMENT_PORT = 8081
METRICS_PORT = 8082
UI_PORT = 5000

# Benchmark output (git-ignored; `make clean` removes it), and the realistic digit set that
# bench.realistic_digits writes there and the evaluators read.
ARTIFACTS_DIR = REPO_ROOT / "artifacts"
REALISTIC_DIR = ARTIFACTS_DIR / "realistic"

# What the preprocessing is checked and timed with: sample uploads, and the outputs it gave for a
# fixed sample of inputs before it was made faster (bench.golden_preprocess writes them).
SAMPLES_DIR = REPO_ROOT / "docs" / "samples"
GOLDEN_PREPROCESS = REPO_ROOT / "tests" / "data" / "golden_preprocess.npz"
