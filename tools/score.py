"""Score every image file in a folder through TorchServe's inference API into a CSV.

    python -m tools.score DIR --out predictions.csv [--url ...] [--token-file ...]

One row per file, in path order: path, digit, confidence, top3 ("7:0.991 1:0.004 2:0.002") and
error ("no_digit: No digit found…" for a file the service refused). Bad files never stop the run;
only an unreachable server or a refused token does (exit status 2).
"""

from __future__ import annotations

import csv
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import requests
from tqdm import tqdm

from tools import paths
from tools.cli import parse_config
from tools.client import InferenceClient, ServiceUnavailable, read_key

CSV_COLUMNS = ("path", "digit", "confidence", "top3", "error")


@dataclass
class ScoreConfig:
    folder: Path = Path(".")  # images to score (files directly inside it, hidden ones skipped)
    out: Path = Path("predictions.csv")  # CSV written here
    url: str = f"http://{paths.HOST}:{paths.INFERENCE_PORT}"  # TorchServe inference API
    model: str = paths.MODEL_NAME  # model name in /predictions/<model>
    token_file: Path = paths.KEY_FILE  # TorchServe's key_file.json
    concurrency: int = 4  # requests in flight; lets TorchServe batch them
    timeout: float = 60.0  # seconds per request
    retries: int = 3  # extra attempts when TorchServe answers 503 (queue full)


def score_file(path: Path, client: InferenceClient) -> dict[str, str]:
    """One file → one CSV row. Raises ServiceUnavailable, never for a bad file."""
    row = {column: "" for column in CSV_COLUMNS} | {"path": str(path)}
    try:
        data = path.read_bytes()
    except OSError as error:
        return row | {"error": f"unreadable: {error.strerror}"}
    return row | _row_fields(client.post(data))


def _row_fields(answer: requests.Response) -> dict[str, str]:
    try:
        body = answer.json()
    except ValueError:
        body = {}
    if answer.status_code == 200 and isinstance(body, dict) and "digit" in body:
        top3 = " ".join(f"{t['digit']}:{t['probability']:.4f}" for t in body["top3"])
        return {
            "digit": str(body["digit"]),
            "confidence": f"{body['confidence']:.4f}",
            "top3": top3,
        }
    if "error" in body:
        return {"error": f"{body['error']}: {body.get('message', '')}"}
    return {"error": f"HTTP {answer.status_code}: {answer.text[:200].strip() or 'no body'}"}


def score_folder(config: ScoreConfig) -> list[dict[str, str]]:
    """Score every file of the folder concurrently; rows in path order."""
    files = sorted(
        p for p in Path(config.folder).iterdir() if p.is_file() and not p.name.startswith(".")
    )
    read_key(config.token_file)  # fail before the progress bar if the server is not running
    client = InferenceClient(
        config.url, config.model, config.token_file, config.timeout, config.retries
    )
    with client, ThreadPoolExecutor(config.concurrency) as pool:
        futures = [pool.submit(score_file, path, client) for path in files]
        for future in tqdm(as_completed(futures), total=len(files), unit="image", desc="Scoring"):
            future.result()  # raises ServiceUnavailable as soon as one request finds no server
        return [future.result() for future in futures]


def write_csv(rows: list[dict[str, str]], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    config = parse_config(ScoreConfig, argv, positional=("folder",))
    if not config.folder.is_dir():
        print(f"error: {config.folder} is not a folder", file=sys.stderr)
        return 1
    try:
        rows = score_folder(config)
    except ServiceUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    write_csv(rows, config.out)
    refused = sum(1 for row in rows if row["error"])
    print(f"Wrote {config.out}: {len(rows)} files, {len(rows) - refused} digits, {refused} errors.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
