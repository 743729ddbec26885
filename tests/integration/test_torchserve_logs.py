"""TorchServe's logs under load: a short access line per request, every line written once."""

from __future__ import annotations

import re
from collections import Counter

import requests

from tools.paths import SAMPLES_DIR

REQUESTS = 200
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT[\d:,]+ ")


def log_bytes(log_dir) -> int:
    return sum(path.stat().st_size for path in log_dir.iterdir() if path.is_file())


def test_requests_add_little_to_the_logs_and_nothing_twice(torchserve):
    body = (SAMPLES_DIR / "seven.png").read_bytes()
    headers = {"Authorization": f"Bearer {torchserve.token()}", "Content-Type": "image/png"}
    url = f"{torchserve.inference_url}/predictions/mnist"
    with requests.Session() as session:
        session.post(url, data=body, headers=headers, timeout=30).raise_for_status()
        before = log_bytes(torchserve.log_dir)
        for _ in range(REQUESTS):
            session.post(url, data=body, headers=headers, timeout=30).raise_for_status()
    per_request = (log_bytes(torchserve.log_dir) - before) / REQUESTS
    print(f"log bytes per request: {per_request:.0f}")
    # TorchServe's own configuration wrote ~7,500 bytes per request; the access line is ~100.
    assert per_request < 300
    access = (torchserve.log_dir / "access_log.log").read_text()
    assert access.count('"POST /predictions/mnist HTTP/1.1" 200') >= REQUESTS
    for name in ("ts_log.log", "model_log.log"):
        text = (torchserve.log_dir / name).read_text()
        # Logged lines (the start-up banner has no timestamp), without their timestamps.
        lines = [TIMESTAMP.sub("", line) for line in text.splitlines() if TIMESTAMP.match(line)]
        repeated = [
            line for line, count in Counter(lines).items() if count > 1 and "Loaded" not in line
        ]
        assert not repeated, f"{name} repeats lines: {repeated[:3]}"
