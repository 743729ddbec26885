"""A correction as sent to POST /api/feedback, checked field by field before anything else runs.

    {"image": "<base64 or data URL of the original image>", "label": 3,
     "predicted": 5, "mode": "digit" | "number", "position": 0}       (the last three optional)

The image is decoded here, not by the handler, because its bytes are what is stored: the UI then
sends those very bytes to TorchServe, so the 28×28 stored is the handler's reading of exactly the
stored original. Unknown fields are ignored and never stored.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from flask import Request

from webui.api import READ_MODES, image_type
from webui.errors import ApiError

# A data URL's header; browsers write "data:application/octet-stream;base64," for untyped blobs,
# some "data:;base64,". The type is not trusted either way: the bytes say what the image is.
DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+)?(;[\w-]+=[\w.-]+)*;base64,", re.ASCII)
WHITESPACE = re.compile(rb"\s+")
MAX_POSITION = 11  # the handler reads at most 12 digits


@dataclass(frozen=True)
class FeedbackRequest:
    image: bytes  # the original image, decoded
    content_type: str  # its media type, from its first bytes (never from what the client says)
    label: int
    predicted: int | None
    mode: str  # "digit" or "number"
    position: int | None  # mode number only: which digit of the number, from the left


def bad(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)


def read_feedback(req: Request, max_image_bytes: int) -> FeedbackRequest:
    """The checked correction, or ApiError 400 (bad JSON or fields) / 413 (image too large)."""
    if not req.is_json:
        raise bad('Send JSON like {"image": "<data URL or base64>", "label": 3}.')
    try:
        payload = req.get_json(silent=True)
    except RecursionError:
        raise bad("The JSON is nested too deeply.") from None
    if not isinstance(payload, dict):
        raise bad('Send JSON like {"image": "<data URL or base64>", "label": 3}.')
    image = _image(payload.get("image"), max_image_bytes)
    content_type = image_type(image)
    if content_type is None:
        raise ApiError(
            400,
            "unsupported_format",
            "The image is not a PNG, JPEG, GIF, BMP, WebP or TIFF file.",
        )
    mode = payload.get("mode", "digit")
    if mode not in READ_MODES:
        raise bad('"mode" is "digit" or "number".')
    position = _digit_index(payload, "position", MAX_POSITION)
    if mode == "number" and position is None:
        raise bad('"position" (which digit of the number, from 0 at the left) is needed.')
    if mode == "digit" and position not in (None, 0):
        raise bad('"position" is for mode "number" only.')
    label = _digit_index(payload, "label", 9)
    if label is None:
        raise bad('"label", the digit it really is (0 to 9), is needed.')
    return FeedbackRequest(
        image=image,
        content_type=content_type,
        label=label,
        predicted=_digit_index(payload, "predicted", 9),
        mode=mode,
        position=position if mode == "number" else None,
    )


def _image(value: Any, max_bytes: int) -> bytes:
    if not isinstance(value, str) or not value:
        raise bad('"image" is needed: the original image as base64 or a data URL.')
    if value.startswith("data:"):
        header = DATA_URL.match(value)
        if header is None:
            raise bad('"image" is a data URL without ";base64,".')
        value = value[header.end() :]
    encoded = WHITESPACE.sub(b"", value.encode("ascii", errors="replace"))
    if len(encoded) // 4 * 3 > max_bytes + 2:  # before decoding: base64 takes 4 bytes per 3
        raise _too_large(max_bytes)
    try:
        image = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise bad('"image" is not valid base64.') from None
    if len(image) > max_bytes:
        raise _too_large(max_bytes)
    if not image:
        raise ApiError(400, "no_image", "The image is empty.")
    return image


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "too_large", f"The image is too large: the limit is {max_bytes:,} bytes.")


def _digit_index(payload: dict[str, Any], name: str, largest: int) -> int | None:
    """payload[name] as an int from 0 to `largest`; None when absent or null."""
    value = payload.get(name)
    if value is None:
        return None
    # JSON true/false are Python bools, which are ints: refuse them, and 3.0 or "3" too.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= largest:
        raise bad(f'"{name}" must be a whole number from 0 to {largest}.')
    return value
