"""The compose stack end to end, as `make up` starts it: built images, podman, real containers.

Run by `make test-containers` after `make images`; the stack starts once, on a free port, and
`down` always runs. These tests change the stack (they kill TorchServe), so they run in order.
"""

from __future__ import annotations

import base64
import contextlib
import shutil
import socket
import time
from collections.abc import Iterator

import pytest
import requests

from tools import containers, paths
from tools.containers import ContainersConfig, container, podman
from tools.torchserve import free_port

SAMPLES = paths.REPO_ROOT / "docs" / "samples"
TORCHSERVE, WEBUI = container("torchserve"), container("webui")

pytestmark = pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed")


@pytest.fixture(scope="module")
def ui() -> Iterator[str]:
    """The stack's UI URL; the stack is brought down afterwards, whatever happened."""
    config = ContainersConfig(ui_port=free_port())
    try:
        yield containers.up(config)
    finally:
        containers.down(config)


def predict(ui: str, sample: str) -> requests.Response:
    with open(SAMPLES / sample, "rb") as image:
        return requests.post(f"{ui}/api/predict", files={"image": image}, timeout=30)


def test_a_drawn_digit_and_a_photo_are_read(ui):
    assert predict(ui, "seven.png").json()["digit"] == 7
    assert predict(ui, "three-photo.jpg").json()["digit"] == 3
    assert predict(ui, "blank.png").json()["error"] == "no_digit"


def test_only_the_ui_is_published_and_only_on_loopback(ui):
    assert podman("port", TORCHSERVE, quiet=True).stdout.strip() == ""
    published = podman("port", WEBUI, quiet=True).stdout.split()
    assert published == ["5000/tcp", "->", ui.removeprefix("http://")]


def test_torchserve_is_unreachable_from_outside_the_stack(ui):
    """A container on another network cannot connect to any of TorchServe's ports."""
    address = podman(
        "inspect",
        TORCHSERVE,
        "--format={{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        quiet=True,
    ).stdout.strip()
    probe = (
        "import socket\n"
        "for port in (8080, 8081, 8082):\n"
        "    try:\n"
        f"        socket.create_connection(('{address}', port), timeout=2)\n"
        "        print('reachable', port)\n"
        "    except OSError:\n"
        "        print('unreachable', port)\n"
    )
    outsider = ["run", "--rm", "--network=podman", containers.WEBUI_IMAGE, "python", "-c", probe]
    result = podman(*outsider, quiet=True)
    assert result.stdout.split() == [
        "unreachable",
        "8080",
        "unreachable",
        "8081",
        "unreachable",
        "8082",
    ]


def test_both_containers_run_as_non_root(ui):
    for name in (TORCHSERVE, WEBUI):
        assert podman("exec", name, "id", "-u", quiet=True).stdout.strip() != "0"


def test_a_correction_is_kept_on_the_volume_across_a_restart_of_the_ui(ui):
    image = base64.b64encode((SAMPLES / "seven.png").read_bytes()).decode()

    def correct(label: int) -> int:
        answer = requests.post(
            f"{ui}/api/feedback", json={"image": image, "label": label}, timeout=30
        )
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    first = correct(1)
    podman("restart", WEBUI, quiet=True)  # a new process; the read-only root holds nothing
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{ui}/readyz", timeout=2).status_code == 200:
                break
        time.sleep(1)
    # A fresh database would number it 1 again: the volume kept the first one.
    assert correct(2) == first + 1


def test_killing_torchserve_is_503_within_a_second_and_a_restart_heals(ui):
    podman("kill", TORCHSERVE, quiet=True)
    started = time.monotonic()
    answer = predict(ui, "seven.png")
    assert time.monotonic() - started < 1.0
    assert answer.status_code == 503
    assert answer.json()["error"] == "model_unavailable"

    podman("start", TORCHSERVE, quiet=True)  # no action on the UI
    deadline = time.monotonic() + 120
    while (answer := predict(ui, "seven.png")).status_code != 200 and time.monotonic() < deadline:
        time.sleep(1)
    assert answer.status_code == 200 and answer.json()["digit"] == 7


def test_down_leaves_no_container_behind(ui):
    containers.down(ContainersConfig())
    left = podman("ps", "--all", "--format={{.Names}}", quiet=True).stdout.split()
    assert TORCHSERVE not in left and WEBUI not in left
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(ui.rsplit(":", 1)[1])), timeout=1)


def test_the_ui_image_has_no_torch_and_no_java():
    probe = "import importlib.util as u, shutil; print(u.find_spec('torch'), shutil.which('java'))"
    result = podman("run", "--rm", containers.WEBUI_IMAGE, "python", "-c", probe, quiet=True)
    assert result.stdout.split() == ["None", "None"]
