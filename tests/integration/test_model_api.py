"""TorchServe 0.12's management API, as shipped and as an operator turns it on for a rollout.

With the model API on, TorchServe registers any directory whose MAR-INF/MANIFEST.json names a
handler, and a worker imports that handler (allowed_urls does not stop absolute directory paths):
whoever holds the management key runs code. The shipped configuration keeps the model API off;
these tests show, on real servers, that then nothing registers and no code runs while listing,
describing, scaling and set-default still work, and that the checked rollout path
(tools.register) refuses such a directory before TorchServe sees it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from tools.register import RegistrationRefused, register
from tools.torchserve import TorchServe


def manage(server: TorchServe, method: str, path: str, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {server.token('management')}"}
    return requests.request(
        method, server.management_url + path, headers=headers, timeout=120, **kwargs
    )


def model_names(server: TorchServe) -> list[str]:
    return [model["modelName"] for model in manage(server, "GET", "/models").json()["models"]]


def directory_model(tmp_path: Path) -> tuple[Path, Path]:
    """(folder, marker): a folder outside any model store, laid out as TorchServe registers it,
    whose handler writes the marker file as soon as a worker imports it."""
    folder, marker = tmp_path / "not_a_mar", tmp_path / "handler-code-ran"
    (folder / "MAR-INF").mkdir(parents=True)
    manifest = {
        "createdOn": "01/01/1980 00:00:00",
        "runtime": "python",
        "model": {"modelName": "intruder", "handler": "intruder.py", "modelVersion": "1.0"},
        "archiverVersion": "0.12.0",
    }
    (folder / "MAR-INF" / "MANIFEST.json").write_text(json.dumps(manifest))
    (folder / "intruder.py").write_text(
        f"open({str(marker)!r}, 'w').write('imported by a worker')\n\n\n"
        "def handle(data, context):\n    return data\n"
    )
    return folder, marker


def register_raw(server: TorchServe, url: str, name: str) -> requests.Response:
    """What anyone with the management key can send, unchecked."""
    params = {"url": url, "model_name": name, "initial_workers": 1, "synchronous": "true"}
    return manage(server, "POST", "/models", params=params)


# ---- as shipped: the model API off ---------------------------------------------------------------


@pytest.mark.parametrize("as_url", [str, lambda folder: f"file://{folder}"], ids=["path", "url"])
def test_a_directory_is_not_registered_and_its_code_never_runs(torchserve, tmp_path, as_url):
    folder, marker = directory_model(tmp_path)
    answer = register_raw(torchserve, as_url(folder), "intruder")
    assert answer.status_code == 405, answer.text
    assert not marker.exists(), "a worker imported the directory's handler"
    assert model_names(torchserve) == ["mnist"]


def test_the_workflow_api_which_the_setting_leaves_on_refuses_a_directory(torchserve, tmp_path):
    """/workflows is not switched off by enable_model_api in 0.12; it loads only .war files from
    the workflow store (the model store), never a directory."""
    folder, marker = directory_model(tmp_path)
    params = {"url": str(folder), "workflow_name": "intruder"}
    answer = manage(torchserve, "POST", "/workflows", params=params)
    assert 400 <= answer.status_code < 500, answer.text
    assert not marker.exists()
    assert manage(torchserve, "GET", "/workflows").json()["workflows"] == []


def test_no_model_name_with_a_path_is_registered(torchserve):
    answer = register_raw(torchserve, "mnist.mar", "../../x")
    assert answer.status_code == 405, answer.text
    assert model_names(torchserve) == ["mnist"]


def test_nothing_is_unregistered(torchserve, images):
    assert manage(torchserve, "DELETE", "/models/mnist").status_code == 405
    assert model_names(torchserve) == ["mnist"]
    headers = {"Authorization": f"Bearer {torchserve.token()}"}
    url = torchserve.inference_url + "/predictions/mnist"
    assert requests.post(url, data=images["seven"], headers=headers, timeout=60).status_code == 200


def test_listing_describing_scaling_and_set_default_still_work(torchserve):
    assert manage(torchserve, "GET", "/models").json()["models"] == [
        {"modelName": "mnist", "modelUrl": "mnist.mar"}
    ]
    [model] = manage(torchserve, "GET", "/models/mnist/1.0").json()
    workers = model["minWorkers"]
    scale = {"min_worker": workers, "max_worker": workers, "synchronous": "true"}
    assert manage(torchserve, "PUT", "/models/mnist", params=scale).status_code == 200
    assert manage(torchserve, "PUT", "/models/mnist/1.0/set-default").status_code == 200
    [model] = manage(torchserve, "GET", "/models/mnist").json()
    assert (model["modelVersion"], len(model["workers"])) == ("1.0", workers)
    # (tests/integration/test_torchserve.py scales down to 1 worker and back on this server.)


# ---- an operator's rollout instance: the model API on ----------------------------------------


def test_with_the_model_api_on_torchserve_itself_runs_code_from_a_directory(
    managed_torchserve, tmp_path
):
    """The upstream hole, shown once: why the model API stays off and tools.register exists."""
    folder, marker = directory_model(tmp_path)
    answer = register_raw(managed_torchserve, str(folder), "intruder")
    try:
        assert answer.status_code == 200, answer.text
        assert marker.exists()
    finally:
        manage(managed_torchserve, "DELETE", "/models/intruder")
    assert model_names(managed_torchserve) == ["mnist"]


def test_the_register_tool_refuses_a_directory_before_torchserve_sees_it(
    managed_torchserve, tmp_path
):
    folder, marker = directory_model(tmp_path)
    inside = managed_torchserve.config.model_store / "folder.mar"
    inside.symlink_to(folder, target_is_directory=True)
    for mar, name in ((folder, "intruder"), ("folder.mar", "intruder"), ("mnist.mar", "../../x")):
        with pytest.raises(RegistrationRefused):
            register(managed_torchserve, mar, name)
    assert not marker.exists()
    assert model_names(managed_torchserve) == ["mnist"]
