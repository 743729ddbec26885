"""The UI's only way to TorchServe: its inference API, with the inference key from key_file.json.

TorchServe's answers are mapped to the UI's error contract here, in one place:

- connection refused or connect timeout, 5xx, unknown model -> 503 model_unavailable
- read timeout, or TorchServe's own 408 (responseTimeout)   -> 504 timeout
- the handler's own 4xx JSON (no_digit 422, bad_image 400, too_large 413) -> passed through
- InvalidKeyException (key expired, or rotated by a restart) -> key file re-read, retried once
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import requests

from webui.config import WebUIConfig
from webui.errors import ApiError

log = logging.getLogger(__name__)

UNAVAILABLE = "model_unavailable"


class InferenceKey:
    """TorchServe's inference key, read from key_file.json once and re-read on demand."""

    def __init__(self, key_file: Path) -> None:
        self.key_file = key_file
        self._key: str | None = None
        self._lock = threading.Lock()

    def get(self, reload: bool = False) -> str:
        with self._lock:
            if self._key is None or reload:
                self._key = self._read()
            return self._key

    def _read(self) -> str:
        try:
            return json.loads(self.key_file.read_text())["inference"]["key"]
        except FileNotFoundError:
            # TorchServe deletes the file when it stops, so a missing file usually means "down".
            raise ApiError(
                503, UNAVAILABLE, "The model server is not running (no TorchServe key file)."
            ) from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("cannot read the inference key from %s: %s", self.key_file, exc)
            raise ApiError(
                503, UNAVAILABLE, "The model server's key file cannot be read by the web UI."
            ) from None


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _is_key_rejected(response: requests.Response) -> bool:
    payload = _json_or_none(response)
    return (
        response.status_code == 400
        and isinstance(payload, dict)
        and payload.get("type") == "InvalidKeyException"
    )


class TorchServeClient:
    """Predictions and readiness through TorchServe's inference API, over pooled connections."""

    def __init__(self, config: WebUIConfig) -> None:
        self.base_url = config.torchserve_url.rstrip("/")
        self.model_name = config.model_name
        self.timeout = (config.connect_timeout, config.read_timeout)
        self.key = InferenceKey(config.key_file)
        # One Session per app: keep-alive connections to TorchServe are reused across requests
        # (requests' pool is thread-safe for this use; waitress serves with several threads).
        self.session = requests.Session()
        self.session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=16))

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send with the cached key; if TorchServe rejects the key, re-read it and retry once."""
        headers = kwargs.pop("headers", {})
        for attempt in range(2):
            key = self.key.get(reload=attempt > 0)
            try:
                response = self.session.request(
                    method,
                    f"{self.base_url}{path}",
                    headers={**headers, "Authorization": f"Bearer {key}"},
                    timeout=self.timeout,
                    **kwargs,
                )
            except requests.ReadTimeout:
                raise ApiError(
                    504, "timeout", f"The model server did not answer within {self.timeout[1]:g} s."
                ) from None
            except requests.ConnectionError as exc:
                log.warning("TorchServe unreachable at %s: %s", self.base_url, exc)
                raise ApiError(503, UNAVAILABLE, "The model server is not reachable.") from None
            except requests.RequestException as exc:
                log.warning("TorchServe request failed: %s", exc)
                raise ApiError(
                    502, "bad_gateway", "The model server's answer was broken."
                ) from None
            if not _is_key_rejected(response):
                return response
            log.info("TorchServe rejected the inference key; re-reading %s", self.key.key_file)
        log.error(
            "TorchServe rejects the inference key in %s even after re-reading it", self.key.key_file
        )
        raise ApiError(503, UNAVAILABLE, "The model server rejected the web UI's key.")

    def predict(
        self, body: bytes, content_type: str = "application/octet-stream"
    ) -> dict[str, Any]:
        """One image (raw bytes, or JSON with base64) in, the contract's JSON out."""
        response = self._request(
            "POST",
            f"/predictions/{self.model_name}",
            data=body,
            # The handler's preview switch (TorchServe 0.12 drops query strings on
            # /predictions/…, so `?preview=true` would never reach it).
            headers={"Content-Type": content_type, "X-Preview": "true"},
        )
        status, payload = response.status_code, _json_or_none(response)
        if status == 200 and isinstance(payload, dict) and "digit" in payload:
            return payload
        if (
            400 <= status < 500
            and isinstance(payload, dict)
            and {"error", "message"} <= set(payload)
        ):
            raise ApiError(status, str(payload["error"]), str(payload["message"]))
        log.warning("TorchServe answered %s to a prediction: %.300s", status, response.text)
        if status == 408:  # the model took longer than its responseTimeout
            raise ApiError(504, "timeout", "The model server took too long to answer.")
        if status == 413:
            raise ApiError(413, "too_large", "The image is too large for the model server.")
        if status == 404:
            raise ApiError(503, UNAVAILABLE, f"The model '{self.model_name}' is not loaded.")
        if status >= 500:
            raise ApiError(503, UNAVAILABLE, "The model server is not ready.")
        raise ApiError(502, "bad_gateway", f"The model server answered {status} unexpectedly.")

    def check_ready(self) -> None:
        """Raise ApiError(503) unless TorchServe is up and our model has its workers.

        Only the inference API is used: `/ping` answers 200 only while every model has at least
        its minimum number of live workers, and `OPTIONS /predictions/<model>` answers 404 when
        the model is not registered. Neither runs the model, so polling this is cheap.
        """
        ping = self._request("GET", "/ping")
        if ping.status_code != 200:
            log.warning("TorchServe /ping answered %s: %.300s", ping.status_code, ping.text)
            raise ApiError(503, UNAVAILABLE, "The model server is starting or unhealthy.")
        model = self._request("OPTIONS", f"/predictions/{self.model_name}")
        if model.status_code != 200:
            log.warning("OPTIONS /predictions/%s answered %s", self.model_name, model.status_code)
            raise ApiError(503, UNAVAILABLE, f"The model '{self.model_name}' is not loaded.")
