"""The two images and the compose stack, with podman on this kind of machine.

    python -m tools.containers images     # make images: both images, from a local base if need be
    python -m tools.containers up         # make up: start detached, return when the UI is ready
    python -m tools.containers down       # make down: stop and remove containers and networks

The Containerfiles and docker-compose.yml are standard; what only this host needs is passed on the
command line here: podman's settings (deploy/containers/containers.conf), pip's CA bundle and local
wheel folder, and a base image built with mmdebstrap when no registry can be reached. With Docker,
`docker compose up -d --build` needs none of this.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from tools import paths
from tools.cli import parse_config

COMPOSE_FILE = paths.REPO_ROOT / "docker-compose.yml"
CONTAINERS_CONF = paths.REPO_ROOT / "deploy" / "containers" / "containers.conf"
PROJECT = "mnist"  # docker-compose.yml's `name:`
PUBLIC_BASE = "python:3.11-slim-bookworm"  # what the Containerfiles start from by default
LOCAL_BASE = "localhost/debian-python:bookworm"  # built here when the public one cannot be pulled
TORCHSERVE_IMAGE = f"localhost/mnist-torchserve:{paths.MODEL_VERSION}"  # as in docker-compose.yml
WEBUI_IMAGE = f"localhost/mnist-webui:{paths.MODEL_VERSION}"
IMAGES = {  # image → its Containerfile
    TORCHSERVE_IMAGE: "deploy/images/torchserve.Containerfile",
    WEBUI_IMAGE: "deploy/images/webui.Containerfile",
}
SERVICES = ("torchserve", "webui")


class ContainerError(RuntimeError):
    """A container step failed; the message says which and why."""


@dataclass
class ContainersConfig:
    action: str = "up"  # images, up or down
    base_image: str = ""  # image to build from; empty: the public one, else one built here
    ui_port: int = paths.UI_PORT  # the UI on http://127.0.0.1:<ui_port>
    volumes: bool = False  # down: also remove the volumes (keys, and the corrections people sent)
    timeout: float = 300.0  # up: seconds to wait for a ready UI


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman(*args: str, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess:
    """Run podman with this project's settings; raise ContainerError with its output on failure."""
    result = subprocess.run(
        ["podman", *args],
        env=podman_env(),
        text=True,
        stdout=subprocess.PIPE if quiet else None,
        stderr=subprocess.PIPE if quiet else None,
    )
    if check and result.returncode != 0:
        detail = (result.stderr or "").strip()[-2000:]
        raise ContainerError(f"podman {' '.join(args[:2])} failed ({result.returncode}). {detail}")
    return result


def compose(*args: str, ui_port: int = paths.UI_PORT) -> None:
    """podman-compose on docker-compose.yml (podman-compose comes with the dev requirements)."""
    command = [sys.executable, "-m", "podman_compose", "-f", str(COMPOSE_FILE), *args]
    env = {**podman_env(), "UI_PORT": str(ui_port)}
    result = subprocess.run(command, env=env, cwd=paths.REPO_ROOT, text=True, capture_output=True)
    if result.returncode != 0:
        raise ContainerError(f"podman-compose {args[0]} failed:\n{result.stdout}{result.stderr}")


# ---- images ----------------------------------------------------------------------------------


def base_image(asked: str) -> str:
    """The image to build from: the one asked for, the public one if it can be pulled, or one
    built here with mmdebstrap from the host's own apt sources (no registry needed)."""
    if asked:
        return asked
    for image in (PUBLIC_BASE, LOCAL_BASE):
        if podman("image", "exists", image, check=False).returncode == 0:
            return image
    if podman("pull", "--quiet", PUBLIC_BASE, check=False, quiet=True).returncode == 0:
        return PUBLIC_BASE
    print(f"No registry answers for {PUBLIC_BASE}: building {LOCAL_BASE} with mmdebstrap …")
    if shutil.which("mmdebstrap") is None:
        raise ContainerError("mmdebstrap is not installed (make setup-podman installs it).")
    with tempfile.TemporaryDirectory() as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        packages = "--include=python3,python3-venv,ca-certificates"
        command = ["mmdebstrap", "--quiet", "--variant=minbase", packages, "bookworm", str(rootfs)]
        subprocess.run(command, check=True)
        podman("import", "--quiet", str(rootfs), LOCAL_BASE, quiet=True)
    return LOCAL_BASE


def host_pip_options() -> list[str]:
    """Build options that hand pip this host's CA bundle and local wheel folder, when it has them.

    Read from the PIP_CERT / PIP_FIND_LINKS variables or `pip config`; each path is mounted
    read-only for the build only, so nothing of the host stays in the image.
    """
    options = []
    for variable, key, target in (
        ("PIP_CERT", "global.cert", "/etc/pip-host-ca.crt"),
        ("PIP_FIND_LINKS", "global.find-links", None),
    ):
        value = os.environ.get(variable) or _pip_config(key)
        if value and Path(value).exists():
            target = target or value
            options += ["--volume", f"{value}:{target}:ro", "--build-arg", f"{variable}={target}"]
    return options


def _pip_config(key: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", key], capture_output=True, text=True
    )
    return result.stdout.strip() if result.returncode == 0 else ""


def build_images(config: ContainersConfig) -> None:
    base = base_image(config.base_image)
    pip_options = host_pip_options()
    for image, containerfile in IMAGES.items():
        print(f"Building {image} from {base} …", flush=True)
        started = time.monotonic()
        podman(
            "build",
            "--format=docker",  # the OCI format drops HEALTHCHECK
            f"--file={containerfile}",
            f"--build-arg=BASE_IMAGE={base}",
            *pip_options,
            f"--tag={image}",
            str(paths.REPO_ROOT),
        )
        size = podman("image", "inspect", "--format={{.Size}}", image, quiet=True).stdout
        print(f"Built {image}: {int(size) / 1e6:.0f} MB in {time.monotonic() - started:.0f} s.")


# ---- the stack -------------------------------------------------------------------------------


def container(service: str) -> str:
    """podman-compose's name for a service's container."""
    return f"{PROJECT}_{service}_1"


def up(config: ContainersConfig) -> str:
    """Start the stack detached; return the UI's URL once /readyz answers 200."""
    missing = [
        image for image in IMAGES if podman("image", "exists", image, check=False).returncode
    ]
    if missing:
        raise ContainerError(f"{', '.join(missing)} not built: run `make images` first.")
    started = time.monotonic()
    compose("up", "-d", ui_port=config.ui_port)
    url = f"http://{paths.HOST}:{config.ui_port}"
    deadline = started + config.timeout
    health: dict[str, str] = {}
    while time.monotonic() < deadline:
        # podman 4.3 schedules healthchecks with systemd timers, absent here: run them ourselves.
        health = {service: _health(container(service)) for service in SERVICES}
        if all(state == "healthy" for state in health.values()) and _ready(url):
            print(f"Ready in {time.monotonic() - started:.0f} s: open {url}")
            return url
        time.sleep(2)
    logs = podman("logs", "--tail=30", container("torchserve"), check=False, quiet=True)
    raise ContainerError(
        f"The stack was not ready after {config.timeout:.0f} s ({health}).\n{logs.stdout}"
    )


def _health(name: str) -> str:
    result = podman("healthcheck", "run", name, check=False, quiet=True)
    return "healthy" if result.returncode == 0 else (result.stdout + result.stderr).strip()


def _ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def down(config: ContainersConfig) -> None:
    """Stop and remove the stack's containers and networks (and its volumes with --volumes)."""
    compose("down", *(["--volumes"] if config.volumes else []), ui_port=config.ui_port)
    left = podman(
        "ps", "--all", "--quiet", f"--filter=label=io.podman.compose.project={PROJECT}", quiet=True
    ).stdout.split()
    if left:
        raise ContainerError(f"`down` left {len(left)} container(s) behind: {left}")
    print("Stopped and removed the stack" + (" and its volumes." if config.volumes else "."))


def main(argv: list[str] | None = None) -> int:
    config = parse_config(ContainersConfig, argv, positional=("action",))
    actions = {"images": build_images, "up": up, "down": down}
    if config.action not in actions:
        print(f"error: unknown action {config.action!r}; one of {sorted(actions)}", file=sys.stderr)
        return 2
    if shutil.which("podman") is None:
        print("error: podman is not installed (make setup-podman).", file=sys.stderr)
        return 1
    try:
        actions[config.action](config)
    except (ContainerError, subprocess.CalledProcessError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
