"""POST /api/predict and GET /api/model.

/api/predict takes an image three ways, because people send digits three ways:
- multipart form upload (any field name; `image` preferred),
- a raw image body (Content-Type image/* or application/octet-stream), as the page's canvas sends,
- JSON `{"image": "<data URL or base64>"}`, as scripts often do.

JSON is forwarded to TorchServe unchanged: the handler holds the project's one base64 decoder, so
base64 wrapped at 76 columns, plain base64 and data URLs mean the same here as at TorchServe.

Reading a whole number is asked for the same three ways (JSON `"read": "number"`, form field
`read=number`, header `X-Read: number`) and always reaches TorchServe as the `X-Read` header, the
one form the handler reads whatever the body is; the answer passes through unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Request, Response, current_app, jsonify, request

from webui.errors import ApiError
from webui.model_card import read_model_card

bp = Blueprint("api", __name__, url_prefix="/api")


READ_MODES = ("digit", "number")  # what the handler reads: one digit (the default) or a number


@dataclass(frozen=True)
class Upload:
    body: bytes  # what TorchServe receives
    content_type: str  # how the handler reads it: image bytes, or JSON with base64
    read: str = "digit"  # one of READ_MODES, asked in the body (JSON field or form field)


IMAGE_BYTES = "application/octet-stream"
FORM = "application/x-www-form-urlencoded"
# How files of the formats the handler decodes begin (WebP: "RIFF", 4 bytes of size, "WEBP").
IMAGE_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
    b"BM": "image/bmp",
    b"II*\x00": "image/tiff",  # little-endian
    b"MM\x00*": "image/tiff",  # big-endian
}


def image_type(data: bytes) -> str | None:
    """The media type of a PNG, JPEG, GIF, BMP, WebP or TIFF file, from how it begins; else None."""
    for signature, media_type in IMAGE_SIGNATURES.items():
        if data.startswith(signature):
            return media_type
    return "image/webp" if data[:4] == b"RIFF" and data[8:12] == b"WEBP" else None


def looks_like_image(data: bytes) -> bool:
    """Whether `data` begins like a PNG, JPEG, GIF, BMP, WebP or TIFF file."""
    return image_type(data) is not None


def read_upload(req: Request) -> Upload:
    """The request's image, whichever of the three ways it came, as TorchServe should get it."""
    if req.mimetype == "multipart/form-data":
        return _checked(_multipart_upload(req))
    if req.mimetype == FORM:
        # `curl --data-binary @digit.png` without -H "Content-Type: …" labels the file a form.
        # Read before any form parsing, which would swallow the bytes.
        body = req.get_data(cache=False)
        if looks_like_image(body):
            return Upload(body, IMAGE_BYTES)
        raise ApiError(
            400,
            "no_image",
            "No image was sent: the body is a form without a file. Send the image as a file "
            "(multipart), as raw bytes with its Content-Type, or as JSON.",
        )
    if req.is_json:
        try:
            payload = req.get_json(silent=True)
        except RecursionError:  # Python's parser recurses once per level of nesting
            raise ApiError(400, "bad_request", "The JSON is nested too deeply.") from None
        # One image only: the handler would answer a list for "images", which is not this API.
        if not isinstance(payload, dict) or not isinstance(payload.get("image"), str):
            raise ApiError(400, "bad_request", 'Send JSON like {"image": "<data URL or base64>"}.')
        if "images" in payload:
            raise ApiError(400, "bad_request", "Send one image per request.")
        return _checked(Upload(req.get_data(), "application/json", payload.get("read", "digit")))
    return _checked(Upload(req.get_data(cache=False), IMAGE_BYTES))


def _multipart_upload(req: Request) -> Upload:
    # Werkzeug reads a body cut off before its closing boundary as a form without files; say
    # what happened instead of "no image". The body is kept (it is at most max_upload_bytes)
    # and the form is parsed from it.
    body = req.get_data(parse_form_data=False)
    boundary = req.mimetype_params.get("boundary", "").encode("latin-1")
    if not boundary or b"--" + boundary + b"--" not in body:
        raise ApiError(
            400, "bad_request", "The upload was cut off before its end: please send it again."
        )
    if not req.files:
        return Upload(b"", IMAGE_BYTES)
    upload = req.files.get("image") or next(iter(req.files.values()))
    return Upload(upload.read(), IMAGE_BYTES, req.form.get("read", "digit"))


def _checked(upload: Upload) -> Upload:
    if not upload.body:
        raise ApiError(400, "no_image", "No image was sent.")
    return upload


def read_mode(asked: object) -> str:
    """`asked` as one of READ_MODES (any case), or 400."""
    mode = asked.lower() if isinstance(asked, str) else asked
    if mode not in READ_MODES:
        raise ApiError(400, "bad_request", 'The read option is "digit" (the default) or "number".')
    return mode


@bp.post("/predict")
def predict():
    upload = read_upload(request)
    # The header wins over the body, as at TorchServe's handler.
    mode = read_mode(request.headers.get("X-Read") or upload.read)
    answer = current_app.extensions["torchserve"].predict(upload.body, upload.content_type, mode)
    return Response(answer, mimetype="application/json")


@bp.get("/model")
def model():
    config = current_app.config["WEBUI"]
    return jsonify(read_model_card(config.model_report, config.model_name, config.model_version))
