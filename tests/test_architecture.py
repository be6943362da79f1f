"""The import layering of docs/architecture.md, checked on the source: each package imports only
the packages it may (data and models know no other stage; nothing imports the CLI)."""

from __future__ import annotations

import ast
from pathlib import Path

import braintune

ROOT = Path(braintune.__file__).parent
BASE = {"errors", "io", "arrays", "settings", "fingerprint", "progress", "training", "_lazy"}  # shared by every layer
ALLOWED = {
    "data": set(),
    "models": {"data"},
    "synthetic": {"data"},
    "encoding": set(),
    "features": {"data", "models"},
    "alignment": {"data", "models", "features", "encoding"},
    "tuning": {"data", "models", "encoding"},
    "probing": {"data", "models", "encoding"},
    "pretraining": {"data", "models", "synthetic", "probing"},
    "report": set(),
    "study": {"data", "models", "features", "encoding", "alignment", "tuning", "probing", "report"},
    "demo": {"study", "synthetic"},
    "cli": {"data", "models", "synthetic", "features", "encoding", "alignment", "tuning", "probing", "report",
            "study", "demo", "pretraining"},
}


def imported_packages(path: Path) -> set[str]:
    """The top-level braintune modules/packages a source file imports."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "braintune":
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "braintune" and len(parts) > 1 and (
                    (ROOT / parts[1]).is_dir() or (ROOT / f"{parts[1]}.py").is_file()):
                out.add(parts[1])
    return out


def test_each_package_imports_only_what_it_may():
    crossings = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        package = relative.parts[0].removesuffix(".py")
        if package in BASE or package in ("__init__", "__main__"):
            allowed = BASE | ({"cli"} if package == "__main__" else set())
        else:
            allowed = BASE | ALLOWED[package]
        crossings += [f"{relative} imports braintune.{p}" for p in imported_packages(path) - allowed - {package}]
    assert crossings == []


def test_the_base_modules_import_no_stage():
    for name in BASE:
        path = ROOT / f"{name}.py"
        assert imported_packages(path) <= BASE, name
