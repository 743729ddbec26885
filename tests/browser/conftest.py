"""Browser fixtures: real TorchServe, the real UI under waitress (as `make run`), real Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tools import paths
from tools.stack import Stack, StackConfig
from tools.torchserve import PORT_FIELDS, free_ports

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = paths.REPO_ROOT / "artifacts" / "screenshots"


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """TorchServe with model_store/mnist.mar and the UI under waitress, on free ports."""
    if not paths.SHIPPED_MAR.exists():
        pytest.skip("model_store/mnist.mar is not built yet (make archive)")
    config = StackConfig(
        **free_ports("ui_port", *PORT_FIELDS),
        run_dir=tmp_path_factory.mktemp("stack"),
    )
    with Stack(config) as stack:
        yield stack


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (make setup-chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class WatchedPage:
    """A page plus every console error and uncaught exception it produced."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=path, full_page=True)
        return path


def open_page(browser: Browser, url: str, **context_options: object) -> WatchedPage:
    context = browser.new_context(**context_options)
    page = context.new_page()
    watched = WatchedPage(page)
    page.on("console", lambda m: watched.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: watched.errors.append(f"pageerror: {exc}"))
    page.goto(url)
    return watched


@pytest.fixture
def desktop(chromium: Browser, live_stack: Stack) -> Iterator[WatchedPage]:
    watched = open_page(chromium, live_stack.url, viewport={"width": 1100, "height": 760})
    yield watched
    watched.page.context.close()


@pytest.fixture
def phone(chromium: Browser, live_stack: Stack) -> Iterator[WatchedPage]:
    watched = open_page(
        chromium,
        live_stack.url,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    yield watched
    watched.page.context.close()
