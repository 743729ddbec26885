"""The images pin the same versions as requirements.txt, so each version is chosen in one place."""

from __future__ import annotations

import re

import pytest

from tools.paths import REPO_ROOT

IMAGE_REQUIREMENTS = ("deploy/images/torchserve.requirements.txt", "webui/requirements.txt")


def pins(path: str) -> dict[str, str]:
    found = {}
    for line in (REPO_ROOT / path).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            name, version = line.split("==")
            found[re.sub(r"[-_.]+", "-", name).lower()] = version
    return found


@pytest.mark.parametrize("path", IMAGE_REQUIREMENTS)
def test_image_pins_agree_with_requirements_txt(path):
    project = pins("requirements.txt")
    assert {name: project.get(name) for name in pins(path)} == pins(path)


def test_the_ui_image_installs_no_torch():
    assert "torch" not in pins("webui/requirements.txt")
