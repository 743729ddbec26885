"""MnistHandler reading whole numbers (`read=number`), with the tiny template model (1 and 7)."""

from __future__ import annotations

import base64
import io
import shutil

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from handler.mnist_handler import MnistHandler
from handler.preprocess import preprocess
from handler.segment import NOT_A_PAIR, ONE_DIGIT, PAIR_READER_FILE
from tests.unit.handler.digit_images import encode


def number_image(digits: str, width: int = 840, height: int = 280) -> bytes:
    """A canvas-style export (black ink on transparency) of 1s and 7s, drawn like the fixtures."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for i, digit in enumerate(digits):
        x = 40 + i * 200
        if digit == "1":
            draw.line([(x + 90, 40), (x + 90, 240)], fill=(0, 0, 0, 255), width=22)
        else:
            draw.line([(x, 50), (x + 180, 50), (x + 60, 240)], fill=(0, 0, 0, 255), width=22)
    return encode(image)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def check_number(answer: dict, number: str) -> None:
    assert answer["number"] == number
    assert len(answer["digits"]) == len(number)
    product = np.prod([digit["confidence"] for digit in answer["digits"]])
    assert answer["confidence"] == pytest.approx(product, abs=1e-5)
    lefts = [digit["box"][0] for digit in answer["digits"]]
    assert lefts == sorted(lefts)
    for digit, expected in zip(answer["digits"], number, strict=True):
        assert digit["digit"] == int(expected) == digit["top3"][0]["digit"]
        assert digit["confidence"] == digit["top3"][0]["probability"]
        x0, y0, x1, y1 = digit["box"]
        assert 0 <= x0 < x1 <= 840 and 0 <= y0 < y1 <= 280
        assert "preview" not in digit


@pytest.mark.parametrize(
    ("request_for", "headers"),
    [
        pytest.param(lambda data: {"body": bytearray(data)}, {"X-Read": "number"}, id="header"),
        pytest.param(
            lambda data: {"body": bytearray(data)}, {"x-read": "NUMBER"}, id="header-case"
        ),
        pytest.param(lambda data: {"body": {"image": b64(data), "read": "number"}}, {}, id="json"),
        pytest.param(
            lambda data: {"file": bytearray(data), "read": bytearray(b"number")}, {}, id="form"
        ),
    ],
)
def test_a_number_is_read_left_to_right(handler, context, request_for, headers):
    context.headers[0] = headers
    [answer] = handler.handle([request_for(number_image("171"))], context)
    check_number(answer, "171")
    assert context.statuses[0] == (200, "OK")
    assert [digit["box"][0] for digit in answer["digits"]] == pytest.approx([120, 240, 520], abs=20)


def test_without_the_option_an_image_is_still_one_digit(handler, context):
    [answer] = handler.handle([{"body": bytearray(number_image("7"))}], context)
    assert answer["digit"] == 7 and "number" not in answer


def test_each_digit_has_its_preview_when_asked(handler, context):
    context.headers[0] = {"X-Read": "number", "X-Preview": "true"}
    [answer] = handler.handle([{"body": bytearray(number_image("17"))}], context)
    alone = preprocess(number_image("1"))  # the 1 drawn alone, in the same place
    previews = [Image.open(io.BytesIO(base64.b64decode(d["preview"]))) for d in answer["digits"]]
    assert [preview.size for preview in previews] == [(28, 28), (28, 28)]
    np.testing.assert_array_equal(np.asarray(previews[0]), alone)


def test_blank_is_no_digit_and_too_many_digits_are_refused(handler, context):
    context.headers = {0: {"X-Read": "number"}, 1: {"X-Read": "number"}}
    thirteen = Image.new("L", (1300, 200), 255)
    for i in range(13):
        ImageDraw.Draw(thirteen).line([(50 + 100 * i, 30), (50 + 100 * i, 170)], fill=0, width=14)
    blank = encode(Image.new("L", (840, 280), 255))
    answers = handler.handle(
        [{"body": bytearray(blank)}, {"body": bytearray(encode(thirteen))}], context
    )
    assert answers[0]["error"] == "no_digit" and context.statuses[0][0] == 422
    assert answers[1]["error"] == "too_many_digits" and context.statuses[1][0] == 422
    assert "12" in answers[1]["message"]


def test_an_unknown_read_mode_is_a_bad_request(handler, context):
    context.headers[0] = {"X-Read": "words"}
    [answer] = handler.handle([{"body": bytearray(number_image("1"))}], context)
    assert answer["error"] == "bad_request" and context.statuses[0][0] == 400


def test_several_images_are_read_as_several_numbers(handler, context):
    body = {"images": [b64(number_image("17")), b64(number_image("71"))], "read": "number"}
    [answer] = handler.handle([{"body": body}], context)
    assert isinstance(answer, list)
    check_number(answer[0], "17")
    check_number(answer[1], "71")


def test_numbers_and_digits_of_a_batch_share_one_forward_pass(handler, context):
    context.headers = {0: {"X-Read": "number"}}
    batch = [{"body": bytearray(number_image("717"))}, {"body": bytearray(number_image("1"))}]
    number, digit = handler.handle(batch, context)
    check_number(number, "717")
    assert digit["digit"] == 1
    assert [m[2] for m in context.metrics.named("ForwardPasses")] == [1]
    assert [m[2] for m in context.metrics.named("ImagesClassified")] == [4]


def test_segmentation_settings_come_from_the_model_config(context):
    context.handler_settings = {"segment": {"max_digits": 2}}
    handler = MnistHandler()
    handler.initialize(context)
    context.headers[0] = {"X-Read": "number"}
    [answer] = handler.handle([{"body": bytearray(number_image("171"))}], context)
    assert answer["error"] == "too_many_digits" and "at most 2" in answer["message"]


def with_pair_reader(context, tmp_path, kind: int) -> tuple[MnistHandler, object]:
    """A handler whose archive also holds a pair reader that reads every piece as `kind`
    (e^5 times likelier than any other class)."""
    folder = tmp_path / "with-pair-reader"
    shutil.copytree(context.model_dir, folder)
    reader = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 56, NOT_A_PAIR + 1))
    with torch.no_grad():
        reader[1].weight.zero_()
        reader[1].bias.zero_()
        reader[1].bias[kind] = 5.0
    torch.jit.save(torch.jit.script(reader), str(folder / PAIR_READER_FILE))
    context = type(context)(model_dir=folder)
    # The reader's digits alone: the template model has no opinion of half a 7.
    context.handler_settings = {"segment": {"pair_model_weight": 0.0}}
    context.headers[0] = {"X-Read": "number"}
    handler = MnistHandler()
    handler.initialize(context)
    return handler, context


def test_a_pair_the_pair_reader_reads_answers_its_digits(context, tmp_path):
    """The 7 is wide enough to be two digits; read as "94", it answers 9 and 4 with the pair
    reader's probabilities (each digit's marginal of the pair classes), boxes side by side."""
    handler, context = with_pair_reader(context, tmp_path, 94)
    [answer] = handler.handle([{"body": bytearray(number_image("171"))}], context)
    check_number(answer, "1941")
    pair = np.exp(5.0) / (np.exp(5.0) + 99)  # the pair classes' probabilities, renormalised
    assert [digit["confidence"] for digit in answer["digits"][1:3]] == pytest.approx(
        [pair + 9 / (np.exp(5.0) + 99)] * 2, abs=1e-5
    )
    assert answer["digits"][1]["box"][2] <= answer["digits"][2]["box"][0] + 20


def test_what_the_pair_reader_reads_as_one_digit_the_model_reads(context, tmp_path):
    handler, context = with_pair_reader(context, tmp_path, ONE_DIGIT)
    [answer] = handler.handle([{"body": bytearray(number_image("171"))}], context)
    check_number(answer, "171")
