"""Stage 1, decoding: what a client sent → an upright image → grey and alpha at a working size.

Size limits are checked before any pixel is decoded; only a few well-known formats are opened.
Base64 text (plain, wrapped, or a data URL) is turned into the file's bytes here too.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from handler.limits import InputError, Limits

# Formats PIL may decode. Restricting them keeps risky plugins (EPS runs Ghostscript) unreachable.
# "JPEG" also opens MPO, the JPEG with extra frames that many phone cameras write.
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")


def decode_base64_text(text: str, limits: Limits = Limits()) -> bytes:
    """Base64 text or a `data:image/...;base64,` URL → the image file's bytes."""
    text = text.strip()
    if text.startswith("data:"):
        header, _, text = text.partition(",")
        if not header.endswith(";base64"):
            raise InputError("bad_image", 400, "Only base64 data URLs are supported.")
    text = "".join(text.split())  # `base64` wraps lines; the decoder must not see newlines
    if len(text) * 3 // 4 > limits.max_bytes:
        raise InputError(
            "too_large",
            413,
            f"The image is about {len(text) * 3 / 4e6:.1f} MB; the limit is "
            f"{limits.max_bytes / 1e6:.1f} MB.",
        )
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InputError(
            "bad_image", 400, "The image text is neither base64 nor a base64 data URL."
        ) from error


def decode_image(data: bytes, limits: Limits = Limits()) -> Image.Image:
    """Decode the first frame, upright. Sizes are checked before any pixel is decoded."""
    if len(data) > limits.max_bytes:
        raise InputError(
            "too_large",
            413,
            f"The file is {len(data) / 1e6:.1f} MB; the limit is {limits.max_bytes / 1e6:.1f} MB.",
        )
    if not data:
        raise InputError("bad_image", 400, "The request is empty; send an image file.")
    # PIL only warns between MAX_IMAGE_PIXELS and twice that; make the warning an error too.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(bytes(data)), formats=FORMATS)
            _check_pixel_count(image.size, limits)  # Image.open has read only the header
            if image.format in ("JPEG", "MPO"):
                # Let libjpeg decode big photos at 1/2, 1/4 or 1/8 scale: much faster.
                image.draft(image.mode, (limits.work_size, limits.work_size))
            image.load()
            image = ImageOps.exif_transpose(image)
        except InputError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            message = "The image has too many pixels to decode."
            raise InputError("too_large", 413, message) from error
        except UnidentifiedImageError as error:
            raise InputError(
                "unsupported_format",
                400,
                "This is not an image in a supported format (PNG, JPEG, GIF, BMP, WebP, TIFF).",
            ) from error
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError) as error:
            raise InputError(
                "bad_image", 400, f"The image file is damaged or truncated ({error})."
            ) from error
    return image


def _check_pixel_count(size: tuple[int, int], limits: Limits) -> None:
    width, height = size
    if width * height > limits.max_pixels:
        raise InputError(
            "too_large",
            413,
            f"The image is {width}×{height} pixels; the limit is "
            f"{limits.max_pixels / 1e6:.0f} megapixels.",
        )


def grey_and_alpha(
    image: Image.Image,
    limits: Limits = Limits(),
) -> tuple[np.ndarray, np.ndarray | None]:
    """Grey level and opacity as float32 arrays in [0, 1], at a working size; alpha may be None."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        # High bit depth grey: keep the precision, scale by the range the values actually use.
        values = np.asarray(image, dtype=np.float32)
        full_scale = 255.0 if values.max(initial=0) <= 255 else 65535.0
        image = Image.fromarray(np.clip(values / full_scale, 0, 1).astype(np.float32), mode="F")
    elif "transparency" in image.info or image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        image = image.convert("RGBA").convert("LA")
    else:  # 1, L, P without transparency, RGB, CMYK, YCbCr…: luma is all we need
        image = image.convert("L")
    image = _resize_for_work(image, limits)

    if image.mode == "F":
        return np.asarray(image, dtype=np.float32), None
    if image.mode == "LA":
        grey, alpha = (np.asarray(band, dtype=np.float32) / 255.0 for band in image.split())
        return grey, alpha
    return np.asarray(image, dtype=np.float32) / 255.0, None


def _resize_for_work(image: Image.Image, limits: Limits) -> Image.Image:
    """Shrink big images (area averaging, no aliasing); enlarge tiny ones (smooth bicubic)."""
    long_side = max(image.size)
    if long_side > limits.work_size:
        scale, method = limits.work_size / long_side, Image.Resampling.BOX
    elif long_side < limits.min_work_size:
        scale, method = limits.min_work_size / long_side, Image.Resampling.BICUBIC
    else:
        return image
    size = tuple(max(1, round(side * scale)) for side in image.size)
    return image.resize(size, method)
