"""One folder, one deployable: the import arrows between the repository's packages.

- handler/ is the .mar: it imports no other package of the repository;
- webui/ is its own image: it imports no other package of the repository, and no torch;
- training/ may import only the handler's normalisation.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tools.paths import REPO_ROOT

PACKAGES = {"handler", "webui", "training", "tools", "bench", "tests"}
ALLOWED = {
    "handler": set(),
    "webui": set(),
    "training": {"handler.normalize"},
}


def imported_modules(folder: Path, root: Path = REPO_ROOT) -> dict[str, set[str]]:
    """{file: every module it imports}, for each Python file under `folder`."""
    found = {}
    for path in sorted(folder.rglob("*.py")):
        modules = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                modules |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module)
        found[str(path.relative_to(root))] = modules
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_cross_only_the_allowed_arrows(package):
    crossings = {
        f"{path} imports {module}"
        for path, modules in imported_modules(REPO_ROOT / package).items()
        for module in modules
        if module.split(".")[0] in PACKAGES - {package} and module not in ALLOWED[package]
    }
    assert not crossings, sorted(crossings)


def test_the_web_ui_needs_no_torch_and_no_numpy():
    heavy = {
        f"{path} imports {module}"
        for path, modules in imported_modules(REPO_ROOT / "webui").items()
        for module in modules
        if module.split(".")[0] in {"torch", "numpy", "PIL", "ts"}
    }
    assert not heavy, sorted(heavy)


def test_the_checker_sees_every_kind_of_import(tmp_path):
    (tmp_path / "webui").mkdir()
    (tmp_path / "webui" / "app.py").write_text(
        "import torch.nn\nfrom tools.paths import REPO_ROOT\nfrom . import sibling\n"
        "def f():\n    from handler import preprocess\n"
    )
    found = imported_modules(tmp_path / "webui", root=tmp_path)
    assert found == {"webui/app.py": {"torch.nn", "tools.paths", "handler"}}
