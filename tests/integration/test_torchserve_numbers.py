"""Whole numbers through real TorchServe 0.12: the `X-Read: number` header and the JSON field."""

from __future__ import annotations

import base64

from tests.integration.test_torchserve import predict
from tests.unit.handler.test_number_mode import number_image


def check_171(answer: dict) -> None:
    assert answer["number"] == "171"
    assert [digit["digit"] for digit in answer["digits"]] == [1, 7, 1]
    lefts = [digit["box"][0] for digit in answer["digits"]]
    assert lefts == sorted(lefts) and lefts[0] < 200 < lefts[1] < 400 < lefts[2]
    assert 0.0 < answer["confidence"] <= min(digit["confidence"] for digit in answer["digits"])


def test_a_number_through_the_header(torchserve):
    answer = predict(torchserve, data=number_image("171"), headers={"X-Read": "number"})
    assert answer.status_code == 200
    check_171(answer.json())


def test_a_number_through_the_json_field_with_previews(torchserve):
    body = {"image": base64.b64encode(number_image("171")).decode(), "read": "number"}
    answer = predict(torchserve, json={**body, "preview": True})
    assert answer.status_code == 200
    check_171(answer.json())
    assert all(digit["preview"] for digit in answer.json()["digits"])


def test_a_blank_number_is_422(torchserve):
    blank = number_image("")
    answer = predict(torchserve, data=blank, headers={"X-Read": "number"})
    assert answer.status_code == 422 and answer.json()["error"] == "no_digit"
