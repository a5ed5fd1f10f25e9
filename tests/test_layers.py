"""Imports go one way: reporting → police → takedowns → support → vault (ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["vault", "support", "takedowns", "police", "reporting"]


def _imported_apps(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & set(LAYERS)


@pytest.mark.parametrize("app", LAYERS)
def test_it_imports_only_the_layers_below(app):
    above = set(LAYERS[LAYERS.index(app) + 1 :])
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_apps(path) & above)
        for path in (ROOT / app).rglob("*.py")
    }
    assert {path: apps for path, apps in offenders.items() if apps} == {}


def test_it_finds_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from takedowns import vics\nimport police.models\n")
    assert _imported_apps(bad) == {"takedowns", "police"}
