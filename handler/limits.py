"""What the preprocessing accepts: its limits and thresholds, and the refusal it raises.

Used by the decode and ink stages, the pipeline and the handler; it imports nothing, so no
import cycle can form.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Safety limits and detection thresholds; the defaults suit canvases, uploads and photos."""

    max_bytes: int = 10_000_000  # larger bodies are refused before decoding (413)
    # What one image may cost, judged from its header before any pixel is decoded: each limit
    # keeps the worst file one can build under ~0.3 s and ~300 MB of preprocessing (measured per
    # format in docs/preprocessing.md, "What an image may cost"). PNG, GIF, BMP, WebP, TIFF and
    # progressive JPEG are decoded at full size; a JPEG with one sequential scan, as cameras
    # write them, is decoded by libjpeg at 1/2 to 1/8 scale and costs far less per pixel.
    max_pixels: int = 8_300_000  # width × height decoded at full size; a 4K frame passes (413)
    max_jpeg_pixels: int = 50_000_000  # …of a one-scan JPEG; 8160×6120 photos pass (413)
    max_jpeg_scans: int = 64  # each scan is a pass over the whole image; encoders write 1-18 (413)
    # PNG chunks, JPEG segments before the scans, GIF sub-blocks before the image: PIL parses each
    # in Python. Files hold tens; a PNG written one data chunk per row, as many as it has rows.
    max_blocks: int = 16_384  # more are refused before PIL opens the file (413)
    max_side: int = 10_000  # longest side in pixels, any format (413)
    # Long side / short side: a row of digits is 5:1 (1400×280) to 10:1 (280×28); 20:1 leaves
    # room for longer numbers, and no digit fits in a strip 1 pixel high (400).
    max_aspect: float = 20.0  # longer images are refused undecoded (400)
    work_size: int = 640  # long side the image is shrunk to before analysis (speed)
    min_work_size: int = 64  # long side tiny images are enlarged to, so filters have room
    min_contrast: float = 0.12  # ink must differ from the paper by this much of the full range
    min_snr: float = 6.0  # …and by this many times the image's noise level
    speck_fraction: float = 0.05  # blobs under this fraction of the largest blob are speckle
    min_digit_extent: float = 0.04  # ink spanning less of the image's long side is a speck
    min_stroke: float = 2.5  # strokes thinner than this (px of the 20×20 box) are widened; 0: off


class InputError(Exception):
    """An input the service refuses, with the HTTP status and a message for a person."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message)
        self.code = code  # no_digit, bad_image, unsupported_format or too_large
        self.status = status  # 422, 400, 400, 413
        self.message = message
