"""POST /api/feedback against a scripted TorchServe and a SQLite file in a temporary directory:
what is stored, what is refused (and then nothing is stored), the cap, the rate limit, metrics."""

from __future__ import annotations

import base64
import io
from dataclasses import replace

import pytest
from PIL import Image
from sqlalchemy import inspect

from webui import create_app
from webui.feedback.store import FeedbackStore, database_url


def png(size: tuple[int, int], value: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", size, value).save(buffer, format="PNG")
    return buffer.getvalue()


ORIGINAL = png((280, 280), 255)  # what the person drew
DIGIT = png((28, 28), 40)  # what the handler made of it
OTHER_DIGIT = png((28, 28), 200)
B64 = base64.b64encode(ORIGINAL).decode()
PREVIEW = base64.b64encode(DIGIT).decode()
NUMBER = {
    "number": "42",
    "confidence": 0.9,
    "digits": [
        {"digit": 4, "confidence": 0.9, "top3": [], "box": [0, 0, 9, 9], "preview": PREVIEW},
        {
            "digit": 2,
            "confidence": 0.9,
            "top3": [],
            "box": [9, 0, 19, 9],
            "preview": base64.b64encode(OTHER_DIGIT).decode(),
        },
    ],
}


@pytest.fixture
def handler(answering):
    """TorchServe answering one digit with its 28×28 preview, as the handler does."""
    answering.body = {"digit": 5, "confidence": 0.6, "top3": [], "preview": PREVIEW}
    return answering


def answer_like(source, target) -> None:
    """Make app `target`'s TorchServe the scripted one of app `source` (the `answering` fixture)."""
    target.extensions["torchserve"].pool.request = source.extensions["torchserve"].pool.request


def stored_rows(config) -> list:
    store = FeedbackStore(database_url(config.feedback_db_file, {}))
    try:
        return list(store.rows())
    finally:
        store.dispose()


def test_a_minimal_correction_is_stored_with_the_handlers_28x28(client, handler, config):
    response = client.post("/api/feedback", json={"image": B64, "label": 3})
    assert response.status_code == 201
    answer = response.get_json()
    stored = answer["stored"]
    assert stored["label"] == 3 and stored["predicted"] is None and stored["mode"] == "digit"
    assert stored["position"] is None
    assert base64.b64decode(stored["digit_png"]) == DIGIT
    assert stored["original_content_type"] == "image/png"
    assert stored["original_bytes"] == len(ORIGINAL)
    assert stored["model_version"] == config.model_version
    assert stored["created_at"].endswith("+00:00")
    [row] = stored_rows(config)
    assert row.id == answer["id"]
    assert (row.original, row.digit_png, row.label) == (ORIGINAL, DIGIT, 3)
    # The very bytes stored went to TorchServe, as an image, with the preview asked.
    [(_, _, sent)] = handler.sent
    assert sent["body"] == ORIGINAL
    assert sent["headers"]["X-Preview"] == "true"
    assert "X-Read" not in sent["headers"]


def test_nothing_about_the_person_is_a_column(client, handler, config):
    headers = {"User-Agent": "Browser/1.0", "Cookie": "session=abc"}
    assert client.post("/api/feedback", json={"image": B64, "label": 3}, headers=headers)
    store = FeedbackStore(database_url(config.feedback_db_file, {}))
    columns = {c["name"] for c in inspect(store.engine).get_columns("corrections")}
    store.dispose()
    assert columns == {
        "id", "created_at", "label", "predicted", "mode", "position", "digit_png", "original",
        "original_content_type", "model_name", "model_version",
    }  # fmt: skip
    raw = config.feedback_db_file.read_bytes()
    assert b"127.0.0.1" not in raw and b"Browser/1.0" not in raw and b"session=abc" not in raw


def test_a_data_url_and_the_optional_fields(client, handler, config):
    body = {"image": f"data:image/png;base64,{B64}", "label": 3, "predicted": 5, "mode": "digit"}
    response = client.post("/api/feedback", json=body)
    assert response.status_code == 201
    assert response.get_json()["stored"]["predicted"] == 5
    [row] = stored_rows(config)
    assert row.original == ORIGINAL


@pytest.mark.parametrize(
    "header", ["data:;base64,", "data:application/octet-stream;base64,", "data:image/jpeg;base64,"]
)
def test_the_data_urls_type_is_not_trusted_the_bytes_are(client, handler, config, header):
    response = client.post("/api/feedback", json={"image": header + B64, "label": 3})
    assert response.status_code == 201
    assert response.get_json()["stored"]["original_content_type"] == "image/png"


def test_a_number_correction_stores_the_digit_at_its_position(client, answering, config):
    answering.body = NUMBER
    body = {"image": B64, "label": 7, "predicted": 2, "mode": "number", "position": 1}
    response = client.post("/api/feedback", json=body)
    assert response.status_code == 201
    assert response.get_json()["stored"]["position"] == 1
    [(_, _, sent)] = answering.sent
    assert sent["headers"]["X-Read"] == "number"
    [row] = stored_rows(config)
    assert (row.digit_png, row.mode, row.position, row.label) == (OTHER_DIGIT, "number", 1, 7)


def test_a_position_beyond_the_numbers_digits_is_400_and_nothing_is_stored(
    client, answering, config
):
    answering.body = NUMBER
    body = {"image": B64, "label": 7, "mode": "number", "position": 2}
    response = client.post("/api/feedback", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_position"
    assert stored_rows(config) == []


BAD = {
    "no-label": {"image": B64},
    "label-10": {"image": B64, "label": 10},
    "label-negative": {"image": B64, "label": -1},
    "label-text": {"image": B64, "label": "3"},
    "label-float": {"image": B64, "label": 3.0},
    "label-bool": {"image": B64, "label": True},
    "predicted-10": {"image": B64, "label": 3, "predicted": 10},
    "mode-unknown": {"image": B64, "label": 3, "mode": "word"},
    "number-without-position": {"image": B64, "label": 3, "mode": "number"},
    "position-in-digit-mode": {"image": B64, "label": 3, "position": 2},
    "position-13th-digit": {"image": B64, "label": 3, "mode": "number", "position": 12},
    "no-image": {"label": 3},
    "image-not-text": {"image": 12, "label": 3},
    "not-base64": {"image": "not base64 at all!", "label": 3},
    "data-url-not-base64": {"image": "data:image/png,abc", "label": 3},
    "not-an-image": {"image": base64.b64encode(b"hello, world").decode(), "label": 3},
    "json-list": [B64, 3],
}


@pytest.mark.parametrize("body", BAD.values(), ids=BAD.keys())
def test_bad_corrections_are_400_and_reach_neither_torchserve_nor_the_store(
    client, handler, config, body
):
    response = client.post("/api/feedback", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"] in {"bad_request", "unsupported_format"}
    assert response.get_json()["message"]
    assert handler.sent == []
    assert not config.feedback_db_file.exists()


def test_not_json_is_400(client, handler):
    response = client.post("/api/feedback", data=ORIGINAL, content_type="image/png")
    assert response.status_code == 400
    assert handler.sent == []


def test_an_image_over_the_feedback_limit_is_413(app, config, handler):
    # Under the upload limit (64 kB here) as JSON, over the feedback image limit once decoded.
    big = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40_000).decode()
    limited = create_app(replace(config, feedback_max_image_bytes=30_000))
    answer_like(app, limited)
    response = limited.test_client().post("/api/feedback", json={"image": big, "label": 3})
    assert response.status_code == 413
    assert response.get_json()["error"] == "too_large"
    assert handler.sent == []


def test_torchserve_down_is_503_with_retry_after_and_nothing_stored(client, upstream, config):
    response = client.post("/api/feedback", json={"image": B64, "label": 3})
    assert response.status_code == 503
    assert response.get_json()["error"] == "feedback_unavailable"
    assert response.headers["Retry-After"] == str(config.retry_after)
    assert len(upstream) == 1
    assert stored_rows(config) == []


def test_the_handlers_refusal_is_passed_on_and_nothing_stored(client, answering, config):
    answering.status = 422
    answering.body = {"error": "no_digit", "message": "No digit found."}
    response = client.post("/api/feedback", json={"image": B64, "label": 3})
    assert response.status_code == 422
    assert response.get_json()["error"] == "no_digit"
    assert stored_rows(config) == []


def test_an_answer_without_a_28x28_preview_is_502_and_nothing_stored(client, answering, config):
    answering.body = {
        "digit": 5,
        "confidence": 0.6,
        "top3": [],
        "preview": base64.b64encode(ORIGINAL).decode(),
    }
    response = client.post("/api/feedback", json={"image": B64, "label": 3})
    assert response.status_code == 502
    assert stored_rows(config) == []


def test_the_cap_refuses_with_507_and_keeps_what_is_stored(app, config, handler):
    capped = create_app(replace(config, feedback_max_stored=2))
    answer_like(app, capped)
    client = capped.test_client()
    for label in (1, 2):
        assert client.post("/api/feedback", json={"image": B64, "label": label}).status_code == 201
    full = client.post("/api/feedback", json={"image": B64, "label": 3})
    assert full.status_code == 507
    assert full.get_json()["error"] == "store_full"
    assert [row.label for row in stored_rows(config)] == [1, 2]


def test_a_burst_from_one_address_is_429_with_retry_after_and_others_still_pass(
    config, handler, app
):
    limited = create_app(replace(config, feedback_burst=3, feedback_per_minute=6))
    answer_like(app, limited)
    client = limited.test_client()
    body = {"image": B64, "label": 3}
    codes = [client.post("/api/feedback", json=body).status_code for _ in range(5)]
    assert codes == [201, 201, 201, 429, 429]
    refused = client.post("/api/feedback", json=body)
    assert refused.get_json()["error"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 10  # one token per 10 s
    other = client.post("/api/feedback", json=body, environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 201
    assert len(stored_rows(config)) == 4


def test_stored_corrections_survive_a_new_app_on_the_same_file(config, handler, app):
    assert (
        app.test_client().post("/api/feedback", json={"image": B64, "label": 4}).status_code == 201
    )
    again = create_app(config)
    answer_like(app, again)
    assert (
        again.test_client().post("/api/feedback", json={"image": B64, "label": 6}).status_code
        == 201
    )
    assert [row.label for row in stored_rows(config)] == [4, 6]


def test_a_broken_database_is_503_and_predictions_still_work(client, config, handler):
    config.feedback_db_file.mkdir()  # a folder where the file should be: SQLite cannot open it
    response = client.post("/api/feedback", json={"image": B64, "label": 3})
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert client.post("/api/predict", data=ORIGINAL, content_type="image/png").status_code == 200


def test_outcomes_are_counted_in_metrics(client, handler):
    client.post("/api/feedback", json={"image": B64, "label": 3})
    client.post("/api/feedback", json={"image": B64, "label": 11})
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'webui_feedback_total{outcome="stored"} 1.0' in metrics
    assert 'webui_feedback_total{outcome="invalid"} 1.0' in metrics
    assert 'webui_feedback_total{outcome="full"} 0.0' in metrics


def test_without_sqlite_and_without_a_database_url_corrections_are_refused(app, config, handler):
    off = create_app(replace(config, feedback_sqlite=False))
    answer_like(app, off)
    response = off.test_client().post("/api/feedback", json={"image": B64, "label": 3})
    assert response.status_code == 503
    assert response.get_json()["error"] == "feedback_off"
    assert "Retry-After" not in response.headers  # it will not come back by waiting
    assert handler.sent == []
    assert not config.feedback_db_file.exists()
