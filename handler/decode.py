"""Stage 1, decoding: what a client sent → upright grey (and alpha) pixels at a working size.

Size limits are checked before any pixel is decoded; only a few well-known formats are opened.
PIL reads every header; handler.png decodes canvas-style PNGs, OpenCV the pixels of other PNG and
JPEG files (several times faster than PIL, and big JPEGs at 1/2, 1/4 or 1/8 scale); PIL decodes
what OpenCV cannot do safely.
Base64 text (plain, wrapped, or a data URL) is turned into the file's bytes here too.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import cv2
import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from handler.limits import InputError, Limits
from handler.png import decode_png

# Formats PIL may decode. Restricting them keeps risky plugins (EPS runs Ghostscript) unreachable.
# "JPEG" also opens MPO, the JPEG with extra frames that many phone cameras write.
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")

# PNG chunks that make a file PIL's to decode: text and eXIf chunks may carry an EXIF or XMP
# orientation, even after the pixels, where only decoding them finds it (PIL reads it then);
# acTL makes an animation, whose first frame PIL picks as before.
PIL_ONLY_PNG_CHUNKS = (b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"acTL")

# Frames libjpeg decodes at 1/2, 1/4 or 1/8 scale when they hold one scan: sequential DCT
# (baseline, extended, arithmetic-coded). Progressive and lossless ones need full-size buffers.
JPEG_SEQUENTIAL = (0xC0, 0xC1, 0xC9)
JPEG_START = b"\xff\xd8\xff"  # what PIL looks for to open a file as JPEG (or MPO)

# libjpeg decodes the luma alone, at full size or reduced 2, 4 or 8 times in each direction.
JPEG_LUMA = {
    1: cv2.IMREAD_GRAYSCALE,
    2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
    4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
    8: cv2.IMREAD_REDUCED_GRAYSCALE_8,
}

# How PIL's exif_transpose turns each EXIF orientation upright, as numpy does it on (rows, columns).
UPRIGHT = {
    2: lambda a: a[:, ::-1],  # FLIP_LEFT_RIGHT
    3: lambda a: a[::-1, ::-1],  # ROTATE_180
    4: lambda a: a[::-1],  # FLIP_TOP_BOTTOM
    5: lambda a: a.swapaxes(0, 1),  # TRANSPOSE
    6: lambda a: np.rot90(a, -1),  # ROTATE_270 (counter-clockwise): a quarter turn clockwise
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),  # TRANSVERSE
    8: lambda a: np.rot90(a),  # ROTATE_90 (counter-clockwise)
}


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


Pixels = tuple[np.ndarray, np.ndarray | None]  # uint8 grey and alpha (None: opaque)
Size = tuple[int, int]  # width, height


def decode_image(data: bytes, limits: Limits = Limits()) -> Pixels:
    """Grey and alpha (None when opaque) of the first frame, upright, as uint8 arrays.

    Sizes are checked before any pixel is decoded (open_image).
    """
    return decode_image_and_size(data, limits)[0]


def decode_image_and_size(data: bytes, limits: Limits = Limits()) -> tuple[Pixels, Size]:
    """decode_image, and the upright image's (width, height) as sent.

    The pixels may be smaller (a big JPEG decoded at 1/2 to 1/8 scale): the size maps positions
    found in them back onto the image as sent.
    """
    image, jpeg = _open(data, limits)
    with _refusals():
        pixels = _decode_with_opencv(data, image, jpeg, limits)
        pixels = pixels if pixels is not None else _decode_with_pil(image, limits)
    width, height = image.size
    rows, columns = pixels[0].shape
    # Turned a quarter by its orientation: the header's sides are swapped (the nearer aspect).
    if abs(np.log(columns * height / (rows * width))) > abs(
        np.log(columns * width / (rows * height))
    ):
        width, height = height, width
    return pixels, (width, height)


def open_image(data: bytes, limits: Limits = Limits()) -> Image.Image:
    """The image with only its header read, once everything that needs no pixel is checked:
    bytes, format, size, shape and, for a JPEG, how it is encoded. Raises InputError."""
    return _open(data, limits)[0]


def _open(data: bytes, limits: Limits) -> tuple[Image.Image, JpegLayout | None]:
    """open_image, and a JPEG's layout (None for other files), walked once for every check."""
    if len(data) > limits.max_bytes:
        raise InputError(
            "too_large",
            413,
            f"The file is {len(data) / 1e6:.1f} MB; the limit is {limits.max_bytes / 1e6:.1f} MB.",
        )
    if not data:
        raise InputError("bad_image", 400, "The request is empty; send an image file.")
    jpeg = _jpeg_frame(data, limits.max_blocks) if data.startswith(JPEG_START) else None
    blocks = jpeg.blocks if jpeg else _header_blocks(data, limits.max_blocks)
    if blocks > limits.max_blocks:  # before PIL, which would parse them one by one
        raise InputError(
            "too_large",
            413,
            f"The file holds over {limits.max_blocks} chunks, segments or blocks of metadata; "
            "no image needs that many.",
        )
    with _refusals():
        image = Image.open(io.BytesIO(bytes(data)), formats=FORMATS)
    _check_size(image, jpeg, limits)
    return image, jpeg


def declared_pixels(data: bytes, limits: Limits = Limits()) -> int:
    """Width × height from the header, for a budget over several images; 0 for a file that is
    refused on its own anyway (its error is answered in its place)."""
    try:
        width, height = open_image(data, limits).size
    except InputError:
        return 0
    return width * height


@contextmanager
def _refusals() -> Iterator[None]:
    """PIL's and OpenCV's refusals as InputErrors, with the HTTP status each deserves."""
    # PIL only warns between MAX_IMAGE_PIXELS and twice that; make the warning an error too.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
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


def _check_size(image: Image.Image, jpeg: JpegLayout | None, limits: Limits) -> None:
    """What decoding would cost, judged from the header: pixels, longest side, aspect ratio."""
    width, height = image.size
    limit, kind = limits.max_pixels, f"{image.format} images"
    if jpeg is not None:  # PIL opens as JPEG (or MPO) exactly the files starting JPEG_START
        frame, scans, _, _ = jpeg
        if scans > limits.max_jpeg_scans:
            raise InputError(
                "too_large",
                413,
                f"The JPEG has {scans} scans, each a pass over the whole image; the limit is "
                f"{limits.max_jpeg_scans}.",
            )
        if frame in JPEG_SEQUENTIAL and scans == 1:
            limit, kind = limits.max_jpeg_pixels, "JPEG photos"
        else:
            kind = "progressive, multi-scan or lossless JPEGs (decoded at full size)"
    if width * height > limit:
        raise InputError(
            "too_large",
            413,
            f"The image is {width}×{height} pixels ({width * height / 1e6:.1f} megapixels); "
            f"the limit for {kind} is {limit / 1e6:g} megapixels.",
        )
    if max(width, height) > limits.max_side:
        raise InputError(
            "too_large",
            413,
            f"The image is {width}×{height} pixels; its longest side may be at most "
            f"{limits.max_side} pixels.",
        )
    if max(width, height) > limits.max_aspect * min(width, height):
        raise InputError(
            "bad_image",
            400,
            f"The image is {width}×{height} pixels, a strip too long to hold a digit; the long "
            f"side may be at most {limits.max_aspect:g} times the short one.",
        )


def _header_blocks(data: bytes, cap: int) -> int:
    """How many pieces PIL's Python code would parse one by one to open the file: the chunks of
    a PNG (and those after its pixels, read at the end of decoding), the sub-blocks before a GIF's
    first image (a JPEG's segments are counted by _jpeg_frame). A 4 MB file of empty
    ones took PIL 0.4 to 1.6 s to open; real files hold tens. Counting stops past `cap`."""
    count = 0
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        position = 8
        while position + 8 <= len(data) and count <= cap:
            count += 1
            if data[position + 4 : position + 8] == b"IEND":
                break
            position += 12 + int.from_bytes(data[position : position + 4], "big")
    elif data[:6] in (b"GIF87a", b"GIF89a") and len(data) > 10:
        flags = data[10]  # of the logical screen: is a global colour table there, how big
        position = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
        while position + 1 < len(data) and data[position] == 0x21 and count <= cap:
            position += 2  # extension introducer and label, then sub-blocks up to an empty one
            while position < len(data) and data[position] and count <= cap:
                count += 1
                position += 1 + data[position]
            position += 1
    return count


class JpegLayout(NamedTuple):
    frame: int  # the first image's frame marker (SOFn), 0 if none
    scans: int  # how many scans it has
    blocks: int  # segments and fill bytes before the first scan
    complete: bool  # its scan data ends with an end-of-image marker


def _jpeg_frame(data: bytes, cap: int) -> JpegLayout:
    """The first image's layout (JpegLayout); the walk stops once the blocks pass `cap`.

    The segments before the first scan are skipped by their lengths (an EXIF thumbnail is a JPEG
    with scans of its own); from there, every start-of-scan marker up to the end-of-image marker
    counts: entropy-coded data never holds either (0xFF is followed by 0x00 or a restart marker).
    """
    frame, position, blocks = 0, 2, 0  # after the start-of-image marker
    while position + 4 <= len(data) and blocks <= cap:
        blocks += 1
        if data[position] != 0xFF or data[position + 1] == 0xFF:  # junk or fill bytes
            position += 1
            continue
        marker = data[position + 1]
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:  # markers without a length
            position += 2
            continue
        end = position + 2 + int.from_bytes(data[position + 2 : position + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and not frame:
            frame = marker
        if marker == 0xDA:
            stop = data.find(b"\xff\xd9", end)
            scans = 1 + data.count(b"\xff\xda", end, len(data) if stop == -1 else stop)
            # libjpeg in OpenCV fills a truncated JPEG's missing rows with grey; PIL refuses it.
            return JpegLayout(frame, scans, blocks, complete=stop != -1)
        position = end
    return JpegLayout(frame, 0, blocks, complete=False)


def _decode_with_opencv(
    data: bytes, image: Image.Image, jpeg: JpegLayout | None, limits: Limits
) -> Pixels | None:
    """PNG and JPEG pixels by OpenCV; None where PIL must decode them (and judge any damage)."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    if image.format == "PNG" and _opencv_may_decode_png(data, image):
        fast = decode_png(data)  # canvas exports, ten times quicker; None for anything else
        if fast is not None:
            return fast
        pixels = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)  # which never turns by orientation
        return None if pixels is None else _grey_and_alpha(pixels)
    if jpeg is not None and jpeg.complete and image.mode in ("L", "RGB"):
        flags = JPEG_LUMA[_jpeg_reduction(image.size, limits)] | cv2.IMREAD_IGNORE_ORIENTATION
        grey = cv2.imdecode(buffer, flags)
        return None if grey is None else (_upright(grey, image), None)
    return None


def _opencv_may_decode_png(data: bytes, image: Image.Image) -> bool:
    """No transparent colour (a palette's transparency becomes PIL's alpha as before), and no
    chunk that may carry an orientation or make an animation (PIL_ONLY_PNG_CHUNKS)."""
    return "transparency" not in image.info and not any(c in data for c in PIL_ONLY_PNG_CHUNKS)


def _jpeg_reduction(size: tuple[int, int], limits: Limits) -> int:
    """1, 2, 4 or 8: the reduction that brings the long side nearest work_size (0.7 to 1.4 times
    it), so that a phone photo rarely needs shrinking after libjpeg has decoded it."""
    reduction = 1
    while reduction < 8 and max(size) / (2 * reduction) >= limits.work_size / 2**0.5:
        reduction *= 2
    return reduction


def _upright(grey: np.ndarray, image: Image.Image) -> np.ndarray:
    """Turned by the orientation that PIL's exif_transpose would read (EXIF or XMP)."""
    turn = UPRIGHT.get(image.getexif().get(ExifTags.Base.Orientation, 1))
    return grey if turn is None else np.ascontiguousarray(turn(grey))


def _grey_and_alpha(pixels: np.ndarray) -> Pixels:
    """OpenCV's PNG pixels (grey, BGR or BGRA; 8 or 16 bits) → grey and alpha as PIL gives them."""
    if pixels.ndim == 2:
        return (pixels if pixels.dtype == np.uint8 else _to_8_bits(pixels)), None
    if pixels.dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)  # PIL keeps the high byte of 16-bit colour
    if pixels.shape[2] == 4:
        return cv2.cvtColor(pixels, cv2.COLOR_BGRA2GRAY), np.ascontiguousarray(pixels[..., 3])
    return cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY), None


def _to_8_bits(values: np.ndarray) -> np.ndarray:
    """High-bit-depth grey → uint8, scaled by the range the values actually use (8 or 16 bits)."""
    full_scale = 255.0 if values.max(initial=0) <= 255 else 65535.0
    return np.round(np.clip(values * (255.0 / full_scale), 0, 255)).astype(np.uint8)


def _decode_with_pil(image: Image.Image, limits: Limits) -> Pixels:
    """Any allowed format and mode, decoded, turned upright and reduced to grey (and alpha)."""
    if image.format in ("JPEG", "MPO"):
        # Let libjpeg decode big photos at 1/2, 1/4 or 1/8 scale: much faster.
        image.draft(image.mode, (limits.work_size, limits.work_size))
    image.load()
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _to_8_bits(np.asarray(image, dtype=np.float32)), None
    if "transparency" in image.info or image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        grey, alpha = image.convert("RGBA").convert("LA").split()
        return np.asarray(grey), np.asarray(alpha)
    return np.asarray(image.convert("L")), None  # 1, P, RGB, CMYK, YCbCr…: luma is all we need


def to_work_size(pixels: Pixels, limits: Limits = Limits()) -> Pixels:
    """Shrink big images (box averaging, no aliasing); enlarge tiny ones (smooth bicubic).

    PIL's resampling, as before: its box is faster than cv2.INTER_AREA at factors under 2, and
    cv2's bicubic (a = −0.75, sharper, more overshoot) moved MNIST digits sent as 28 px PNGs.
    """
    grey, alpha = pixels
    long_side = max(grey.shape)
    if long_side > limits.work_size:
        scale, method = limits.work_size / long_side, Image.Resampling.BOX
    elif long_side < limits.min_work_size:
        scale, method = limits.min_work_size / long_side, Image.Resampling.BICUBIC
    else:
        return pixels
    size = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))
    alpha = None if alpha is None else _resized(alpha, size, method)
    return _resized(grey, size, method), alpha


def _resized(plane: np.ndarray, size: tuple[int, int], method: Image.Resampling) -> np.ndarray:
    return np.asarray(Image.fromarray(plane).resize(size, method))
