"""handler.normalize: pixel scaling, the 20×20 box, centre of mass, stroke widening, no imports."""

from __future__ import annotations

import ast

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from handler.limits import Limits
from handler.normalize import CENTRE, DIGIT_BOX, PAIR_FIELD, normalize_pair, scale_pixels
from handler.preprocess import preprocess
from tests.unit.handler.digit_images import (
    centre_of_mass,
    dark_on_light,
    encode,
    seven_coverage,
    similarity,
)
from tools.paths import REPO_ROOT


def handler_imports(path) -> list[str]:
    """The modules of the handler package that a source file imports (relative imports too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append("." * node.level + (node.module or ""))
    return [name for name in found if name.split(".")[0] in ("handler", "")]


def test_normalize_imports_nothing_from_the_handler_package() -> None:
    """training/ imports this one module from the handler; it must not pull in the others."""
    assert handler_imports(REPO_ROOT / "handler" / "normalize.py") == []


# ---- scale_pixels ------------------------------------------------------------------------------


def test_scale_pixels_numpy_and_torch_agree() -> None:
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    from_numpy = scale_pixels(pixels)
    from_torch = scale_pixels(torch.from_numpy(pixels))
    assert from_numpy.dtype == np.float32 and from_torch.dtype == torch.float32
    np.testing.assert_allclose(from_numpy, from_torch.numpy(), atol=1e-6)
    np.testing.assert_allclose(from_numpy[0, 0], -0.1307 / 0.3081, atol=1e-6)
    np.testing.assert_allclose(scale_pixels(pixels.astype(np.float64)), from_numpy, atol=1e-6)


# ---- size, position and MNIST geometry ---------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "scale", "at"),
    [
        (280, 1.0, (0.5, 0.5)),  # the usual canvas
        (900, 0.2, (0.15, 0.2)),  # small, in the top-left corner of a big canvas
        (600, 0.35, (0.8, 0.75)),  # bottom-right
        (1200, 1.2, (0.5, 0.5)),  # filling a big image
        (14, 1.0, (0.5, 0.5)),  # a tiny upload: enlarged
    ],
)
def test_digit_is_fitted_into_20x20_and_centred_by_mass(
    size: int, scale: float, at: tuple[float, float], reference: np.ndarray
) -> None:
    digit = preprocess(encode(dark_on_light(seven_coverage(size, scale, at))))
    rows, cols = np.nonzero(digit)
    height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    assert max(height, width) in (DIGIT_BOX - 1, DIGIT_BOX) and min(height, width) <= DIGIT_BOX
    row, col = centre_of_mass(digit)
    assert abs(row - CENTRE) <= 1.0 and abs(col - CENTRE) <= 1.0
    assert similarity(digit, reference) > (0.7 if size < 28 else 0.95)  # 14 px: a jagged 7


def test_fine_pen_strokes_are_widened_and_marker_strokes_left_alone(reference: np.ndarray) -> None:
    fine_pen = Image.new("L", (600, 600), 255)
    ImageDraw.Draw(fine_pen).line([(200, 150), (400, 150), (260, 450)], fill=0, width=2)
    widened = preprocess(encode(fine_pen))
    as_drawn = preprocess(encode(fine_pen), Limits(min_stroke=0))
    assert widened.sum() > 1.5 * as_drawn.sum()
    assert similarity(widened, reference) > 0.9
    marker = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(marker).line([(90, 60), (190, 60), (120, 220)], fill=0, width=40)
    data = encode(marker)
    np.testing.assert_array_equal(preprocess(data), preprocess(data, Limits(min_stroke=0)))


def pair_ink(width: int, stroke: int) -> np.ndarray:
    """Two upright bars joined at the bottom, 200 px high and `width` wide, as an ink map."""
    ink = np.zeros((260, width + 60), dtype=np.float32)
    ink[30:230, 30 : 30 + stroke] = 1.0
    ink[30:230, 30 + width - stroke : 30 + width] = 1.0
    ink[230 - stroke : 230, 30 : 30 + width] = 1.0
    return ink


@pytest.mark.parametrize("width", [150, 300, 700])
def test_a_pair_keeps_a_digits_height_in_a_field_twice_as_wide(width: int) -> None:
    """Height fitted to 20 rows while the width fits 48 columns (a very wide piece: width 48),
    centre of mass at the field's centre."""
    pair = normalize_pair(pair_ink(width, 24), min_stroke=0)
    assert pair.shape == PAIR_FIELD and pair.dtype == np.uint8
    rows, columns = np.nonzero(pair)
    height, fitted = rows.max() - rows.min() + 1, columns.max() - columns.min() + 1
    if width * 20 / 200 <= 48:
        assert height in (19, 20, 21) and abs(fitted - width * 20 / 200) <= 2
    else:
        assert fitted in (47, 48, 49) and height < 20
    row, column = centre_of_mass(pair)
    assert abs(row - PAIR_FIELD[0] / 2) <= 1.0 and abs(column - PAIR_FIELD[1] / 2) <= 1.0


def test_a_pair_drawn_with_a_fine_pen_is_widened_as_a_digit_is() -> None:
    """Strokes 2 px in a 200 px pair are widened to about min_stroke at the pair's scale."""
    fine = normalize_pair(pair_ink(300, 2), Limits().min_stroke)
    thin = normalize_pair(pair_ink(300, 2), min_stroke=0)
    assert fine.sum() > 1.5 * thin.sum()
    marker = normalize_pair(pair_ink(300, 24), Limits().min_stroke)
    np.testing.assert_array_equal(marker, normalize_pair(pair_ink(300, 24), min_stroke=0))
