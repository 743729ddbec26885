"""POST /api/predict and GET /api/model.

/api/predict takes an image three ways, because people send digits three ways:
- multipart form upload (any field name; `image` preferred),
- a raw image body (Content-Type image/* or application/octet-stream), as the page's canvas sends,
- JSON `{"image": "<data URL or base64>"}`, as scripts often do.

JSON is forwarded to TorchServe unchanged: the handler holds the project's one base64 decoder, so
base64 wrapped at 76 columns, plain base64 and data URLs mean the same here as at TorchServe.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Request, Response, current_app, jsonify, request

from webui.errors import ApiError
from webui.model_card import read_model_card

bp = Blueprint("api", __name__, url_prefix="/api")


@dataclass(frozen=True)
class Upload:
    body: bytes  # what TorchServe receives
    content_type: str  # how the handler reads it: image bytes, or JSON with base64


def read_upload(req: Request) -> Upload:
    """The request's image, whichever of the three ways it came, as TorchServe should get it."""
    if req.files:
        upload = req.files.get("image") or next(iter(req.files.values()))
        return _checked(Upload(upload.read(), "application/octet-stream"))
    if req.is_json:
        payload = req.get_json(silent=True)
        # One image only: the handler would answer a list for "images", which is not this API.
        if not isinstance(payload, dict) or not isinstance(payload.get("image"), str):
            raise ApiError(400, "bad_request", 'Send JSON like {"image": "<data URL or base64>"}.')
        if "images" in payload:
            raise ApiError(400, "bad_request", "Send one image per request.")
        return _checked(Upload(req.get_data(), "application/json"))
    return _checked(Upload(req.get_data(cache=False), "application/octet-stream"))


def _checked(upload: Upload) -> Upload:
    if not upload.body:
        raise ApiError(400, "no_image", "No image was sent.")
    return upload


@bp.post("/predict")
def predict():
    upload = read_upload(request)
    answer = current_app.extensions["torchserve"].predict(upload.body, upload.content_type)
    return Response(answer, mimetype="application/json")


@bp.get("/model")
def model():
    config = current_app.config["WEBUI"]
    return jsonify(read_model_card(config.model_report, config.model_name, config.model_version))
