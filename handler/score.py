"""Score every image file in a folder through TorchServe's inference API into a CSV.

    python -m handler.score DIR --out predictions.csv [--url ...] [--token-file ...]

One row per file, in path order: path, digit, confidence, top3 ("7:0.991 1:0.004 2:0.002") and
error ("no_digit: No digit found…" for a file the service refused). Bad files never stop the run;
only an unreachable server or a refused token does (exit status 2).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, fields
from pathlib import Path

import requests
from tqdm import tqdm

from handler.server import REPO_ROOT

CSV_COLUMNS = ("path", "digit", "confidence", "top3", "error")


@dataclass
class ScoreConfig:
    folder: Path = Path(".")  # images to score (files directly inside it, hidden ones skipped)
    out: Path = Path("predictions.csv")  # CSV written here
    url: str = "http://127.0.0.1:8080"  # TorchServe inference API
    model: str = "mnist"  # model name in /predictions/<model>
    token_file: Path = REPO_ROOT / ".run" / "torchserve" / "key_file.json"  # TorchServe's keys
    concurrency: int = 4  # requests in flight; lets TorchServe batch them
    timeout: float = 60.0  # seconds per request
    retries: int = 3  # extra attempts when TorchServe answers 503 (queue full)


class ServiceUnavailable(RuntimeError):
    """TorchServe cannot be reached or refuses our key: scoring more files is pointless."""


def read_token(token_file: Path) -> str:
    """The current inference key (read per request: TorchServe may have renewed it)."""
    try:
        return json.loads(Path(token_file).read_text())["inference"]["key"]
    except (OSError, ValueError, KeyError) as error:
        raise ServiceUnavailable(
            f"Cannot read the inference key from {token_file} ({error}); is TorchServe running?"
        ) from error


def score_file(path: Path, config: ScoreConfig, session: requests.Session) -> dict[str, str]:
    """One file → one CSV row. Raises ServiceUnavailable, never for a bad file."""
    row = {column: "" for column in CSV_COLUMNS} | {"path": str(path)}
    try:
        data = path.read_bytes()
    except OSError as error:
        return row | {"error": f"unreadable: {error.strerror}"}
    url = f"{config.url.rstrip('/')}/predictions/{config.model}"
    for attempt in range(config.retries + 1):
        headers = {"Authorization": f"Bearer {read_token(config.token_file)}"}
        try:
            answer = session.post(url, data=data, headers=headers, timeout=config.timeout)
        except requests.RequestException as error:
            message = f"TorchServe at {config.url} is unreachable ({error})."
            raise ServiceUnavailable(message) from error
        if answer.status_code != 503 or attempt == config.retries:
            break
        time.sleep(0.5 * 2**attempt)  # queue full: back off, then try again
    return row | _row_fields(answer, config)


def _row_fields(answer: requests.Response, config: ScoreConfig) -> dict[str, str]:
    try:
        body = answer.json()
    except ValueError:
        body = {}
    if answer.status_code == 400 and body.get("type") == "InvalidKeyException":
        raise ServiceUnavailable(f"TorchServe refused the key from {config.token_file}.")
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
    paths = sorted(
        p for p in Path(config.folder).iterdir() if p.is_file() and not p.name.startswith(".")
    )
    read_token(config.token_file)  # fail before the progress bar if the server is not running
    with requests.Session() as session, ThreadPoolExecutor(config.concurrency) as pool:
        futures = [pool.submit(score_file, path, config, session) for path in paths]
        for future in tqdm(as_completed(futures), total=len(paths), unit="image", desc="Scoring"):
            future.result()  # raises ServiceUnavailable as soon as one request finds no server
        return [future.result() for future in futures]


def write_csv(rows: list[dict[str, str]], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    help_text = {
        "folder": "folder of images to score",
        "out": "CSV file to write",
        "url": "TorchServe inference API",
        "model": "model name",
        "token_file": "TorchServe's key_file.json",
        "concurrency": "requests in flight",
        "timeout": "seconds per request",
        "retries": "extra attempts when TorchServe's queue is full (503)",
    }
    for field in fields(ScoreConfig):
        default = getattr(ScoreConfig, field.name)
        name = field.name if field.name == "folder" else "--" + field.name.replace("_", "-")
        extra = {} if field.name == "folder" else {"default": default}
        parser.add_argument(
            name, type=type(default), help=f"{help_text[field.name]} (default: {default})", **extra
        )
    config = ScoreConfig(**vars(parser.parse_args(argv)))
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
