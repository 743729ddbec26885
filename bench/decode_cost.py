"""What the costliest files one can build cost to preprocess, per format, at the handler's limits.

    python -m bench.decode_cost                       # at the shipped limits (a few minutes)
    python -m bench.decode_cost --width 4000 --height 2500 --runs 5

Each file is all one colour, so it stays tiny however many pixels it declares (a 8 MP 16-bit
PNG is 65 KB), in the variant of its format that decodes slowest or into the most memory:
16-bit, alpha, interlacing, an orientation to apply, a transparent palette colour, many scans.
Each is preprocessed (bytes in, 28×28 digit or refusal out, as the handler does) in a fresh
process: time is the fastest and the median of `runs`, memory the peak resident set above what
the process held before (the kernel's high-water mark, reset before each run). The last column
says whether the shipped limits (handler.limits.Limits) let the file be decoded at all.
Full-size formats are built at width × height, JPEGs with one sequential scan (camera photos,
decoded at 1/2-1/8 scale) at jpeg_width × jpeg_height. Timings on a shared machine vary by
tens of percent: compare medians of repeated runs.
"""

from __future__ import annotations

import io
import multiprocessing
import statistics
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from handler.decode import open_image
from handler.limits import InputError, Limits
from handler.preprocess import preprocess
from tools.cli import parse_config

# The seven passes of an interlaced PNG: first column, first row, column step, row step.
ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # PNG colour type → samples per pixel


@dataclass
class Config:
    width: int = 3840  # full-size formats: a 4K frame, at the max_pixels limit
    height: int = 2160  # …
    jpeg_width: int = 8160  # one-scan JPEGs: a 50 MP phone photo, at the max_jpeg_pixels limit
    jpeg_height: int = 6120  # …
    scans: int = 64  # scans of the progressive JPEGs (max_jpeg_scans)
    runs: int = 3  # timed runs per file, each in the same fresh process
    only: str = ""  # only the files whose name contains this (empty: all)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(
    width: int, height: int, depth: int, colour: int, interlaced: bool = False, extra: bytes = b""
) -> bytes:
    """A PNG of zeros, streamed through zlib: no image of that size is ever held in memory."""
    bits = depth * CHANNELS[colour]
    compressor, parts = zlib.compressobj(9), []
    for x0, y0, dx, dy in ADAM7 if interlaced else ((0, 0, 1, 1),):
        columns, rows = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if columns <= 0 or rows <= 0:
            continue
        row = bytes(1 + (columns * bits + 7) // 8)  # filter byte, then the samples
        per_block = max(1, (1 << 22) // len(row))
        for start in range(0, rows, per_block):
            parts.append(compressor.compress(row * min(per_block, rows - start)))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, int(interlaced))
    palette = _chunk(b"PLTE", bytes(range(256)) * 3) if colour == 3 else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + palette
        + extra
        + _chunk(b"IDAT", b"".join(parts))
        + _chunk(b"IEND", b"")
    )


def _exif_orientation_6() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # display turned a quarter: the whole image is transposed after decoding
    return exif.tobytes()


def saved(mode: str, size: tuple[int, int], fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def bmp_rle8(width: int, height: int) -> bytes:
    """An 8-bit BMP run-length encoded: two bytes per 255 pixels (PIL decodes RLE in Python)."""
    row = bytes([255, 0]) * (width // 255) + (bytes([width % 255, 0]) if width % 255 else b"")
    data = (row + b"\0\0") * height + b"\0\1"  # end of each line, then end of bitmap
    palette = b"".join(bytes([i, i, i, 0]) for i in range(256))
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(data), 2835, 2835, 256, 0)
    offset = 14 + len(info) + len(palette)
    return b"BM" + struct.pack("<IHHI", offset + len(data), 0, 0, offset) + info + palette + data


def _jpeg_scans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each scan of a JPEG that PIL wrote: header, then its entropy-coded data."""
    scans, position = [], 2
    while data[position + 1] != 0xD9:
        end = position + 2 + int.from_bytes(data[position + 2 : position + 4], "big")
        if data[position + 1] == 0xDA:
            while data[end] != 0xFF or data[end + 1] == 0 or 0xD0 <= data[end + 1] <= 0xD7:
                end += 1
            scans.append((position, end))
        position = end
    return scans


def progressive_jpeg(mode: str, size: tuple[int, int], scans: int) -> bytes:
    """A progressive JPEG padded to `scans` scans with copies of its smallest one: each is a pass
    over the whole image for libjpeg (it warns about the odd progression and goes on)."""
    data = saved(mode, size, "JPEG", quality=95, progressive=True, subsampling=0)
    found = _jpeg_scans(data)
    start, end = min(found, key=lambda scan: scan[1] - scan[0])
    last = found[-1][1]
    return data[:last] + data[start:end] * max(0, scans - len(found)) + data[last:]


def noise_jpeg(size: tuple[int, int], max_bytes: int = 5_000_000) -> bytes:
    """A JPEG dense with entropy-coded data, just under the handler's byte limit (5 MB)."""
    width, height = size
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    image = Image.fromarray(noise).resize(size, Image.Resampling.NEAREST)
    for quality in (90, 75, 50, 25, 10):
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality, subsampling=0)
        if buffer.tell() <= max_bytes:
            break
    return buffer.getvalue()


def files(config: Config) -> dict[str, Callable[[], bytes]]:
    """Name → how to build it; built one at a time (some take a few seconds)."""
    size, photo = (config.width, config.height), (config.jpeg_width, config.jpeg_height)
    orientation = _exif_orientation_6()
    exif_chunk = _chunk(b"eXIf", orientation.removeprefix(b"Exif\0\0"))  # PNG: no prefix
    text = _chunk(b"tEXt", b"Comment\0x")
    transparent = _chunk(b"tRNS", b"\0")
    deflate = {"compression": "tiff_adobe_deflate"}
    return {
        "PNG 16-bit grey (OpenCV)": lambda: png(*size, 16, 0),
        "PNG 16-bit grey, text (PIL)": lambda: png(*size, 16, 0, extra=text),
        "PNG 16-bit RGBA (OpenCV)": lambda: png(*size, 16, 6),
        "PNG 16-bit RGBA interlaced (OpenCV)": lambda: png(*size, 16, 6, interlaced=True),
        "PNG 16-bit RGBA, orientation (PIL)": lambda: png(*size, 16, 6, extra=exif_chunk),
        "PNG palette, transparent colour (PIL)": lambda: png(*size, 8, 3, extra=transparent),
        "PNG 8-bit RGB screenshot (OpenCV)": lambda: png(*size, 8, 2),
        "WebP lossless RGBA": lambda: saved("RGBA", size, "WEBP", lossless=True),
        "WebP lossy RGBA, orientation": lambda: saved("RGBA", size, "WEBP", exif=orientation),
        "TIFF float, orientation": lambda: saved("F", size, "TIFF", exif=orientation, **deflate),
        "TIFF 32-bit integer": lambda: saved("I", size, "TIFF", **deflate),
        "TIFF RGBA, orientation": lambda: saved("RGBA", size, "TIFF", exif=orientation, **deflate),
        "TIFF CMYK": lambda: saved("CMYK", size, "TIFF", **deflate),
        "GIF, transparent colour": lambda: saved("P", size, "GIF", transparency=0),
        "BMP 8-bit run-length": lambda: bmp_rle8(*size),
        "BMP 1-bit": lambda: saved("1", size, "BMP"),
        f"JPEG progressive RGB 4:4:4, {config.scans} scans": lambda: progressive_jpeg(
            "RGB", size, config.scans
        ),
        f"JPEG progressive CMYK, {config.scans} scans": lambda: progressive_jpeg(
            "CMYK", size, config.scans
        ),
        "JPEG photo RGB 4:4:4, orientation": lambda: saved(
            "RGB", photo, "JPEG", quality=95, subsampling=0, exif=orientation
        ),
        "JPEG photo CMYK (PIL)": lambda: saved("CMYK", photo, "JPEG", quality=95),
        "JPEG photo, 5 MB of noise": lambda: noise_jpeg(photo),
    }


def _kibibytes(key: str) -> float:
    """A /proc/self/status figure (VmRSS, VmHWM) in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(key)


def measure(data: bytes, runs: int) -> tuple[list[float], float, str]:
    """In this process: seconds per run, peak MB above the resident set before, the outcome."""
    unlimited = Limits(
        max_bytes=10**10,
        max_pixels=10**10,
        max_jpeg_pixels=10**10,
        max_jpeg_scans=10**6,
        max_side=10**6,
        max_aspect=10.0**6,
    )
    seconds, peak, outcome = [], 0.0, "digit"
    for _ in range(runs):
        Path("/proc/self/clear_refs").write_text("5")  # resets the high-water mark (VmHWM)
        before = _kibibytes("VmRSS")
        started = time.perf_counter()
        try:
            preprocess(data, unlimited)
        except InputError as error:
            outcome = error.code
        seconds.append(time.perf_counter() - started)
        peak = max(peak, _kibibytes("VmHWM") - before)
    return seconds, peak, outcome


def shipped_limits_verdict(data: bytes) -> str:
    try:
        open_image(data, Limits())
    except InputError as error:
        return f"refused ({error.status})"
    return "decoded"


def main(argv: list[str] | None = None) -> int:
    config = parse_config(Config, argv)
    context = multiprocessing.get_context("spawn")  # a fresh process: a clean memory baseline
    print(
        f"{'file':44} {'size':>11} {'KB':>7} {'fastest s':>9} {'median s':>8} {'peak MB':>7}"
        "  outcome, shipped limits"
    )
    for name, build in files(config).items():
        if config.only not in name:
            continue
        data = build()
        width, height = Image.open(io.BytesIO(data)).size
        with context.Pool(1) as pool:
            seconds, peak, outcome = pool.apply(measure, (data, config.runs))
        print(
            f"{name:44} {f'{width}×{height}':>11} {len(data) / 1e3:7.1f} {min(seconds):9.3f} "
            f"{statistics.median(seconds):8.3f} {peak:7.0f}  {outcome}, "
            f"{shipped_limits_verdict(data)}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
