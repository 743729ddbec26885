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


# ---- requests that used to be misread: deep JSON, mislabelled raw images, cut-off uploads --------


def test_json_nested_a_thousand_deep_is_400_not_500(client, upstream):
    body = '{"image": "abc", "extra": ' + "[" * 1000 + "]" * 1000 + "}"
    response = client.post("/api/predict", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"
    assert "nested" in response.get_json()["message"]
    assert upstream == []


# The first bytes of each format the handler decodes, as a file of that format begins.
IMAGE_STARTS = {
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "gif87": b"GIF87a\x1c\x00\x1c\x00",
    "gif89": b"GIF89a\x1c\x00\x1c\x00",
    "bmp": b"BM\x36\x0c\x00\x00\x00\x00",
    "webp": b"RIFF\x24\x00\x00\x00WEBPVP8 ",
    "tiff-le": b"II*\x00\x08\x00\x00\x00",
    "tiff-be": b"MM\x00*\x00\x00\x00\x08",
}


@pytest.mark.parametrize("start", IMAGE_STARTS.values(), ids=IMAGE_STARTS.keys())
def test_image_sent_as_a_form_by_curl_data_binary_is_forwarded_as_the_image(
    client, upstream, start
):
    # `curl --data-binary @digit.png URL` says Content-Type: application/x-www-form-urlencoded.
    image = start + b"&rest=of the file=\x00\xff"  # form syntax inside must not matter
    response = client.post(
        "/api/predict", data=image, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 503  # it went on to TorchServe (absent in unit tests)
    [(method, url, sent)] = upstream
    assert (method, url.rsplit("/", 2)[-2:]) == ("POST", ["predictions", "mnist"])
    assert sent["body"] == image
    assert sent["headers"]["Content-Type"] == "application/octet-stream"


def test_a_real_form_without_a_file_is_400_and_says_how_to_send(client, upstream):
    response = client.post(
        "/api/predict", data=b"image=abc", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "no_image"
    assert "multipart" in response.get_json()["message"]
    assert upstream == []


def multipart(boundary: str, *files: tuple[str, bytes]) -> bytes:
    """A complete multipart/form-data body, as a browser or `curl -F` sends it."""
    body = b""
    for name, data in files:
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{name}.png"\r\nContent-Type: image/png\r\n\r\n'
            ).encode()
            + data
            + b"\r\n"
        )
    return body + f"--{boundary}--\r\n".encode()


PNG = IMAGE_STARTS["png"] + b"\x00" * 64
BOUNDARY = "----digit-reader-boundary"
COMPLETE = multipart(BOUNDARY, ("image", PNG), ("extra", PNG))


@pytest.mark.parametrize(
    "cut",
    [
        len(COMPLETE) - len(f"--{BOUNDARY}--\r\n"),  # all parts, no closing boundary
        len(COMPLETE) - 30,  # inside the last part's bytes
        COMPLETE.index(b"--" + BOUNDARY.encode(), 10) + 5,  # inside the second boundary
        100,  # inside the first part
    ],
    ids=["before-closing-boundary", "inside-last-part", "inside-a-boundary", "inside-first-part"],
)
def test_multipart_cut_off_before_its_closing_boundary_is_400(client, upstream, cut):
    response = client.post(
        "/api/predict",
        data=COMPLETE[:cut],
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"
    assert "cut off" in response.get_json()["message"]
    assert upstream == []


def test_complete_multipart_still_sends_its_image_field(client, upstream):
    response = client.post(
        "/api/predict", data=COMPLETE, content_type=f"multipart/form-data; boundary={BOUNDARY}"
    )
    assert response.status_code == 503  # on to TorchServe
    [(_, _, sent)] = upstream
    assert sent["body"] == PNG
