"""Every shipped way to start TorchServe leaves its model API (register, unregister) off.

With it on, TorchServe 0.12 registers any directory whose manifest names a handler and runs that
code (SECURITY.md). Each launch below is parsed by the launcher's own flags, and the config file
it would write is read back; only an operator's `--enable-model-api` turns it on.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tools.cli import config_parser
from tools.paths import REPO_ROOT, SERVE_CONFIG_DIR
from tools.stack import Stack, StackConfig
from tools.torchserve import ServerConfig, TorchServe

CONTAINERFILE = REPO_ROOT / "deploy" / "images" / "torchserve.Containerfile"
COMPOSE_FILES = [
    REPO_ROOT / "docker-compose.yml",
    *sorted((REPO_ROOT / "deploy" / "compose").glob("*.yml")),
]


def read_properties(path: Path) -> dict[str, str]:
    properties = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            properties[key.strip()] = value.strip()
    return properties


def make_serve(*variables: str) -> list[str]:
    """The launcher's arguments in `make serve`'s recipe, as make would run it (-n: not run)."""
    # --no-print-directory: under `make test`, a child make would add "Leaving directory" lines.
    command = ["make", "--no-print-directory", "-n", "-o", "setup", "serve", *variables]
    recipe = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return recipe.stdout.split("-m tools.torchserve", 1)[1].split()


def containerfile_instruction(name: str) -> list[str]:
    [line] = [
        line for line in CONTAINERFILE.read_text().splitlines() if line.startswith(name + " ")
    ]
    return json.loads(line.removeprefix(name + " "))


def launches() -> dict[str, list[str]]:
    """Where → the launcher's arguments."""
    assert containerfile_instruction("ENTRYPOINT") == ["python", "-m", "tools.torchserve"]
    image = containerfile_instruction("CMD")
    found = {"image (CMD)": image}
    for path in COMPOSE_FILES:
        service = yaml.safe_load(path.read_text())["services"]["torchserve"]
        assert "entrypoint" not in service
        found[path.name] = service.get("command", image)
    deployment = yaml.safe_load((REPO_ROOT / "deploy" / "k8s" / "deployment.yaml").read_text())
    [torchserve] = [
        c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "torchserve"
    ]
    assert "command" not in torchserve
    found["deploy/k8s"] = torchserve["args"]
    found["make serve"] = make_serve()
    return found


@pytest.mark.parametrize(("where", "argv"), launches().items(), ids=launches().keys())
def test_every_shipped_launch_writes_the_model_api_off(where, argv, tmp_path):
    args = vars(config_parser(ServerConfig).parse_args(argv))
    assert args["enable_model_api"] is False, where
    written = TorchServe(**{**args, "workdir": tmp_path}).write_config()
    assert read_properties(written)["enable_model_api"] == "false"


def test_only_the_operator_s_make_variable_turns_it_on():
    assert make_serve("ENABLE_MODEL_API=1") == ["--enable-model-api"]


def test_make_run_starts_torchserve_with_the_model_api_off(tmp_path):
    assert Stack(StackConfig(run_dir=tmp_path)).torchserve.config.enable_model_api is False


@pytest.mark.parametrize(
    "config",
    [SERVE_CONFIG_DIR / "config.properties", REPO_ROOT / "deploy/kserve/config/config.properties"],
)
def test_the_config_files_keep_it_off(config):
    assert read_properties(config)["enable_model_api"] == "false"
