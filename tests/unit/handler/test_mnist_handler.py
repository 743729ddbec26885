"""MnistHandler with a fake TorchServe context: request forms, answers, errors, batches."""

from __future__ import annotations

import base64
import io
import json
import shutil
from http import HTTPStatus

import numpy as np
import pytest
import torch
from PIL import Image

from handler import mnist_handler
from handler.mnist_handler import HandlerSettings, MnistHandler
from handler.preprocess import preprocess
from tests.unit.handler.digit_images import png_declaring


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + b64(data)


def check_result(result: dict, digit: int) -> None:
    """A 200 answer for one image: the digit, its confidence and a coherent top 3."""
    assert set(result) >= {"digit", "confidence", "top3"}
    assert result["digit"] == digit
    top3 = result["top3"]
    assert len(top3) == 3
    assert top3[0] == {"digit": digit, "probability": result["confidence"]}
    probabilities = [entry["probability"] for entry in top3]
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(0.0 <= p <= 1.0 for p in probabilities)
    assert sum(probabilities) <= 1.0 + 1e-5
    assert len({entry["digit"] for entry in top3}) == 3


def test_the_fixture_model_tells_one_from_seven(handler, images):
    """Guards the other tests: the template model must really depend on the image."""
    digits = [preprocess(images["one"]), preprocess(images["seven"])]
    probabilities = handler.predict(digits, handler.context)
    assert probabilities.argmax(dim=1).tolist() == [1, 7]


@pytest.mark.parametrize(
    ("request_body", "digit"),
    [
        pytest.param({"body": "one"}, 1, id="raw-body"),
        pytest.param({"file": "seven"}, 7, id="multipart-one-file"),
        pytest.param({"body": {"image": "b64:seven"}}, 7, id="json-base64"),
        pytest.param({"body": {"image": "url:one"}}, 1, id="json-data-url"),
        pytest.param({"body": "text:seven"}, 7, id="text-body-base64"),
        pytest.param({"body": "jsonbytes:one"}, 1, id="json-without-content-type"),
    ],
)
def test_single_image_forms(handler, context, images, request_body, digit):
    request = {name: _materialise(value, images) for name, value in request_body.items()}
    [answer] = handler.handle([request], context)
    check_result(answer, digit)
    assert "preview" not in answer
    assert context.statuses[0] == (200, "OK")
    assert context.content_types[0] == "application/json"


def _materialise(value, images):
    """Test shorthand → what TorchServe hands the handler for that form."""
    if isinstance(value, dict):
        return {k: _materialise(v, images) for k, v in value.items()}
    kind, _, name = value.rpartition(":")
    if kind == "b64":
        return b64(images[name])
    if kind == "url":
        return data_url(images[name])
    if kind == "text":
        return b64(images[name])  # text/* bodies arrive as str
    if kind == "jsonbytes":
        return bytearray(json.dumps({"image": b64(images[name])}).encode())
    return bytearray(images[name])  # binary payloads arrive as bytearray


@pytest.mark.parametrize(
    "make_request",
    [
        pytest.param(
            lambda im: {"a": bytearray(im["one"]), "b": bytearray(im["seven"])}, id="multipart"
        ),
        pytest.param(lambda im: {"body": [b64(im["one"]), data_url(im["seven"])]}, id="json-list"),
        pytest.param(
            lambda im: {"body": {"images": [data_url(im["one"]), b64(im["seven"])]}}, id="images"
        ),
    ],
)
def test_several_images_answer_a_list_in_order(handler, context, images, make_request):
    [answer] = handler.handle([make_request(images)], context)
    assert isinstance(answer, list) and len(answer) == 2
    check_result(answer[0], 1)
    check_result(answer[1], 7)
    assert context.statuses[0][0] == 200


def test_a_one_item_json_list_still_answers_a_list(handler, context, images):
    [answer] = handler.handle([{"body": [b64(images["seven"])]}], context)
    assert isinstance(answer, list)
    check_result(answer[0], 7)


def test_per_image_errors_sit_in_the_list_in_place(handler, context, images):
    body = [b64(images["one"]), b64(images["blank"]), "%%%", 42]
    [answer] = handler.handle([{"body": body}], context)
    check_result(answer[0], 1)
    assert answer[1]["error"] == "no_digit"
    assert answer[2]["error"] == "bad_image"
    assert answer[3]["error"] == "bad_request"
    assert all(answer[i]["message"] for i in (1, 2, 3))
    assert context.statuses[0][0] == 200


@pytest.mark.parametrize(
    ("request_for", "headers"),
    [
        pytest.param(
            lambda im: {"body": {"image": b64(im["seven"]), "preview": True}}, {}, id="json"
        ),
        pytest.param(
            lambda im: {"body": bytearray(im["seven"])}, {"X-Preview": "true"}, id="header"
        ),
        pytest.param(
            lambda im: {"body": bytearray(im["seven"])}, {"x-preview": "1"}, id="lowercase"
        ),
        pytest.param(
            lambda im: {"file": bytearray(im["seven"]), "preview": bytearray(b"true")},
            {},
            id="field",
        ),
    ],
)
def test_preview_is_the_28x28_the_model_saw(handler, context, images, request_for, headers):
    context.headers[0] = headers
    [answer] = handler.handle([request_for(images)], context)
    check_result(answer, 7)
    preview = Image.open(io.BytesIO(base64.b64decode(answer["preview"])))
    assert preview.format == "PNG" and preview.size == (28, 28)
    np.testing.assert_array_equal(np.asarray(preview), preprocess(images["seven"]))


def test_preview_false_gives_no_preview(handler, context, images):
    [answer] = handler.handle([{"body": {"image": b64(images["one"]), "preview": False}}], context)
    assert "preview" not in answer


@pytest.mark.parametrize(
    ("request_for", "status", "code"),
    [
        pytest.param(lambda im: {"body": bytearray(im["blank"])}, 422, "no_digit", id="blank"),
        pytest.param(lambda im: {"body": bytearray(im["garbage"])}, 400, None, id="garbage"),
        pytest.param(lambda im: {"body": bytearray()}, 400, "bad_image", id="empty-body"),
        pytest.param(lambda im: {"body": {"image": "not base64!"}}, 400, "bad_image", id="bad-b64"),
        pytest.param(lambda im: {"body": {"picture": "x"}}, 400, "bad_request", id="no-image-key"),
        pytest.param(
            lambda im: {"body": bytearray(b'{"image": ')}, 400, "bad_request", id="bad-json"
        ),
        pytest.param(lambda im: {"preview": bytearray(b"true")}, 400, "bad_request", id="no-image"),
    ],
)
def test_bad_input_answers_4xx_with_error_and_message(
    handler, context, images, request_for, status, code
):
    [answer] = handler.handle([request_for(images)], context)
    assert context.statuses[0] == (status, HTTPStatus(status).phrase)
    assert set(answer) == {"error", "message"}
    assert code is None or answer["error"] == code
    assert answer["message"]


@pytest.fixture
def strict_handler(model_dir, context):
    """A handler whose model-config.yaml sets small limits."""
    context.handler_settings = {
        "max_bytes": 10_000,
        "max_pixels": 100_000,
        "max_images_per_request": 2,
    }
    service = MnistHandler()
    service.initialize(context)
    return service


def test_limits_come_from_model_config(strict_handler):
    assert strict_handler.settings.limits.max_bytes == 10_000
    assert strict_handler.settings.max_images_per_request == 2


def test_too_many_bytes_is_413_raw_and_base64(strict_handler, context, images):
    big = images["seven"] + b"\0" * 10_000
    answers = strict_handler.handle(
        [{"body": bytearray(big)}, {"body": {"image": b64(big)}}], context
    )
    assert [context.statuses[i][0] for i in (0, 1)] == [413, 413]
    assert [a["error"] for a in answers] == ["too_large", "too_large"]


def test_too_many_pixels_is_413_before_decoding(strict_handler, context, images):
    [answer] = strict_handler.handle([{"body": bytearray(images["wide"])}], context)
    assert context.statuses[0][0] == 413 and answer["error"] == "too_large"
    assert "pixels" in answer["message"]


def test_too_many_images_in_one_request_is_413(strict_handler, context, images):
    [answer] = strict_handler.handle([{"body": [b64(images["one"])] * 3}], context)
    assert context.statuses[0][0] == 413 and answer["error"] == "too_large"


@pytest.fixture
def no_image_decoded(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("an image was decoded")

    monkeypatch.setattr(mnist_handler, "preprocess", refuse)


@pytest.mark.usefixtures("no_image_decoded")
def test_images_that_cost_too_much_together_are_413_before_decoding_any(handler, context):
    """64 small files whose headers declare 8.3 MP each (the most one image may have): 531 MP."""
    big = png_declaring(2880, 2880)
    [answer] = handler.handle([{f"file{i}": bytearray(big) for i in range(64)}], context)
    assert context.statuses[0][0] == 413 and answer["error"] == "too_large"
    assert "530.8 megapixels" in answer["message"] and "64" in answer["message"]


@pytest.mark.usefixtures("no_pixel_decoding")
def test_images_refused_alone_do_not_count_towards_the_request_budget(handler, context):
    """64 × 1.6 KB files declaring 40 MP each: each refused in its place, none decoded."""
    strip = png_declaring(16383, 2441)
    answers = handler.handle([{"body": [b64(strip)] * 64}], context)[0]
    assert context.statuses[0][0] == 200
    assert [a["error"] for a in answers] == ["too_large"] * 64


@pytest.fixture
def budget_handler(model_dir, context):
    """A handler whose requests may hold 200,000 pixels: two 280×280 canvases, not three."""
    context.handler_settings = {"max_request_pixels": 200_000}
    service = MnistHandler()
    service.initialize(context)
    return service


@pytest.mark.parametrize(
    "make_request",
    [
        pytest.param(
            lambda files: {f"f{i}": bytearray(f) for i, f in enumerate(files)}, id="multipart"
        ),
        pytest.param(lambda files: {"body": [b64(f) for f in files]}, id="json-list"),
        pytest.param(lambda files: {"body": {"images": [data_url(f) for f in files]}}, id="images"),
        pytest.param(
            lambda files: {"body": {"instances": [{"b64": b64(f)} for f in files]}}, id="kserve"
        ),
    ],
)
def test_the_request_budget_counts_every_image_of_every_form(
    budget_handler, context, images, make_request
):
    two = [images["one"], images["seven"]]
    [answer] = budget_handler.handle([make_request(two)], context)
    assert context.statuses[0][0] == 200 and "error" not in str(answer)
    [answer] = budget_handler.handle([make_request([*two, images["one"]])], context)
    assert context.statuses[0][0] == 413 and answer["error"] == "too_large"
    assert "0.2 megapixels together; the limit is 0.2" in answer["message"]


def test_one_image_alone_is_held_to_the_per_image_limits_only(model_dir, context, images):
    """No second header read for the common request: its own limits already bound one image."""
    context.handler_settings = {"max_request_pixels": 50_000}  # less than one 280×280 canvas
    service = MnistHandler()
    service.initialize(context)
    [answer] = service.handle([{"body": bytearray(images["one"])}], context)
    assert context.statuses[0][0] == 200 and answer["digit"] == 1


def test_an_image_refused_alone_leaves_the_budget_to_the_others(budget_handler, context, images):
    request = {"body": [b64(images["huge_pixels"]), b64(images["one"]), b64(images["seven"])]}
    [answer] = budget_handler.handle([request], context)
    assert context.statuses[0][0] == 200
    assert answer[0]["error"] == "too_large"
    assert [a["digit"] for a in answer[1:]] == [1, 7]


def test_unknown_handler_setting_fails_at_load(model_dir):
    with pytest.raises(ValueError, match="max_byte"):
        HandlerSettings.from_yaml({"max_byte": 5})


class CountingModel:
    """Wraps the TorchScript model to count forward passes and their batch sizes."""

    def __init__(self, model):
        self.model, self.batch_sizes = model, []

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        self.batch_sizes.append(batch.shape[0])
        return self.model(batch)


def test_a_bad_request_never_fails_its_batch_mates(handler, context, images):
    counting = CountingModel(handler.model)
    handler.model = counting
    batch = [
        {"body": bytearray(images["seven"])},
        {"body": bytearray(images["blank"])},
        {"body": bytearray(images["garbage"])},
        {"body": [b64(images["one"]), b64(images["seven"])]},
        {"body": {"picture": "x"}},
        {"body": bytearray(images["one"])},
    ]
    answers = handler.handle(batch, context)
    assert len(answers) == len(batch)
    assert [context.statuses[i][0] for i in range(len(batch))] == [200, 422, 400, 200, 400, 200]
    check_result(answers[0], 7)
    assert answers[1]["error"] == "no_digit"
    check_result(answers[3][0], 1)
    check_result(answers[3][1], 7)
    check_result(answers[5], 1)
    assert counting.batch_sizes == [4]  # every good image of the batch in ONE forward pass


def test_a_batch_of_only_bad_requests_runs_no_model(handler, context, images):
    counting = CountingModel(handler.model)
    handler.model = counting
    handler.handle([{"body": bytearray(images["blank"])}], context)
    assert counting.batch_sizes == []


def test_metrics_emitted(handler, context, images):
    batch = [{"body": bytearray(images["seven"])}, {"body": bytearray(images["blank"])}]
    handler.handle(batch, context)
    metrics = context.metrics
    assert len(metrics.named("PreprocessTime")) == 1  # one line per batch: the mean per request
    assert [m[2] for m in metrics.named("ImagesClassified")] == [1]
    assert [m[2] for m in metrics.named("ForwardPasses")] == [1]
    [(_, _, count, dims)] = metrics.named("InputErrors")
    assert count == 1 and dims == {"ErrorCode": "no_digit"}


def test_module_entry_point_initialises_once_then_handles(monkeypatch, context, images):
    monkeypatch.setattr(mnist_handler, "_service", MnistHandler())
    assert mnist_handler.handle(None, context) is None  # TorchServe's load call
    assert mnist_handler._service.initialized
    [answer] = mnist_handler.handle([{"body": bytearray(images["one"])}], context)
    check_result(answer, 1)


@pytest.mark.parametrize(
    "body",
    [42, None, {"image": None}, {"image": {"nested": 1}}, {"images": [[1, 2]]}, [], "%%%"],
    ids=["number", "null", "null-image", "dict-image", "nested-list", "empty-list", "junk-text"],
)
def test_odd_json_shapes_are_4xx_never_an_exception(handler, context, images, body):
    answers = handler.handle([{"body": body}, {"body": bytearray(images["seven"])}], context)
    if isinstance(answers[0], list):  # a list request: 200, the error sits in the item
        assert context.statuses[0][0] == 200 and answers[0][0]["error"] == "bad_request"
    else:
        assert 400 <= context.statuses[0][0] < 500 and answers[0]["error"]
    assert context.statuses[1][0] == 200
    check_result(answers[1], 7)


def test_digits_come_from_index_to_name(model_dir, context, tmp_path, images):
    """The packed index_to_name.json maps class indices to the digits answered."""
    relabelled = tmp_path / "relabelled"
    shutil.copytree(model_dir, relabelled)
    (relabelled / "index_to_name.json").write_text(
        json.dumps({str(i): str(9 - i) for i in range(10)})
    )
    context = type(context)(model_dir=relabelled)  # a fresh FakeContext on the relabelled dir
    service = MnistHandler()
    service.initialize(context)
    [answer] = service.handle([{"body": bytearray(images["one"])}], context)
    assert answer["digit"] == 8  # class 1, relabelled 9 - 1
    assert answer["top3"][0]["digit"] == 8


# ---- KServe v1 protocol: {"instances": [...]} → {"predictions": [...]} ------------------------


def plain_answer(handler, context, image: bytes) -> dict:
    """The answer to one image sent as a raw body: what each v1 prediction must equal."""
    [answer] = handler.handle([{"body": bytearray(image)}], context)
    return answer


def assert_same_answer(got: dict, expected: dict) -> None:
    """The same answer, up to the last decimal of a probability: a batch of several images and
    a batch of one take different float paths through the model's matrix product."""
    assert got["digit"] == expected["digit"]
    assert got["confidence"] == pytest.approx(expected["confidence"], abs=1e-5)
    assert [entry["digit"] for entry in got["top3"]] == [e["digit"] for e in expected["top3"]]
    probabilities = [entry["probability"] for entry in got["top3"]]
    assert probabilities == pytest.approx([e["probability"] for e in expected["top3"]], abs=1e-5)
    assert set(got) == set(expected)


@pytest.mark.parametrize(
    "as_sent",
    [
        pytest.param(lambda body: body, id="json"),
        pytest.param(lambda body: bytearray(json.dumps(body).encode()), id="json-without-type"),
    ],
)
def test_kserve_v1_instances_answer_predictions_in_order(handler, context, images, as_sent):
    """Every instance form KServe's TorchServe examples send: {"data"}, {"b64"}, bare text."""
    body = {
        "instances": [
            {"data": b64(images["one"])},
            {"b64": b64(images["seven"])},
            b64(images["seven"]),
            {"data": data_url(images["one"])},
        ]
    }
    [answer] = handler.handle([{"body": as_sent(body)}], context)
    assert context.statuses[0] == (200, "OK")
    assert context.content_types[0] == "application/json"
    one, seven = (plain_answer(handler, context, images[name]) for name in ("one", "seven"))
    check_result(one, 1)
    check_result(seven, 7)
    assert set(answer) == {"predictions"}
    for got, expected in zip(answer["predictions"], [one, seven, seven, one], strict=True):
        assert_same_answer(got, expected)


def test_kserve_v1_one_instance_still_answers_a_predictions_list(handler, context, images):
    [answer] = handler.handle([{"body": {"instances": [{"data": b64(images["seven"])}]}}], context)
    assert answer == {"predictions": [plain_answer(handler, context, images["seven"])]}


def test_kserve_v1_errors_sit_in_predictions_in_place(handler, context, images):
    instances = [
        {"data": b64(images["blank"])},
        {"image": b64(images["one"])},  # neither "data" nor "b64"
        "%%%",
        42,
        {"b64": b64(images["seven"])},
    ]
    [answer] = handler.handle([{"body": {"instances": instances}}], context)
    assert context.statuses[0][0] == 200  # KServe's wrapper treats any other status as a failure
    predictions = answer["predictions"]
    assert [p.get("error") for p in predictions] == [
        "no_digit",
        "bad_request",
        "bad_image",
        "bad_request",
        None,
    ]
    assert predictions[1]["message"] == 'An instance needs a "data" or "b64" field.'
    assert all(set(p) == {"error", "message"} for p in predictions[:4])
    assert predictions[4] == plain_answer(handler, context, images["seven"])


def test_kserve_v1_preview_applies_to_every_instance(handler, context, images):
    body = {"instances": [b64(images["one"]), b64(images["seven"])], "preview": True}
    [answer] = handler.handle([{"body": body}], context)
    for prediction, name in zip(answer["predictions"], ("one", "seven"), strict=True):
        preview = Image.open(io.BytesIO(base64.b64decode(prediction["preview"])))
        np.testing.assert_array_equal(np.asarray(preview), preprocess(images[name]))


@pytest.mark.parametrize(
    ("instances", "message"),
    [
        pytest.param("abc", '"instances" must be a list.', id="not-a-list"),
        pytest.param({"data": "abc"}, '"instances" must be a list.', id="object"),
        pytest.param([], "The request carries no image.", id="empty"),
    ],
)
def test_kserve_v1_malformed_envelope_is_400(handler, context, instances, message):
    [answer] = handler.handle([{"body": {"instances": instances}}], context)
    assert context.statuses[0] == (400, "Bad Request")
    assert answer == {"error": "bad_request", "message": message}


def test_kserve_v1_too_many_instances_is_413(strict_handler, context, images):
    [answer] = strict_handler.handle([{"body": {"instances": [b64(images["one"])] * 3}}], context)
    assert context.statuses[0][0] == 413 and answer["error"] == "too_large"


def test_kserve_v1_shares_the_forward_pass_with_batch_mates(handler, context, images):
    counting = CountingModel(handler.model)
    handler.model = counting
    batch = [
        {"body": bytearray(images["seven"])},
        {"body": {"instances": [{"data": b64(images["one"])}, {"b64": b64(images["seven"])}]}},
        {"body": bytearray(images["one"])},
    ]
    first, envelope, last = handler.handle(batch, context)
    assert counting.batch_sizes == [4]
    check_result(first, 7)
    assert [p["digit"] for p in envelope["predictions"]] == [1, 7]
    check_result(last, 1)


def test_segmentation_compares_the_networks_own_confidences(
    handler, context, model_dir, images, tmp_path
):
    """A temperature inside model.pt calibrates the answers; `classify`, which chooses where
    touching digits are cut, sees the probabilities the segmentation settings were chosen with."""
    from training.calibrate import Calibrated

    calibrated_dir = tmp_path / "calibrated"
    shutil.copytree(model_dir, calibrated_dir)
    network = torch.jit.load(str(model_dir / "model.pt"))
    torch.jit.script(Calibrated(network, 0.5)).save(str(calibrated_dir / "model.pt"))
    context.model_dir = calibrated_dir
    calibrated = MnistHandler()
    calibrated.initialize(context)

    digits = [preprocess(images["seven"]), preprocess(images["one"])]
    np.testing.assert_allclose(calibrated.classify(digits), handler.classify(digits), atol=1e-6)
    sharper = calibrated.predict(digits, context).numpy()
    plain = handler.predict(digits, context).numpy()
    assert (sharper.max(axis=1) > plain.max(axis=1)).all()  # T < 1: surer answers…
    assert (sharper.argmax(axis=1) == plain.argmax(axis=1)).all()  # …never other ones
