"""benchmarks/gpu.py (and its parts, benchmarks/gpu_parts/): it runs only on GPU machines, so these
tests keep it working on any CPU."""

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu.py"
SECTIONS = ("## 1. Feature extraction", "## 2. Brain-tuning", "LoRA (r 8", "## 3. Probing", "## 4. Ridge per layer",
            "## 5. Projected wall time")


def _run(*args, **env):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **env}, cwd=ROOT)


def _module(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))  # gpu.py imports its parts, benchmarks/gpu_parts/
    spec = importlib.util.spec_from_file_location("gpu_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


def _positive_numbers(node):
    """Every number in a JSON tree (measured rates, times, sizes)."""
    if isinstance(node, dict):
        return [v for value in node.values() for v in _positive_numbers(value)]
    if isinstance(node, list):
        return [v for value in node for v in _positive_numbers(value)]
    return [node] if isinstance(node, (int, float)) and not isinstance(node, bool) else []


def test_tiny_run_prints_every_section_with_positive_numbers(tmp_path):
    """Guards against the GPU benchmark rotting unseen: `--tiny` runs every part through braintune's
    current APIs on the CPU (tiny models, small problems) and must report each with positive numbers."""
    out = tmp_path / "gpu.json"
    result = _run("--tiny", "--json", str(out))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    for heading in SECTIONS:
        assert heading in result.stdout
    assert "command: python" in result.stdout and "device: CPU:" in result.stdout
    report = json.loads(out.read_text())
    assert report["failures"] == []
    assert report["meta"]["torch"] and report["meta"]["command"].endswith(f"--json {out}")
    models = {"tiny:wav2vec2", "tiny:hubert"}
    for key in ("extraction", "tuning", "tuning_lora", "probe_features"):
        assert set(report[key]) == models, key
    for rows in report["extraction"].values():
        assert {row["scheme"] for row in rows} == {"reference", "fast", "study"}
        assert all(row["rate"] > 0 for row in rows)
    for key in ("tuning", "tuning_lora", "probe_features", "probe_fits", "ridge"):
        numbers = _positive_numbers(report[key])
        assert numbers and all(v > 0 for v in numbers), key
    for model in models:  # LoRA trains the adapters and the head only, on the same steps
        full, lora = report["tuning"][model], report["tuning_lora"][model]
        assert lora["parameters"] > full["parameters"] > full["trainable_parameters"] > lora["trainable_parameters"]
        assert full["windows_per_step"] == lora["windows_per_step"]
    ridge = report["ridge"]  # configs/lebel2024.yaml aligns by the authors' protocol
    assert (ridge["protocol"], ridge["fold_rule"], ridge["metric"]) == ("authors", "ChunkFolds", "variance_explained")
    assert [row["stage"] for row in report["projection"]][-1] == "total"
    assert all(row["total_s"] > 0 for row in report["projection"])


def test_without_cuda_it_says_to_use_tiny():
    """Guards against a traceback (or a silent CPU run at the real sizes) where no GPU is visible."""
    result = _run(CUDA_VISIBLE_DEVICES="")
    assert result.returncode == 2
    assert "no CUDA device" in result.stderr and "--tiny" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_projection_arithmetic(monkeypatch):
    """Guards against wrong projected hours: each stage's per-cell time and cell count, from given
    rates and the study sizes, with and without the CNN cache."""
    gpu = _module(monkeypatch)
    study = gpu.StudySizes()
    results = {
        "tuning": {"m": {"cnn_windows_per_s": 100.0, "step_cache_windows_per_s": 10.0,
                         "step_no_cache_windows_per_s": 5.0, "validation_windows_per_s": 50.0}},
        "probe_features": {"m": {"identity_hash_s": 1.0, "utterances_rate": 100.0, "clips_rate": 1000.0}},
        "ridge": {"seconds": 30.0, "voxels": 50_000, "rows": 9_000, "features": 3_072},
        "probe_fits": {"words": {"seconds_per_layer": 10.0}, "mfcc": {"seconds_per_layer": 2.0}},
    }
    for cache in (True, False):
        cfg = gpu.load_study(ROOT / "configs" / "lebel2024.yaml", [f"tune.cnn_cache={str(cache).lower()}"], tiny=False)
        results["extraction"] = {"m": [{"settings": gpu.to_dict(cfg.features), "rate": 10.0}]}
        rows, notes = gpu.project(cfg, study, results, n_layers=13, n_features=3_072)
        got = {row["stage"]: (row["cells"], row["per_cell_s"]) for row in rows}
        validation_per_window = 1 / 50 if cache else 1 / 50 + 1 / 100
        expected = {
            "tune: CNN cache": (16, 9_291 / 100 if cache else 0.0),
            "tune: training": (16, 30 * 9_000 / (10 if cache else 5)),
            "tune: validation": (16, 31 * 291 * validation_per_window),
            "align: features, pretrained": (2, (2 * 9_000 + 20 * 25 + 2 * 291 + 20) / 10),
            "align: features, tuned": (16, (2 * 9_000 + 20 * 25 + 2 * 291 + 20) / 10),
            "align: ridge": (32, 13 * 30 * 2),
            "probe: features": (18, 2 + 6_300 * 3.1 / 100 + 105_829 / 1000),
            "probe: fits (CPU)": (18, 13 * 12),
        }
        assert set(got) == set(expected) | {"total"}
        for stage, (cells, seconds) in expected.items():
            assert got[stage][0] == cells and math.isclose(got[stage][1], seconds, rel_tol=1e-12), stage
        total = sum(cells * seconds for cells, seconds in expected.values())
        assert math.isclose(rows[-1]["total_s"], total, rel_tol=1e-12)
        assert notes == ["ridge timed at 50,000 voxels, scaled linearly to 100,000"]


def test_ridge_times_each_protocol_by_its_own_fold_rule_and_metric(monkeypatch):
    """Guards against the ridge part choosing its folds by a protocol's name (it once gave every
    protocol but one the authors' bootstrap folds): each row of PROTOCOLS is timed with its rule."""
    import torch

    from braintune.alignment.protocols import PROTOCOLS
    from braintune.alignment.settings import AlignSettings

    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    from gpu_parts.ridge import measure_ridge
    from gpu_parts.sizes import Measure

    measure = Measure.tiny()
    story_rows = [measure.ridge_rows // 25] * 25
    for name, rules in PROTOCOLS.items():
        align = AlignSettings(protocol=name)
        got = measure_ridge(align, measure, 25, torch.device("cpu"))
        assert (got["protocol"], got["fold_rule"], got["metric"]) == (name, type(rules.folds).__name__, rules.metric)
        assert got["folds"] == len(rules.folds.folds(story_rows, align)), name
