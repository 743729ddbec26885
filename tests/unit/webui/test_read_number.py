"""POST /api/predict's number option: asked three ways, it reaches TorchServe as `X-Read: number`,
and the number answer passes through as TorchServe sent it."""

from __future__ import annotations

import io
import json

import pytest

PNG = b"\x89PNG\r\n\x1a\n image bytes"
NUMBER = {
    "number": "42",
    "confidence": 0.9,
    "digits": [
        {"digit": 4, "confidence": 0.95, "top3": [], "box": [0, 0, 10, 20], "preview": "iVBO"},
        {"digit": 2, "confidence": 0.95, "top3": [], "box": [12, 0, 22, 20], "preview": "iVBO"},
    ],
}

ASKED = {
    "json": {"json": {"image": "aVZCT1I=", "read": "number"}},
    "json-any-case": {"json": {"image": "aVZCT1I=", "read": "Number"}},
    "form-field": {"data": {"image": (io.BytesIO(PNG), "a.png"), "read": "number"}},
    "header": {"data": PNG, "content_type": "image/png", "headers": {"X-Read": "NUMBER"}},
}


@pytest.mark.parametrize("kwargs", ASKED.values(), ids=ASKED.keys())
def test_the_number_option_reaches_torchserve_as_the_x_read_header(client, answering, kwargs):
    answering.body = NUMBER
    response = client.post("/api/predict", **kwargs)
    assert response.status_code == 200
    assert response.get_json() == NUMBER  # passed through unchanged
    [(_, _, sent)] = answering.sent
    assert sent["headers"]["X-Read"] == "number"
    assert sent["headers"]["X-Preview"] == "true"


def test_without_the_option_no_x_read_header_is_sent(client, answering):
    response = client.post("/api/predict", data=PNG, content_type="image/png")
    assert response.status_code == 200
    assert response.get_json()["digit"] == 7
    [(_, _, sent)] = answering.sent
    assert "X-Read" not in sent["headers"]


@pytest.mark.parametrize("read", ["letters", 3, None])
def test_an_unknown_read_option_is_400_before_torchserve(client, answering, read):
    response = client.post("/api/predict", json={"image": "aVZCT1I=", "read": read})
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"
    assert answering.sent == []


def test_a_digit_answer_to_a_number_request_is_not_passed_off_as_a_number(client, answering):
    # An old handler ignores X-Read and answers one digit: the page must not read it as a number.
    response = client.post(
        "/api/predict", data=PNG, content_type="image/png", headers={"X-Read": "number"}
    )
    assert response.status_code == 502
    assert response.get_json()["error"] == "bad_gateway"


def test_the_handlers_too_many_digits_refusal_passes_through(client, answering):
    answering.status = 422
    answering.body = {"error": "too_many_digits", "message": "At most 12 digits."}
    response = client.post(
        "/api/predict", data=PNG, content_type="image/png", headers={"X-Read": "number"}
    )
    assert response.status_code == 422
    assert response.get_json() == json.loads(json.dumps(answering.body))
