"""POST /api/predict refusals that never reach TorchServe, and GET /api/model."""

from __future__ import annotations

import io
import json

import pytest


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"json": {"picture": "abc"}}, "bad_request"),
        ({"json": {"image": 7}}, "bad_request"),
        ({"json": ["abc"]}, "bad_request"),
        ({"json": {"image": "abc", "images": ["abc", "def"]}}, "bad_request"),
        ({"data": b"", "content_type": "image/png"}, "no_image"),
        ({"data": {"image": (io.BytesIO(b""), "empty.png")}}, "no_image"),
    ],
    ids=[
        "no-image-field",
        "image-not-text",
        "json-list",
        "several-images",
        "empty-body",
        "empty-file",
    ],
)
def test_unusable_requests_are_400_json_and_never_reach_torchserve(client, upstream, kwargs, error):
    response = client.post("/api/predict", **kwargs)
    assert response.status_code == 400
    assert response.get_json()["error"] == error
    assert response.get_json()["message"]
    assert upstream == []


def test_upload_over_the_limit_is_413_json_before_torchserve(client, upstream, config):
    too_big = b"x" * (config.max_upload_bytes + 1)
    response = client.post("/api/predict", data={"image": (io.BytesIO(too_big), "big.png")})
    assert response.status_code == 413
    assert response.get_json()["error"] == "too_large"
    assert "limit" in response.get_json()["message"]
    assert upstream == []


def test_unreachable_torchserve_is_503_json(client, upstream):
    response = client.post("/api/predict", data=b"\x89PNG image bytes", content_type="image/png")
    assert response.status_code == 503
    assert response.get_json()["error"] == "model_unavailable"
    assert len(upstream) == 1


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
