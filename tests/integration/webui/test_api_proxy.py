"""POST /api/predict against a scripted TorchServe: what is forwarded, and how answers come back."""

from __future__ import annotations

import base64
import io
import json

import pytest

PNG_BYTES = b"\x89PNG\r\n\x1a\n fake but opaque image bytes"


def test_raw_body_is_forwarded_with_preview_and_inference_key(client, fake_torchserve):
    fake_torchserve.script("POST", "/predictions/mnist", 200, fake_torchserve.prediction(3, 0.91))
    response = client.post("/api/predict", data=PNG_BYTES, content_type="image/png")

    assert response.status_code == 200
    assert response.get_json() == fake_torchserve.prediction(3, 0.91)
    (sent,) = fake_torchserve.predictions()
    assert sent.method == "POST"
    assert sent.path == "/predictions/mnist"
    assert sent.headers["Authorization"] == f"Bearer {fake_torchserve.key}"
    assert sent.headers["X-Preview"] == "true"
    assert sent.headers["Content-Type"] == "application/octet-stream"
    assert sent.body == PNG_BYTES


def test_multipart_upload_sends_the_file_bytes(client, fake_torchserve):
    response = client.post("/api/predict", data={"image": (io.BytesIO(PNG_BYTES), "digit.png")})
    assert response.status_code == 200
    assert fake_torchserve.predictions()[0].body == PNG_BYTES


@pytest.mark.parametrize(
    "encoded",
    [
        "data:image/png;base64," + base64.b64encode(PNG_BYTES).decode(),
        base64.b64encode(PNG_BYTES).decode(),
        base64.encodebytes(PNG_BYTES * 10).decode(),  # wrapped at 76 columns, as `base64` prints
        "not base64 !!",  # the handler, not the UI, decides
    ],
    ids=["data-url", "plain-base64", "wrapped-base64", "not-base64"],
)
def test_json_is_forwarded_unchanged_for_the_handler_to_decode(client, fake_torchserve, encoded):
    body = json.dumps({"image": encoded}).encode()
    response = client.post("/api/predict", data=body, content_type="application/json")
    assert response.status_code == 200
    (sent,) = fake_torchserve.predictions()
    assert sent.body == body
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["X-Preview"] == "true"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (422, {"error": "no_digit", "message": "No digit found: the image is blank."}),
        (400, {"error": "bad_image", "message": "This file is not an image."}),
        (413, {"error": "too_large", "message": "The image has too many pixels."}),
    ],
)
def test_handler_errors_pass_through_unchanged(client, fake_torchserve, status, body):
    fake_torchserve.script("POST", "/predictions/mnist", status, body)
    response = client.post("/api/predict", data=PNG_BYTES, content_type="image/png")
    assert response.status_code == status
    assert response.get_json() == body
