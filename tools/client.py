"""TorchServe's inference API for host-side programs: the key file, then a POST.

The scorer, the benchmarks and the evaluations send images through `InferenceClient`; the launcher
reads its keys through `read_keys`. The key is read fresh for every request, because TorchServe
renews it (token_expiration_min) and a restart replaces it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import requests

from tools import paths


class ServiceUnavailable(RuntimeError):
    """TorchServe cannot be reached, or refuses our key: sending more is pointless."""


def read_keys(key_file: Path = paths.KEY_FILE) -> dict[str, Any]:
    """TorchServe's key_file.json: `{"inference"|"management"|"API": {"key": ..., ...}}`."""
    try:
        keys = json.loads(Path(key_file).read_text())
    except FileNotFoundError:
        raise ServiceUnavailable(
            f"TorchServe is not running: {key_file} does not exist "
            "(start it with `make serve` or `make run`)."
        ) from None
    except (OSError, ValueError) as error:
        raise ServiceUnavailable(
            f"Cannot read TorchServe's keys in {key_file} ({error})."
        ) from None
    if not isinstance(keys, dict):
        raise ServiceUnavailable(f"{key_file} is not TorchServe's key file.")
    return keys


def read_key(key_file: Path = paths.KEY_FILE, kind: str = "inference") -> str:
    """One key (`inference`, `management` or `API`) from TorchServe's key file."""
    try:
        return read_keys(key_file)[kind]["key"]
    except (KeyError, TypeError):
        raise ServiceUnavailable(f"{key_file} holds no {kind} key.") from None


class InferenceClient:
    """POST images to /predictions/<model>, with the inference key and retries on a full queue."""

    def __init__(
        self,
        url: str = f"http://{paths.HOST}:{paths.INFERENCE_PORT}",
        model: str = paths.MODEL_NAME,
        key_file: Path = paths.KEY_FILE,
        timeout: float = 60.0,
        retries: int = 3,
    ) -> None:
        self.url = f"{url.rstrip('/')}/predictions/{model}"
        self.key_file = Path(key_file)
        self.timeout = timeout
        self.retries = retries  # extra attempts when TorchServe answers 503 (queue full)
        self.session = requests.Session()  # keep-alive; safe to share between threads for POSTs

    def post(self, data: bytes, headers: dict[str, str] | None = None) -> requests.Response:
        """Send one body; return TorchServe's answer, whatever its status.

        Raises ServiceUnavailable when TorchServe cannot be reached or rejects the key, never for
        an image the handler refuses (that is an answer like any other).
        """
        attempt = 0
        while True:
            key = read_key(self.key_file)
            try:
                answer = self.session.post(
                    self.url,
                    data=data,
                    headers={**(headers or {}), "Authorization": f"Bearer {key}"},
                    timeout=self.timeout,
                )
            except requests.RequestException as error:
                message = f"TorchServe at {self.url} is unreachable ({error})."
                raise ServiceUnavailable(message) from error
            if _key_rejected(answer):
                raise ServiceUnavailable(f"TorchServe refused the key from {self.key_file}.")
            if answer.status_code != 503 or attempt == self.retries:
                return answer
            time.sleep(0.5 * 2**attempt)  # queue full: back off, then try again
            attempt += 1

    def __enter__(self) -> InferenceClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.session.close()


def _key_rejected(answer: requests.Response) -> bool:
    """TorchServe's answer to a wrong or expired key: 400 with type InvalidKeyException."""
    if answer.status_code != 400:
        return False
    try:
        return answer.json().get("type") == "InvalidKeyException"
    except (ValueError, AttributeError):
        return False
