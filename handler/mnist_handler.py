"""TorchServe handler: digit images in, `{"digit", "confidence", "top3"}` out.

Asked to read a whole number (JSON field `"read": "number"`, form field `read=number` or header
`X-Read: number`), each image answers `{"number", "confidence", "digits": [...]}` instead: its
digits found by handler.segment, each read as a single digit, with its box.

One batch from TorchServe goes through three steps:
  decode   each request → its images as 28×28 uint8 digits (handler.preprocess), or as the list
           of a number's digits (handler.segment), or errors
  predict  every digit of the batch stacked into ONE tensor, one forward pass, softmax
  encode   each request → its JSON answer and HTTP status (set per request, so one bad request
           never fails the others in its batch)

How TorchServe 0.12 presents a request (`data[i]`, one dict per request):
  raw body (`curl -T`, `--data-binary`)  {"body": bytearray}
  JSON body (Content-Type: application/json)  {"body": dict | list}, already parsed; KServe's v1
                  protocol arrives this way too, as {"instances": [...]} (answered {"predictions"})
  text body (Content-Type: text/*)  {"body": str}
  multipart form  {field name: bytearray, ...} (text fields too); a repeated field name keeps only
                  its last value, so several files need distinct field names
  query string  dropped on /predictions/<model>; kept as fields on /invocations?model_name=mnist
Request headers come from `context.get_all_request_header(i)`.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import numpy as np
import torch
from ts.metrics.dimension import Dimension
from ts.torch_handler.base_handler import BaseHandler

from handler.decode import declared_pixels, decode_base64_text
from handler.limits import InputError, Limits
from handler.normalize import scale_pixels
from handler.preprocess import preprocess, to_png
from handler.segment import (
    DIGIT_CHECK_FILE,
    PAIR_READER_FILE,
    Segment,
    SegmentConfig,
    read_number,
)

logger = logging.getLogger(__name__)

OPTION_FIELDS = {"preview", "read", "model_name"}  # request fields that are options, not images
# A KServe v1 instance: {"data": base64}, {"b64": base64} or the bare base64 text.
INSTANCE_FIELDS = ("data", "b64")
PREVIEW_HEADER = "x-preview"  # `-H "X-Preview: true"`: preview for raw and multipart bodies
READ_HEADER = "x-read"  # `-H "X-Read: number"`: read each image as a whole number
READ_MODES = ("digit", "number")  # what `read` may ask for; digit is the default
TRUE_WORDS = {"1", "true", "yes", "on"}


@dataclass
class HandlerSettings:
    """The handler's settings: the `handler:` section of model-config.yaml, all optional."""

    limits: Limits = field(default_factory=Limits)  # preprocessing limits and thresholds
    segment: SegmentConfig = field(default_factory=SegmentConfig)  # reading a whole number
    max_images_per_request: int = 64  # more images in one request answer 413
    # A request's images together (when it has several), width × height from their headers,
    # checked before any is decoded: 64 MP is ~7 of the costliest full-size images (~2 s). With
    # batchSize above 1 a handler call may take batchSize times that: keep it under responseTimeout.
    max_request_pixels: int = 64_000_000  # more answer 413

    @classmethod
    def from_yaml(cls, section: dict[str, Any] | None) -> HandlerSettings:
        """Read `handler:` keys; Limits fields sit at the same level (e.g. `max_bytes`)."""
        section = dict(section or {})
        limit_names = {f.name for f in dataclasses.fields(Limits)}
        limits = Limits(**{k: section.pop(k) for k in list(section) if k in limit_names})
        segment = SegmentConfig(**(section.pop("segment", None) or {}))
        own = {f.name for f in dataclasses.fields(cls)} - {"limits", "segment"}
        unknown = set(section) - own
        if unknown:
            raise ValueError(
                f"Unknown keys in model-config.yaml handler section: {sorted(unknown)}"
            )
        return cls(limits=limits, segment=segment, **section)


@dataclass
class DecodedRequest:
    """One request after decoding: per image a digit (a number's digits when reading numbers)
    or the reason it was refused."""

    images: list[np.ndarray | list[Segment] | InputError]
    as_list: bool  # the client sent a list (or several files): answer with a list
    preview: bool  # include the 28×28 the model saw, as base64 PNG
    kserve_v1: bool  # {"instances": [...]}: answer {"predictions": [...]}


class MnistHandler(BaseHandler):
    """Classifies handwritten digits with the TorchScript model packed in the .mar.

    It overrides `handle` rather than BaseHandler's preprocess → inference → postprocess chain:
    that chain fails or succeeds a batch as a whole, while here each request in a batch gets its
    own status (a blank canvas answers 422 while its batch-mates answer 200), which needs the
    decode → predict → encode steps below with the request index at hand. From BaseHandler it
    keeps the TorchServe-facing shape (`initialize`, `initialized`, `handle`).
    """

    def initialize(self, context: Any) -> None:
        # 2 cores shared by the frontend and the workers: one intra-op thread per worker.
        torch.set_num_threads(1)
        self.context = context
        self.settings = HandlerSettings.from_yaml((context.model_yaml_config or {}).get("handler"))
        model_dir = context.system_properties["model_dir"]
        model_file = os.path.join(model_dir, context.manifest["model"]["serializedFile"])
        # Frozen and optimised for inference: BatchNorm folded into the convolutions, weights
        # inlined. Same outputs (to float rounding), 15% faster alone and 40% in a batch of 8.
        model = torch.jit.load(model_file, map_location="cpu").eval()
        # The temperature inside model.pt calibrates the answers; segmentation compares the
        # network's own confidences, which SegmentConfig was chosen with (freezing inlines T).
        self.temperature = float(getattr(model, "temperature", 1.0))
        self.model = torch.jit.optimize_for_inference(torch.jit.freeze(model))
        # Class index → digit, from serve_config/index_to_name.json packed beside the model.
        with open(os.path.join(model_dir, "index_to_name.json")) as f:
            names = json.load(f)
        self.digits = [int(names[str(index)]) for index in range(len(names))]
        # The digit check (tools.digit_check) helps segmentation choose cuts; an archive built
        # without it still reads numbers, by the model's confidence alone.
        # The digit check (tools.digit_check) and the pair reader (tools.pair_reader) help
        # segmentation; an archive built without them still reads numbers, less well.
        self.digit_check = _load_optional(model_dir, DIGIT_CHECK_FILE)
        self.pair_reader = _load_optional(model_dir, PAIR_READER_FILE)
        # TorchScript optimises during the first calls; pay that now, not on a user's request.
        with torch.inference_mode():
            for _ in range(3):
                self.model(torch.zeros(1, 1, 28, 28))
        self.initialized = True
        logger.info("Loaded %s with %s", model_file, self.settings)

    def handle(self, data: list[dict[str, Any]], context: Any) -> list[Any]:
        """TorchServe's entry point: one answer per request, statuses set per request."""
        started = time.perf_counter()
        decoded = [self.decode(i, request, context) for i, request in enumerate(data)]
        # One metric line per batch, not per request: each is a log line the frontend parses.
        per_request_ms = (time.perf_counter() - started) * 1000 / len(data)
        context.metrics.add_time("PreprocessTime", per_request_ms, idx=None, dimensions=[])
        digits = []
        for request in decoded:
            for image in request.images if isinstance(request, DecodedRequest) else ():
                if isinstance(image, np.ndarray):
                    digits.append(image)
                elif isinstance(image, list):  # a number: its digits, left to right
                    digits += [segment.digit for segment in image]
        probabilities = iter(self.predict(digits, context))
        answers = []
        for idx, request in enumerate(decoded):
            body, status = self.encode(request, probabilities, context)
            context.set_response_status(status, HTTPStatus(status).phrase, idx)
            context.set_response_content_type(idx, "application/json")
            answers.append(body)
        return answers

    # ---- decode --------------------------------------------------------------------------------

    def decode(
        self, idx: int, request: dict[str, Any], context: Any
    ) -> DecodedRequest | InputError:
        """A request → its images as 28×28 digits (or per-image errors); request-level errors."""
        try:
            return self._decode(idx, request, context)
        except InputError as error:
            return error
        except Exception as error:  # a request shape no check foresaw must not fail the batch
            logger.exception("Unexpected request decoding failure")
            return InputError("bad_request", 400, f"The request could not be read ({error}).")

    def _decode(self, idx: int, request: dict[str, Any], context: Any) -> DecodedRequest:
        headers = {k.lower(): v for k, v in (context.get_all_request_header(idx) or {}).items()}
        preview = _is_true(headers.get(PREVIEW_HEADER)) or _is_true(request.get("preview"))
        number = _reads_number(headers.get(READ_HEADER)) or _reads_number(request.get("read"))
        payloads: list[Any] = []  # image bytes, base64 text, or whatever the client put there
        as_list = kserve_v1 = False
        for name, value in request.items():
            if name in OPTION_FIELDS:
                continue
            value = _maybe_json(value)
            if isinstance(value, dict):
                preview = preview or _is_true(value.get("preview"))
                number = _reads_number(value.get("read")) or number
                kserve_v1 = kserve_v1 or "instances" in value
                value = _images_in(value)
            if isinstance(value, list):
                as_list = True
                payloads += value
            else:
                payloads.append(value)
        if not payloads:
            raise InputError("bad_request", 400, "The request carries no image.")
        if len(payloads) > self.settings.max_images_per_request:
            raise InputError(
                "too_large",
                413,
                f"{len(payloads)} images in one request; the limit is "
                f"{self.settings.max_images_per_request}.",
            )
        files = [self._to_file(payload) for payload in payloads]
        if len(files) > 1:  # one image alone is held to the per-image limits
            self._check_request_pixels(files)
        step = self._to_number if number else self._to_digit
        images = [self._read(step, file) for file in files]
        return DecodedRequest(
            images=images, as_list=as_list or len(images) > 1, preview=preview, kserve_v1=kserve_v1
        )

    def _to_file(self, payload: Any) -> bytes | InputError:
        """Image bytes or base64/data-URL text → the file's bytes, or the error that explains why
        not."""
        if isinstance(payload, InputError):  # refused while unwrapping (a shapeless instance)
            return payload
        try:
            if isinstance(payload, str):
                return decode_base64_text(payload, self.settings.limits)
            if isinstance(payload, (bytes, bytearray)):
                return bytes(payload)
            raise InputError(
                "bad_request", 400, "Each image must be a file or a base64/data-URL string."
            )
        except InputError as error:
            return error

    def _check_request_pixels(self, files: list[bytes | InputError]) -> None:
        """Refuse the request before decoding any image when its images declare, in their headers,
        more pixels together than a worker should spend on one request (too many big images)."""
        limits = self.settings.limits
        total = sum(declared_pixels(file, limits) for file in files if isinstance(file, bytes))
        if total > self.settings.max_request_pixels:
            raise InputError(
                "too_large",
                413,
                f"The images of this request have {total / 1e6:.1f} megapixels together; the "
                f"limit is {self.settings.max_request_pixels / 1e6:g}. Send fewer or smaller "
                "images per request.",
            )

    def _to_digit(self, file: bytes) -> np.ndarray:
        """An image file → 28×28 digit; raises InputError."""
        return preprocess(file, self.settings.limits)

    def _to_number(self, file: bytes) -> list[Segment]:
        """An image file → the digits of the number it shows; raises InputError."""
        check = self.check_digits if self.digit_check is not None else None
        read_pairs = self.read_pairs if self.pair_reader is not None else None
        limits, segment = self.settings.limits, self.settings.segment
        return read_number(file, self.classify, limits, segment, check, read_pairs)

    @staticmethod
    def _read(step: Callable[[bytes], Any], file: bytes | InputError) -> Any:
        """`step(file)`, or the error that explains why not: the file's own refusal, the
        step's, or 400 bad_image for a failure no check foresaw (it must not kill the worker)."""
        if isinstance(file, InputError):
            return file
        try:
            return step(file)
        except InputError as error:
            return error
        except Exception as error:
            logger.exception("Unexpected failure reading an image")
            return InputError("bad_image", 400, f"The image could not be read ({error}).")

    # ---- predict -------------------------------------------------------------------------------

    def predict(self, digits: list[np.ndarray], context: Any) -> torch.Tensor:
        """All the batch's digits in one forward pass → (N, 10) probabilities."""
        if not digits:
            return torch.empty(0, 10)
        started = time.perf_counter()
        probabilities = self._forward(digits)
        elapsed_ms = (time.perf_counter() - started) * 1000
        context.metrics.add_time("InferenceTime", elapsed_ms, idx=None, dimensions=[])
        context.metrics.add_counter("ImagesClassified", len(digits), idx=None, dimensions=[])
        context.metrics.add_counter("ForwardPasses", 1, idx=None, dimensions=[])
        return probabilities

    def classify(self, digits: list[np.ndarray]) -> np.ndarray:
        """(N, 10) probabilities, for segmentation to choose where touching digits are cut: the
        network's own, before the temperature."""
        return self._forward(digits, self.temperature).numpy()

    def check_digits(self, digits: list[np.ndarray]) -> np.ndarray:
        """(N, 11) probabilities from the digit check: one whole digit 0-9, or not one digit."""
        return self._forward(digits, network=self.digit_check).numpy()

    def read_pairs(self, pairs: list[np.ndarray]) -> np.ndarray:
        """(N, 102) probabilities from the pair reader, calibrated (its temperature is inside)."""
        return self._forward(pairs, network=self.pair_reader).numpy()

    def _forward(
        self, digits: list[np.ndarray], scale: float = 1.0, network: torch.nn.Module | None = None
    ) -> torch.Tensor:
        """Softmax of `network` (the model unless given) over the 28×28 digits, logits × scale."""
        batch = scale_pixels(torch.from_numpy(np.stack(digits))).unsqueeze(1)
        with torch.inference_mode():
            network = self.model if network is None else network
            return torch.softmax(network(batch).float() * scale, dim=1)

    # ---- encode --------------------------------------------------------------------------------

    def encode(
        self, request: DecodedRequest | InputError, probabilities: Any, context: Any
    ) -> tuple[Any, int]:
        """A decoded request and the iterator over the batch's probabilities → (body, status).

        A single image answers its result (200) or its error (422/400/413). A list answers 200
        with one item per image, in order: a result, or an `{"error", "message"}` item; KServe v1
        wraps that list as `{"predictions": [...]}`.
        """
        if isinstance(request, InputError):
            return self._error(request, context), request.status
        items = []
        for image in request.images:
            if isinstance(image, InputError):
                items.append((self._error(image, context), image.status))
            elif isinstance(image, list):
                items.append((self._number(image, probabilities, request.preview), 200))
            else:
                items.append((self._result(image, next(probabilities), request.preview), 200))
        if request.kserve_v1:
            return {"predictions": [body for body, _ in items]}, 200
        if request.as_list:
            return [body for body, _ in items], 200
        return items[0]

    def _result(self, digit: np.ndarray, probabilities: torch.Tensor, preview: bool) -> dict:
        top = torch.topk(probabilities, 3)  # the contract's "top3"
        top3 = [
            {"digit": self.digits[int(index)], "probability": round(float(p), 6)}
            for index, p in zip(top.indices, top.values, strict=True)
        ]
        result: dict[str, Any] = {
            "digit": top3[0]["digit"],
            "confidence": top3[0]["probability"],
            "top3": top3,
        }
        if preview:
            result["preview"] = base64.b64encode(to_png(digit)).decode("ascii")
        return result

    def _number(self, segments: list[Segment], probabilities: Any, preview: bool) -> dict:
        """A number's answer: its digits left to right, each with its box in the image as sent.

        Its confidence is the product of the digits' confidences: the chance that every digit is
        right if their errors are independent and each confidence is calibrated (the shipped
        model's are: its temperature, fitted on validation, is inside model.pt). A digit of a
        touching pair answers what the segmenter read it as (the pair reader × the model).
        """
        digits = []
        for segment in segments:
            model_read = next(probabilities)  # one per segment, in order, whoever reads it
            read = model_read if segment.probabilities is None else segment.probabilities
            digit = self._result(segment.digit, torch.as_tensor(read), preview)
            digits.append({**digit, "box": list(segment.box)})
        return {
            "number": "".join(str(digit["digit"]) for digit in digits),
            "confidence": round(float(np.prod([digit["confidence"] for digit in digits])), 6),
            "digits": digits,
        }

    @staticmethod
    def _error(error: InputError, context: Any) -> dict[str, str]:
        context.metrics.add_counter(
            "InputErrors", 1, idx=None, dimensions=[Dimension("ErrorCode", error.code)]
        )
        return {"error": error.code, "message": error.message}


def _load_optional(model_dir: str, name: str) -> torch.jit.ScriptModule | None:
    """A helper network packed beside the model, frozen for inference; None when missing."""
    path = os.path.join(model_dir, name)
    if not os.path.isfile(path):
        logger.warning("No %s in the archive: numbers are read without it", name)
        return None
    network = torch.jit.load(path, map_location="cpu").eval()
    return torch.jit.optimize_for_inference(torch.jit.freeze(network))


def _is_true(value: Any) -> bool:
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8", "replace")
    return value is True or (isinstance(value, str) and value.strip().lower() in TRUE_WORDS)


def _reads_number(value: Any) -> bool:
    """Whether a `read` option (header, form field or JSON field) asks for a whole number."""
    if value is None:
        return False
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8", "replace")
    mode = value.strip().lower() if isinstance(value, str) else value
    if mode not in READ_MODES:
        raise InputError("bad_request", 400, f'"read" must be "digit" or "number", not {value!r}.')
    return mode == "number"


def _images_in(body: dict[str, Any]) -> Any:
    """A JSON object → what it carries: KServe v1 `instances`, `images` (a list) or `image`."""
    if "instances" in body:
        return _instance_payloads(body["instances"])
    if "images" in body:
        return body["images"]
    if "image" in body:
        return body["image"]
    raise InputError(
        "bad_request", 400, 'A JSON body needs an "image", "images" or "instances" field.'
    )


def _instance_payloads(instances: Any) -> list[Any]:
    """KServe v1 `instances` → one image payload per instance."""
    if not isinstance(instances, list):
        raise InputError("bad_request", 400, '"instances" must be a list.')
    return [_instance_payload(instance) for instance in instances]


def _instance_payload(instance: Any) -> Any:
    """One instance → its payload, or the error for an object without an image field."""
    if not isinstance(instance, dict):
        return instance  # bare base64 text (anything else is refused like any bad payload)
    for name in INSTANCE_FIELDS:
        if name in instance:
            return instance[name]
    return InputError("bad_request", 400, 'An instance needs a "data" or "b64" field.')


def _maybe_json(value: Any) -> Any:
    """A JSON document sent without a JSON content type still counts as JSON.

    Images never start with `{` or `[`, so this cannot mistake an image for JSON.
    """
    if isinstance(value, (bytes, bytearray, str)) and value[:1] in (b"{", b"[", "{", "["):
        try:
            return json.loads(value)
        except (ValueError, UnicodeDecodeError):
            message = "The body looks like JSON but does not parse."
            raise InputError("bad_request", 400, message) from None
    return value


_service = MnistHandler()


def handle(data: list[dict[str, Any]] | None, context: Any) -> list[Any] | None:
    """TorchServe's entry point (the module defines several classes, so TorchServe needs this).

    TorchServe calls it once with `data=None` when the worker starts, then once per batch.
    """
    if not _service.initialized:
        _service.initialize(context)
    if data is None:
        return None
    return _service.handle(data, context)
