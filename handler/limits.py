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
    max_pixels: int = 40_000_000  # declared width × height above this is refused undecoded (413)
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
