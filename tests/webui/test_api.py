"""POST /api/predict (three ways in, TorchServe's answers mapped) and GET /api/model."""

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
    ],
    ids=["data-url", "plain-base64"],
)
def test_json_image_is_decoded(client, fake_torchserve, encoded):
    response = client.post("/api/predict", json={"image": encoded})
    assert response.status_code == 200
    assert fake_torchserve.predictions()[0].body == PNG_BYTES


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"json": {"image": "not base64 !!"}}, "bad_image"),
        ({"json": {"image": "data:image/png,rawtext"}}, "bad_image"),
        ({"json": {"picture": "abc"}}, "bad_request"),
        ({"data": b"", "content_type": "image/png"}, "no_image"),
    ],
)
def test_unusable_requests_are_400_json_and_never_reach_torchserve(
    client, fake_torchserve, kwargs, error
):
    response = client.post("/api/predict", **kwargs)
    assert response.status_code == 400
    assert response.get_json()["error"] == error
    assert response.get_json()["message"]
    assert fake_torchserve.predictions() == []


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


def test_upload_over_the_limit_is_413_json_before_torchserve(client, fake_torchserve, config):
    too_big = b"x" * (config.max_upload_bytes + 1)
    response = client.post("/api/predict", data={"image": (io.BytesIO(too_big), "big.png")})
    assert response.status_code == 413
    assert response.get_json()["error"] == "too_large"
    assert "limit" in response.get_json()["message"]
    assert fake_torchserve.predictions() == []


def test_model_card_reads_the_training_report(client, config):
    report = {"test_accuracy": 0.9931, "parameters": 123456, "per_class_accuracy": {}}
    config.model_report.write_text(json.dumps(report))
    card = client.get("/api/model").get_json()
    assert card == {
        "name": config.model_name,
        "version": config.model_version,
        "test_accuracy": 0.9931,
        "parameters": 123456,
    }


def test_model_card_without_report_has_no_figures(client, config):
    assert not config.model_report.exists()
    response = client.get("/api/model")
    assert response.status_code == 200
    assert response.get_json()["test_accuracy"] is None
    assert response.get_json()["parameters"] is None


def test_corrupt_model_report_is_a_json_error(client, config):
    config.model_report.write_text("{not json")
    response = client.get("/api/model")
    assert response.status_code == 500
    assert response.get_json()["error"] == "bad_model_card"
