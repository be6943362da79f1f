"""The import layering of docs/architecture.md, checked on the source: each package imports only
the packages it may (data and models know no other stage; nothing imports the CLI)."""

from __future__ import annotations

import ast
from pathlib import Path

import braintune

ROOT = Path(braintune.__file__).parent
BASE = {"errors", "io", "arrays", "settings", "fingerprint", "progress", "training", "machine", "_lazy"}  # shared by every layer
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
    "report": {"data", "encoding"},
    "study": {"data", "models", "features", "encoding", "alignment", "tuning", "probing", "report"},
    "demo": {"study", "synthetic", "data"},
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


def test_only_the_fmri_package_and_the_simulator_import_a_layout_module():
    """Stages reach a dataset through braintune.data.fmri (open_dataset), never its layout's module."""
    importers = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[:2] == ("data", "fmri") or relative.parts[0] == "synthetic":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
                     if isinstance(node, ast.ImportFrom) else
                     [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            if any(n.startswith("braintune.data.fmri.ds003020") for n in names):
                importers.append(str(relative))
    assert importers == []


def test_no_protocol_metric_or_scheme_name_is_compared_outside_its_table():
    """Protocols, ridge metrics and extraction schemes are rows of tables (alignment.protocols.PROTOCOLS,
    encoding.ridge.METRICS, features.extraction.EXTRACTORS): no code branches on their names."""
    names = ("authors", "braintune", "correlation", "reference", "fast")
    found = [f"{path.relative_to(ROOT)}: {line.strip()}" for path in sorted(ROOT.rglob("*.py"))
             for line in path.read_text().splitlines() if any(f'== "{n}"' in line or f"== '{n}'" in line for n in names)]
    assert found == []


def test_no_source_file_is_over_500_lines():
    long = {str(p.relative_to(ROOT)): n for p in ROOT.rglob("*.py") if (n := len(p.read_text().splitlines())) > 500}
    assert long == {}


def test_loading_a_study_config_imports_neither_torch_nor_submitit(tmp_path):
    """Loading and validating configs/demo.yaml (data folders given) is light: no torch, no submitit
    (a subprocess, so that the other tests' imports do not count)."""
    import subprocess
    import sys

    script = ("import sys\n"
              "from braintune.study.config import load_config\n"
              f"load_config({str(ROOT / 'configs' / 'demo.yaml')!r}, ['data.fmri={tmp_path}', 'data.timit={tmp_path}', "
              f"'data.speech_commands={tmp_path}'])\n"
              "print(sorted(m for m in ('torch', 'submitit') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_unknown_layout_and_variant_are_config_errors_naming_the_known_ones(tmp_path):
    import pytest

    from braintune.errors import ConfigError
    from braintune.study.config import load_config

    base = {"models": ["tiny:hubert"], "participants": ["UTS01"], "data": {"fmri": str(tmp_path)}}
    with pytest.raises(ConfigError, match=r"data.layout: unknown fMRI layout 'bids' \(known: ds003020\)"):
        load_config(raw={**base, "data": {"fmri": str(tmp_path), "layout": "bids"}})
    with pytest.raises(ConfigError, match=r"tune.variant: unknown tuning variant 'many' \(known: single"):
        load_config(raw={**base, "tune": {"variant": "many"}})
