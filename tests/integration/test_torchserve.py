"""The handler in real TorchServe 0.12 with the project's config, through its HTTP APIs.

One server for the whole session (the `torchserve` fixture in tests/integration/conftest.py),
configured as shipped; tests that register versions use `managed_torchserve`, started with the
model API on. Tests that change a server (scaling, a second version, a renewed key) put it back
as they found it.
"""

from __future__ import annotations

import base64
import io
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from PIL import Image

from tools.archive import ArchiveConfig, build_archive
from tools.paths import SHIPPED_MODEL
from tools.register import register
from tools.torchserve import TorchServe

CUSTOM_METRICS = (
    "PreprocessTime",
    "InferenceTime",
    "ImagesClassified",
    "ForwardPasses",
)


def auth(server: TorchServe, kind: str = "inference") -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token(kind)}"}


def predict(server: TorchServe, path: str = "/predictions/mnist", **kwargs) -> requests.Response:
    headers = {**auth(server), **kwargs.pop("headers", {})}
    return requests.post(server.inference_url + path, headers=headers, timeout=60, **kwargs)


def manage(server: TorchServe, method: str, path: str, **kwargs) -> requests.Response:
    url = server.management_url + path
    return requests.request(method, url, headers=auth(server, "management"), timeout=120, **kwargs)


def is_result(body: object) -> bool:
    return (
        isinstance(body, dict)
        and isinstance(body.get("digit"), int)
        and 0.0 <= body["confidence"] <= 1.0
        and [t["probability"] for t in body["top3"]]
        == sorted((t["probability"] for t in body["top3"]), reverse=True)
        and body["top3"][0]["digit"] == body["digit"]
    )


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


# ---- the response contract, every request form ---------------------------------------------------


def test_raw_body(torchserve, images):
    answer = predict(torchserve, data=images["seven"])
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    assert is_result(answer.json()) and "preview" not in answer.json()


def test_multipart_one_file(torchserve, images):
    answer = predict(torchserve, files={"file": ("seven.png", images["seven"], "image/png")})
    assert answer.status_code == 200 and is_result(answer.json())


def test_multipart_several_files_answer_a_list_in_order(torchserve, images):
    files = {
        "first": ("seven.png", images["seven"], "image/png"),
        "second": ("blank.png", images["blank"], "image/png"),
        "third": ("one.png", images["one"], "image/png"),
    }
    answer = predict(torchserve, files=files)
    assert answer.status_code == 200
    first, second, third = answer.json()
    assert is_result(first) and is_result(third)
    assert second["error"] == "no_digit" and second["message"]
    single = [predict(torchserve, data=images[name]).json() for name in ("seven", "one")]
    assert [first["digit"], third["digit"]] == [s["digit"] for s in single]


@pytest.mark.parametrize("encode", [lambda d: base64.b64encode(d).decode(), data_url])
def test_json_base64_and_data_url(torchserve, images, encode):
    answer = predict(torchserve, json={"image": encode(images["seven"])})
    assert answer.status_code == 200 and is_result(answer.json())


def test_json_list_and_images_field(torchserve, images):
    for body in (
        [data_url(images["seven"]), data_url(images["one"])],
        {"images": [data_url(images["seven"]), data_url(images["one"])]},
    ):
        answer = predict(torchserve, json=body)
        assert answer.status_code == 200
        assert len(answer.json()) == 2 and all(is_result(item) for item in answer.json())


@pytest.mark.parametrize(
    "path",
    # /predictions is this project's path; KServe's wrapper (deploy/kserve) posts to TorchServe's
    # own /v1/models/<name>:predict, which hands the handler the same JSON body.
    ["/predictions/mnist", "/v1/models/mnist:predict"],
)
def test_kserve_v1_envelope_answers_predictions(torchserve, images, path):
    instances = [
        {"data": base64.b64encode(images["seven"]).decode()},
        {"b64": base64.b64encode(images["blank"]).decode()},
        data_url(images["one"]),
    ]
    answer = predict(torchserve, path, json={"instances": instances})
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    seven, blank, one = answer.json()["predictions"]
    assert seven == predict(torchserve, data=images["seven"]).json()
    assert blank["error"] == "no_digit" and blank["message"]
    assert one == predict(torchserve, data=images["one"]).json()


@pytest.mark.parametrize(
    ("path", "kwargs"),
    [
        ("/predictions/mnist", {"json": {"image": "IMAGE", "preview": True}}),
        ("/predictions/mnist", {"data": "IMAGE", "headers": {"X-Preview": "true"}}),
        ("/predictions/mnist", {"files": {"file": "IMAGE"}, "data": {"preview": "true"}}),
        ("/invocations?model_name=mnist&preview=true", {"data": "IMAGE"}),
    ],
    ids=["json-field", "header", "form-field", "invocations-query"],
)
def test_preview_is_a_28x28_png(torchserve, images, path, kwargs):
    seven = images["seven"]
    for key, value in list(kwargs.items()):
        if value == "IMAGE":
            kwargs[key] = seven
        elif key == "json":
            kwargs[key] = {**value, "image": data_url(seven)}
        elif key == "files":
            kwargs[key] = {"file": ("seven.png", seven, "image/png")}
    answer = predict(torchserve, path, **kwargs)
    assert answer.status_code == 200, answer.text
    preview = Image.open(io.BytesIO(base64.b64decode(answer.json()["preview"])))
    assert (preview.format, preview.size, preview.mode) == ("PNG", (28, 28), "L")


@pytest.mark.skipif(not SHIPPED_MODEL.exists(), reason="the shipped model is not trained yet")
def test_shipped_model_reads_drawn_digits(torchserve, images):
    answers = [predict(torchserve, data=images[name]).json() for name in ("one", "seven")]
    assert [a["digit"] for a in answers] == [1, 7]


# ---- errors: 4xx with {"error", "message"}, never 5xx, the worker survives -----------------------


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [("blank", 422, "no_digit"), ("garbage", 400, None), ("huge_pixels", 413, "too_large")],
)
def test_bad_images(torchserve, images, name, status, code):
    answer = predict(torchserve, data=images[name])
    assert answer.status_code == status
    assert set(answer.json()) == {"error", "message"}
    assert code is None or answer.json()["error"] == code


def test_too_many_bytes_is_413_from_the_handler(torchserve, images):
    answer = predict(torchserve, data=images["seven"] + b"\0" * 6_000_000)  # limit: 5 MB
    assert answer.status_code == 413 and answer.json()["error"] == "too_large"


def test_beyond_max_request_size_the_frontend_answers_413(torchserve, images):
    answer = predict(torchserve, data=images["seven"] + b"\0" * 9_000_000)  # limit: 8 MiB
    assert answer.status_code == 413


def test_bad_json_is_400(torchserve):
    answer = predict(torchserve, data=b'{"image": ', headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json()["error"] == "bad_request"


def handler_counters(server: TorchServe, at_least_images: float = 0.0) -> tuple[float, float]:
    """(ImagesClassified, ForwardPasses) from /metrics: their ratio is the mean batch size.

    Workers report metrics asynchronously, so wait (up to 15 s) for the expected image count.
    """
    deadline = time.monotonic() + 15
    while True:
        values = {"ImagesClassified": 0.0, "ForwardPasses": 0.0}
        for line in requests.get(server.metrics_url + "/metrics", timeout=30).text.splitlines():
            name = line.split("{", 1)[0]
            if name in values:
                values[name] += float(line.rsplit(" ", 1)[1])
        if values["ImagesClassified"] >= at_least_images or time.monotonic() > deadline:
            return values["ImagesClassified"], values["ForwardPasses"]
        time.sleep(0.2)


BATCHING_CONFIG = """\
minWorkers: 1
maxWorkers: 1
batchSize: 8
maxBatchDelay: 50
responseTimeout: 30
"""


def archive_version(server: TorchServe, tmp_path: Path, version: str, **config) -> str:
    """The served model repacked under another version in the server's store; its file name."""
    store = server.config.model_store
    with zipfile.ZipFile(store / "mnist.mar") as served:
        model_file = tmp_path / "model.pt"
        model_file.write_bytes(served.read("model.pt"))
    name = f"mnist-{version}.mar"
    archive = ArchiveConfig(
        model_file=model_file, export_dir=store, version=version, output_name=name, **config
    )
    build_archive(archive)
    return name


def test_bad_requests_inside_real_batches_do_not_fail_their_mates(
    managed_torchserve, images, tmp_path
):
    """Version 9.0: 1 worker, batches of up to 8 within 50 ms; 8 clients make requests queue."""
    torchserve = managed_torchserve  # registering needs the model API
    model_config = tmp_path / "model-config.yaml"
    model_config.write_text(BATCHING_CONFIG)
    mar = archive_version(torchserve, tmp_path, "9.0", model_config=model_config)
    register(torchserve, mar, "mnist")
    try:
        images_before, passes_before = handler_counters(torchserve)
        plan = ["seven", "blank", "garbage", "one"] * 12
        expected = {"seven": 200, "one": 200, "blank": 422, "garbage": 400}
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(
                pool.map(
                    lambda name: predict(torchserve, "/predictions/mnist/9.0", data=images[name]),
                    plan,
                )
            )
        good = sum(expected[name] == 200 for name in plan)
        images_after, passes_after = handler_counters(torchserve, images_before + good)
    finally:
        manage(torchserve, "DELETE", "/models/mnist/9.0")
    assert [a.status_code for a in answers] == [expected[name] for name in plan]
    answered = [answer for answer, name in zip(answers, plan, strict=True) if expected[name] == 200]
    assert all(is_result(answer.json()) for answer in answered)
    # Batching really happened: some forward pass carried more than one image.
    assert images_after - images_before > passes_after - passes_before > 0


# ---- security ------------------------------------------------------------------------------------


def test_missing_or_wrong_token_is_refused(torchserve, images):
    url = torchserve.inference_url + "/predictions/mnist"
    for headers in ({}, {"Authorization": "Bearer wrong"}, auth(torchserve, "management")):
        answer = requests.post(url, data=images["seven"], headers=headers, timeout=30)
        assert answer.status_code == 400 and answer.json()["type"] == "InvalidKeyException"
    assert requests.get(torchserve.management_url + "/models", timeout=30).status_code == 400


def test_renewed_inference_key_replaces_the_old_one(torchserve, images):
    old = torchserve.token()
    renew = requests.get(
        torchserve.management_url + "/token",
        params={"type": "inference"},
        headers={"Authorization": f"Bearer {torchserve.token('API')}"},
        timeout=30,
    )
    assert renew.status_code == 200
    new = torchserve.token()
    assert new != old
    url = torchserve.inference_url + "/predictions/mnist"
    stale = requests.post(url, data=images["seven"], headers={"Authorization": f"Bearer {old}"})
    assert stale.status_code == 400
    assert predict(torchserve, data=images["seven"]).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/evil.mar",
        "https://example.invalid/evil.mar",
        "file:///etc/passwd",
        "../mnist.mar",
    ],
)
def test_registration_outside_the_model_store_is_refused(managed_torchserve, url):
    """allowed_urls, with the model API on: no URL outside the store (a bare directory path is
    not stopped by it: test_model_api.py)."""
    torchserve = managed_torchserve
    answer = manage(torchserve, "POST", "/models", params={"url": url})
    assert 400 <= answer.status_code < 500, answer.text
    models = manage(torchserve, "GET", "/models").json()["models"]
    assert [m["modelName"] for m in models] == ["mnist"]


# ---- management flows ----------------------------------------------------------------------------


def test_list_and_describe(torchserve):
    assert manage(torchserve, "GET", "/models").json()["models"] == [
        {"modelName": "mnist", "modelUrl": "mnist.mar"}
    ]
    [model] = manage(torchserve, "GET", "/models/mnist").json()
    assert model["modelVersion"] == "1.0"
    assert model["batchSize"] >= 1 and model["minWorkers"] == len(model["workers"])
    assert all(worker["status"] == "READY" for worker in model["workers"])


def test_the_launcher_finds_the_frontend_and_each_worker_in_its_process_group(torchserve):
    [model] = manage(torchserve, "GET", "/models/mnist").json()
    deadline = time.monotonic() + 60  # start() returns once one worker is READY, not all
    while len(torchserve.ready_workers()) < model["minWorkers"] and time.monotonic() < deadline:
        time.sleep(0.2)
    [model] = manage(torchserve, "GET", "/models/mnist").json()
    workers = torchserve.workers()
    assert torchserve.ready_workers() == {worker["pid"] for worker in model["workers"]}
    assert {worker.pid for worker in workers} == torchserve.ready_workers()
    assert torchserve.frontend().name() == "java"
    assert all(worker.ppid() == torchserve.frontend().pid for worker in workers)


def test_scale_workers_down_and_back(torchserve, images):
    [before] = manage(torchserve, "GET", "/models/mnist").json()
    try:
        scaled = manage(
            torchserve,
            "PUT",
            "/models/mnist",
            params={"min_worker": 1, "max_worker": 1, "synchronous": "true"},
        )
        assert scaled.status_code == 200, scaled.text
        [after] = manage(torchserve, "GET", "/models/mnist").json()
        assert len(after["workers"]) == 1
        assert predict(torchserve, data=images["seven"]).status_code == 200
    finally:
        manage(
            torchserve,
            "PUT",
            "/models/mnist",
            params={
                "min_worker": before["minWorkers"],
                "max_worker": before["maxWorkers"],
                "synchronous": "true",
            },
        )
    [restored] = manage(torchserve, "GET", "/models/mnist").json()
    assert len(restored["workers"]) == before["minWorkers"]


def test_second_version_register_default_unregister(managed_torchserve, images, tmp_path):
    """A rollout as docs/serving.md describes it, on an instance started with the model API on."""
    torchserve = managed_torchserve
    mar = archive_version(torchserve, tmp_path, "2.0")  # a rollout of a retrained model
    registered = register(torchserve, torchserve.config.model_store / mar, "mnist")
    try:
        assert registered["status"].startswith('Model "mnist" Version: 2.0 registered')
        versions = {
            m["modelVersion"] for m in manage(torchserve, "GET", "/models/mnist/all").json()
        }
        assert versions == {"1.0", "2.0"}
        assert predict(torchserve, "/predictions/mnist/2.0", data=images["seven"]).ok
        assert manage(torchserve, "PUT", "/models/mnist/2.0/set-default").status_code == 200
        assert manage(torchserve, "GET", "/models/mnist").json()[0]["modelVersion"] == "2.0"
    finally:
        manage(torchserve, "PUT", "/models/mnist/1.0/set-default")
        gone = manage(torchserve, "DELETE", "/models/mnist/2.0")
    assert gone.status_code == 200, gone.text
    versions = [m["modelVersion"] for m in manage(torchserve, "GET", "/models/mnist/all").json()]
    assert versions == ["1.0"]


# ---- metrics -------------------------------------------------------------------------------------


def test_custom_metrics_on_the_prometheus_endpoint(torchserve, images):
    predict(torchserve, data=images["seven"])
    predict(torchserve, data=images["blank"])
    wanted = [f"\n{name}{{" for name in CUSTOM_METRICS]
    wanted.append('InputErrors{ErrorCode="no_digit",ModelName="mnist"')
    deadline = time.monotonic() + 15  # workers report metrics asynchronously
    while True:
        text = requests.get(torchserve.metrics_url + "/metrics", timeout=30).text  # no token
        missing = [w.strip() for w in wanted if w not in text]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not missing, f"missing from /metrics: {missing}"
