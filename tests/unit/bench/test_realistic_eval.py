"""bench.realistic_eval: labels in, predictions in the samples' order, exact summaries, the CLI."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.realistic_eval import (
    Sample,
    load_labels,
    load_model,
    main,
    naive_digit,
    score_in_process,
    score_over_http,
    summarise,
)
from handler.limits import InputError
from handler.preprocess import preprocess
from tests.conftest import png


def test_load_labels_reads_every_row_in_order(realistic_set: Path) -> None:
    samples = load_labels(realistic_set)
    assert len(samples) == 21
    assert samples[0].file == "canvas_0_0.png" and samples[0].category == "canvas"
    assert [s.digit for s in samples[:20]] == [*range(10), *range(10)]
    assert samples[-1] == Sample("canvas_blank.png", "canvas", 0, "blank")


def test_load_labels_without_a_set_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"python -m bench\.realistic_digits"):
        load_labels(tmp_path)


def test_summarise_counts_refusals_as_wrong() -> None:
    samples = [
        Sample("a.png", "canvas", 1, "plain"),
        Sample("b.png", "canvas", 7, "plain"),
        Sample("c.png", "canvas", 7, "crossed"),
        Sample("d.jpg", "photo", 7, "plain"),
        Sample("e.jpg", "photo", 1, "flag"),
        Sample("f.jpg", "photo", 7, "plain"),
    ]
    summary = summarise(samples, [1, 1, 7, "no_digit", 7, 1])
    assert summary == {
        "images": 6,
        "accuracy": 2 / 6,
        "per_category": {"canvas": 2 / 3, "photo": 0.0},
        "per_digit": {"1": 1 / 2, "7": 1 / 4},
        "per_style": {"1 plain": 1.0, "7 plain": 0.0, "7 crossed": 1.0, "1 flag": 0.0},
        # Ties in the order first met.
        "worst_confusions": [("7 → 1", 2), ("7 → no_digit", 1), ("1 → 7", 1)],
        "refused": Counter({"no_digit": 1}),
    }


def test_naive_digit_inverts_and_squashes_to_28x28() -> None:
    paper = Image.new("L", (56, 56), 255)
    paper.paste(0, (0, 0, 28, 56))  # the left half inked
    digit = naive_digit(png(paper))
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    assert (digit[:, :12] == 255).all() and (digit[:, 16:] == 0).all()


def test_naive_digit_loses_a_canvas_export_to_its_transparency(images: dict[str, bytes]) -> None:
    """Dropping alpha leaves black ink on black: the whole image inverts to white. This is what
    the baseline gets wrong and the handler's preprocessing gets right."""
    assert (naive_digit(images["one"]) == 255).all()


def _hot_pixel(data: bytes) -> np.ndarray:
    """Stand-in preprocessing: file b"3" → an image first_row_model reads as 3."""
    if data == b"blank":
        raise InputError("no_digit", 422, "blank")
    image = np.zeros((28, 28), dtype=np.uint8)
    image[0, int(data)] = 255
    return image


def test_score_in_process_keeps_each_prediction_with_its_sample(
    tmp_path: Path, first_row_model: torch.jit.ScriptModule
) -> None:
    contents = {"a": b"3", "b": b"blank", "c": b"8", "d": b"0"}
    for name, data in contents.items():
        (tmp_path / name).write_bytes(data)
    samples = [Sample(name, "canvas", 0, "plain") for name in contents]
    predictions, seconds = score_in_process(samples, tmp_path, first_row_model, _hot_pixel)
    assert predictions == [3, "no_digit", 8, 0]
    assert len(seconds) == 4 and all(s >= 0 for s in seconds)


def test_score_in_process_with_the_handlers_preprocessing(
    realistic_set: Path, template_model: Path
) -> None:
    samples = load_labels(realistic_set)
    model = load_model(template_model)
    predictions, _ = score_in_process(samples, realistic_set, model, preprocess)
    assert predictions[:10] == list(range(10))  # the canvas samples the templates come from
    assert all(p in range(10) for p in predictions[10:20])  # small uploads: some digit
    assert predictions[20] == "no_digit"


def test_cli_scores_ours_and_the_baseline_and_writes_json(
    realistic_set: Path, template_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "results" / "realistic.json"
    main(["--dir", str(realistic_set), "--model", str(template_model), "--baseline"])
    main(["--dir", str(realistic_set), "--model", str(template_model), "--json", str(out)])
    printed = capsys.readouterr().out
    assert "In-process" in printed and "Naive baseline" in printed
    results = json.loads(out.read_text())
    assert list(results) == ["ours"]  # no --baseline the second time
    assert results["ours"]["images"] == 21
    assert results["ours"]["per_category"]["canvas"] == 10 / 11
    assert results["ours"]["refused"] == {"no_digit": 1}


# ---- through TorchServe ------------------------------------------------------------------------


@dataclass
class FakeReply:
    status_code: int
    body: dict | None  # a JSON reply, or None for an HTML error page

    @property
    def headers(self) -> dict[str, str]:
        return {"content-type": "application/json" if self.body is not None else "text/html"}

    def json(self) -> dict | None:
        return self.body


@dataclass
class FakeClient:
    """tools.client.InferenceClient as TorchServe would answer: the reply chosen by the bytes."""

    replies: dict[bytes, FakeReply]
    sent: list[bytes] = field(default_factory=list)

    def post(self, data: bytes) -> FakeReply:
        self.sent.append(data)
        return self.replies[data]


def test_score_over_http_reads_digits_and_error_codes(tmp_path: Path) -> None:
    client = FakeClient(
        {
            b"seven": FakeReply(200, {"digit": 7, "confidence": 0.99}),
            b"blank": FakeReply(422, {"error": "no_digit", "message": "No digit found"}),
            b"down": FakeReply(503, None),
        }
    )
    for name in ("seven", "blank", "down"):
        (tmp_path / name).write_bytes(name.encode())
    samples = [Sample(name, "canvas", 7, "plain") for name in ("seven", "blank", "down")]

    predictions, seconds = score_over_http(samples, tmp_path, client)
    assert predictions == [7, "no_digit", "http_503"] and len(seconds) == 3
    assert client.sent == [b"seven", b"blank", b"down"]


def test_cli_without_a_running_torchserve_exits_with_the_reason(realistic_set, tmp_path) -> None:
    argv = ["--dir", str(realistic_set), "--url", "http://127.0.0.1:1"]
    with pytest.raises(SystemExit, match="TorchServe is not running"):
        main([*argv, "--token-file", str(tmp_path / "key_file.json")])
