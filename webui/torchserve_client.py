"""The UI's only way to TorchServe: its inference API, with the inference key from key_file.json.

TorchServe's answers are mapped to the UI's error contract here, in one place:

- connection refused or connect timeout, 5xx, unknown model -> 503 model_unavailable
- read timeout, or TorchServe's own 408 (responseTimeout)   -> 504 timeout
- the handler's own 4xx JSON (no_digit 422, bad_image 400, too_large 413) -> passed through
- InvalidKeyException (key expired, or rotated by a restart) -> key file re-read, retried once

Name lookups are bounded too: the connect timeout covers finding TorchServe's address, which
glibc alone cannot time out (see `_Lookups`).

Predictions are also bounded here: at most `max_in_flight` wait on TorchServe at once, and one
more is answered 503 `overloaded` with Retry-After at once. Queueing it instead would only make
every answer later: TorchServe cannot answer faster than its workers, and a person drawing sends
a newer request before an old one comes back. Each failure is counted by kind (/metrics).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NameResolutionError,
    ProtocolError,
    ReadTimeoutError,
)

from webui.config import WebUIConfig
from webui.errors import ApiError
from webui.metrics import Metrics

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


class _Lookups:
    """getaddrinfo with a deadline, and at most one lookup in flight per name.

    glibc's getaddrinfo takes no timeout, and a resolver can be slow to say a name is gone:
    under podman, aardvark-dns took 15 s per lookup for about a minute after TorchServe's
    container was killed, so "model unavailable" took 15 s instead of 1. Each lookup runs in its
    own daemon thread; a caller waits for it at most the connect timeout. Callers that need a
    connection while a lookup is in flight wait on that one, so a stuck resolver holds one
    thread, not one per request. Nothing is cached: the next connection looks the name up again
    (a restarted container comes back at a new address).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight: dict[tuple[str, int], Future] = {}

    def address(self, host: str, port: int, timeout: float | None) -> str:
        """The first address of `host`; TimeoutError after `timeout` s, socket.gaierror if none."""
        with self._lock:
            lookup = self._in_flight.get((host, port))
            if lookup is None or lookup.done():
                lookup = self._in_flight[(host, port)] = Future()
                threading.Thread(
                    target=self._look_up, args=(lookup, host, port), name="lookup", daemon=True
                ).start()
        return lookup.result(timeout)[0][4][0]

    @staticmethod
    def _look_up(lookup: Future, host: str, port: int) -> None:
        try:
            lookup.set_result(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            lookup.set_exception(exc)


_LOOKUPS = _Lookups()


class _Connection(HTTPConnection):
    """urllib3's connection, with the name looked up by `_Lookups` within the connect timeout."""

    def _new_conn(self) -> socket.socket:
        name = self._dns_host
        timeout = self.timeout if isinstance(self.timeout, int | float) else None
        try:
            address = _LOOKUPS.address(name, self.port, timeout)
        except TimeoutError:
            message = f"Looking up {name} took over {timeout} s (connect timeout)."
            raise ConnectTimeoutError(self, message) from None
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        # urllib3 connects to `_dns_host`; an address literal makes its own lookup instant.
        self._dns_host = address
        try:
            return super()._new_conn()
        finally:
            self._dns_host = name


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


@dataclass(frozen=True)
class Answer:
    """TorchServe's answer: status, body bytes as sent, and the body parsed when it is JSON."""

    status: int
    data: bytes
    payload: Any  # parsed JSON, or None

    @classmethod
    def of(cls, response: urllib3.BaseHTTPResponse) -> Answer:
        try:
            payload = json.loads(response.data)
        except ValueError:
            payload = None
        return cls(response.status, response.data, payload)

    @property
    def key_rejected(self) -> bool:
        return (
            self.status == 400
            and isinstance(self.payload, dict)
            and self.payload.get("type") == "InvalidKeyException"
        )


class TorchServeClient:
    """Predictions and readiness through TorchServe's inference API, over pooled connections."""

    def __init__(self, config: WebUIConfig, metrics: Metrics) -> None:
        self.base_url = config.torchserve_url.rstrip("/")
        self.model_name = config.model_name
        self.read_timeout = config.read_timeout
        self.retry_after = config.retry_after
        self.key = InferenceKey(config.key_file)
        self.metrics = metrics
        self._slots = threading.BoundedSemaphore(config.max_in_flight)
        # One pool per app: keep-alive connections to TorchServe are reused across requests, and
        # waitress's threads share it safely. urllib3 directly: `requests` on top of it costs about
        # half a millisecond of CPU per call, for features a proxy does not use.
        self.pool = urllib3.PoolManager(
            # Every admitted prediction keeps its connection, plus a few for readiness checks.
            maxsize=config.max_in_flight + 4,
            timeout=urllib3.Timeout(connect=config.connect_timeout, read=config.read_timeout),
            retries=False,  # failures are reported at once, as 503/504, never retried blindly
        )
        self.pool.pool_classes_by_scheme = {**self.pool.pool_classes_by_scheme, "http": _Pool}

    def _failed(self, kind: str, error: ApiError) -> ApiError:
        """Count a failed call to TorchServe by kind (webui.metrics), and return its answer."""
        self.metrics.torchserve_errors.labels(kind=kind).inc()
        return error

    @contextmanager
    def _slot(self) -> Iterator[None]:
        """One of the `max_in_flight` places for a prediction, or 503 overloaded at once."""
        if not self._slots.acquire(blocking=False):
            self.metrics.shed.inc()
            raise ApiError(
                503,
                "overloaded",
                "The digit reader is busy: please try again in a moment.",
                headers={"Retry-After": str(self.retry_after)},
            )
        self.metrics.torchserve_in_flight.inc()
        try:
            yield
        finally:
            self.metrics.torchserve_in_flight.dec()
            self._slots.release()

    def _request(self, method: str, path: str, body: bytes | None = None, **headers: str) -> Answer:
        """Send with the cached key; if TorchServe rejects the key, re-read it and retry once."""
        for attempt in range(2):
            try:
                key = self.key.get(reload=attempt > 0)
            except ApiError as error:
                raise self._failed("unreachable", error) from None
            try:
                response = self.pool.request(
                    method,
                    f"{self.base_url}{path}",
                    body=body,
                    headers={**headers, "Authorization": f"Bearer {key}"},
                )
            except ReadTimeoutError:
                message = f"The model server did not answer within {self.read_timeout:g} s."
                raise self._failed("timeout", ApiError(504, "timeout", message)) from None
            # Refused, unresolvable, timed out connecting, or dropped (TorchServe stopped).
            except (ConnectTimeoutError, ProtocolError) as exc:
                log.warning("TorchServe unreachable at %s: %s", self.base_url, exc)
                message = "The model server is not reachable."
                raise self._failed("unreachable", ApiError(503, UNAVAILABLE, message)) from None
            except HTTPError as exc:
                log.warning("TorchServe request failed: %s", exc)
                message = "The model server's answer was broken."
                raise self._failed("bad_answer", ApiError(502, "bad_gateway", message)) from None
            answer = Answer.of(response)
            if not answer.key_rejected:
                return answer
            log.info("TorchServe rejected the inference key; re-reading %s", self.key.key_file)
        log.error(
            "TorchServe rejects the inference key in %s even after re-reading it", self.key.key_file
        )
        message = "The model server rejected the web UI's key."
        raise self._failed("key_rejected", ApiError(503, UNAVAILABLE, message))

    def predict(
        self, body: bytes, content_type: str = "application/octet-stream", read: str = "digit"
    ) -> bytes:
        """One image (raw bytes, or JSON with base64) in; the contract's JSON out, as TorchServe
        sent it (checked, never re-encoded). `read="number"` asks for a whole number."""
        # The handler's switches (TorchServe 0.12 drops query strings on /predictions/…, so
        # `?preview=true` would never reach it).
        headers = {"Content-Type": content_type, "X-Preview": "true"}
        if read == "number":
            headers["X-Read"] = "number"
        with self._slot():
            started = time.perf_counter()
            answer = self._request("POST", f"/predictions/{self.model_name}", body, **headers)
            self.metrics.torchserve_latency.observe(time.perf_counter() - started)
        status, payload = answer.status, answer.payload
        answer_key = "number" if read == "number" else "digit"
        if status == 200 and isinstance(payload, dict) and answer_key in payload:
            return answer.data
        if (
            400 <= status < 500
            and isinstance(payload, dict)
            and {"error", "message"} <= set(payload)
        ):
            raise ApiError(status, str(payload["error"]), str(payload["message"]))
        log.warning("TorchServe answered %s to a prediction: %.300r", status, answer.data)
        if status == 408:  # the model took longer than its responseTimeout
            message = "The model server took too long to answer."
            raise self._failed("timeout", ApiError(504, "timeout", message))
        if status == 413:
            raise ApiError(413, "too_large", "The image is too large for the model server.")
        if status == 404:
            message = f"The model '{self.model_name}' is not loaded."
            raise self._failed("unavailable", ApiError(503, UNAVAILABLE, message))
        if status >= 500:
            message = "The model server is not ready."
            raise self._failed("unavailable", ApiError(503, UNAVAILABLE, message))
        message = f"The model server answered {status} unexpectedly."
        raise self._failed("bad_answer", ApiError(502, "bad_gateway", message))

    def check_ready(self) -> None:
        """Raise ApiError(503) unless TorchServe is up and our model has its workers.

        Only the inference API is used: `/ping` answers 200 only while every model has at least
        its minimum number of live workers, and `OPTIONS /predictions/<model>` answers 404 when
        the model is not registered. Neither runs the model, so polling this is cheap. Neither
        can tell a starting worker from a READY one either: while TorchServe starts, both answer
        200 a few seconds before the model can serve (docs/reliability.md).
        """
        ping = self._request("GET", "/ping")
        if ping.status != 200:
            log.warning("TorchServe /ping answered %s: %.300r", ping.status, ping.data)
            message = "The model server is starting or unhealthy."
            raise self._failed("unavailable", ApiError(503, UNAVAILABLE, message))
        model = self._request("OPTIONS", f"/predictions/{self.model_name}")
        if model.status != 200:
            log.warning("OPTIONS /predictions/%s answered %s", self.model_name, model.status)
            message = f"The model '{self.model_name}' is not loaded."
            raise self._failed("unavailable", ApiError(503, UNAVAILABLE, message))
