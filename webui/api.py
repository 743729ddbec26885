"""POST /api/predict and GET /api/model.

/api/predict takes an image three ways, because people send digits three ways:
- multipart form upload (any field name; `image` preferred),
- a raw image body (Content-Type image/* or application/octet-stream), as the page's canvas sends,
- JSON `{"image": "<data URL or base64>"}`, as scripts often do.
"""

from __future__ import annotations

import base64
import binascii

from flask import Blueprint, Request, current_app, jsonify, request

from webui.errors import ApiError
from webui.model_card import read_model_card

bp = Blueprint("api", __name__, url_prefix="/api")


def _decode_base64_image(text: str) -> bytes:
    # A data URL is "data:image/png;base64,<payload>"; plain base64 is accepted too.
    if text.startswith("data:"):
        header, _, text = text.partition(",")
        if ";base64" not in header:
            raise ApiError(400, "bad_image", "Only base64 data URLs are accepted.")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "bad_image", "The image is not valid base64.") from None


def read_image(req: Request) -> bytes:
    """The image bytes of a request, whichever of the three ways it came."""
    if req.files:
        upload = req.files.get("image") or next(iter(req.files.values()))
        data = upload.read()
    elif req.is_json:
        payload = req.get_json(silent=True)
        if not isinstance(payload, dict) or not isinstance(payload.get("image"), str):
            raise ApiError(400, "bad_request", 'Send JSON like {"image": "<data URL or base64>"}.')
        data = _decode_base64_image(payload["image"].strip())
    else:
        data = req.get_data(cache=False)
    if not data:
        raise ApiError(400, "no_image", "No image was sent.")
    return data


@bp.post("/predict")
def predict():
    image = read_image(request)
    return jsonify(current_app.extensions["torchserve"].predict(image))


@bp.get("/model")
def model():
    config = current_app.config["WEBUI"]
    return jsonify(read_model_card(config.model_report, config.model_name, config.model_version))
