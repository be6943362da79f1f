"""The GPU benchmark's printed tables (Markdown), one function per section."""

from __future__ import annotations

from pathlib import Path

import torch

from gpu_parts.extraction import BASELINE


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    for unit, scale in (("h", 3600), ("min", 60)):
        if seconds >= 2 * scale:
            return f"{seconds / scale:.1f} {unit}"
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.0f} s"


def _rate(value: float) -> str:
    """Three significant digits (whole numbers from 1,000 up)."""
    return f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"


def _gib(value: float | None) -> str:
    return "n/a (CPU)" if value is None else f"{value:.2f}"


def _peaks(tuning: dict, parts) -> str:
    """The peak GPU memory of each part of a tuning measurement, "a / b / ..." (one n/a on the CPU)."""
    peaks = [tuning[f"{part}_peak_gib"] for part in parts]
    return _gib(None) if peaks[0] is None else " / ".join(_gib(peak) for peak in peaks)


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def print_extraction(results: dict) -> None:
    print("\n## 1. Feature extraction: seconds of story per second (after a 2 s warm-up)\n")
    rows = []
    for model, measured in results.items():
        baseline = next(r["rate"] for r in measured if r["scheme"] == BASELINE)
        rows += [[model, r["scheme"], r["settings"]["dtype"], f"{r['story_s']:g}", _rate(r["rate"]),
                  f"{r['rate'] / baseline:.1f}", _gib(r["peak_gib"])] for r in measured]
    print(_table(["model", "scheme", "dtype", "story s", "s of story per s", f"x {BASELINE}", "peak GPU GiB"], rows))


def print_tuning(results: dict) -> None:
    first = next(iter(results.values()))
    print(f"\n## 2. Brain-tuning: windows per second ({first['window_s']:g} s windows, {first['windows_per_step']} per "
          f"optimiser step in micro-batches of {first['micro_batch']}, bf16 autocast {first['bf16']}, frozen CNN, "
          f"Adam over backbone and head, {first['voxels']:,} voxels)\n")
    parts = ("cnn", "step_cache", "step_no_cache", "validation")
    print(_table(["model", "CNN cache build", "step, CNN cached", "step, CNN per batch", "validation",
                  "peak GPU GiB (same order)"],
                 [[model, *(_rate(t[f"{p}_windows_per_s"]) for p in parts), _peaks(t, parts)]
                  for model, t in results.items()]))


def print_lora(full: dict, lora: dict) -> None:
    """The LoRA table: each model's full and LoRA brain-tuning side by side (measure_tuning's dicts)."""
    first = next(iter(lora.values()))["lora"]
    print(f"\nLoRA (r {first['r']}, alpha {first['alpha']:g}, dropout {first['dropout']:g} on "
          f"{'/'.join(first['targets'])}; base weights frozen) next to full tuning, the same steps and batch:\n")
    steps = ("step_cache", "step_no_cache")
    rows = [[model, way, f"{t['trainable_parameters']:,}", f"{t['parameters']:,}",
             *(f"{t['windows_per_step'] / t[f'{step}_windows_per_s']:.3g}" for step in steps), _peaks(t, steps)]
            for model in lora for way, t in (("full", full.get(model)), ("LoRA", lora[model])) if t is not None]
    print(_table(["model", "tuning", "trainable parameters", "parameters", "s per step, CNN cached",
                  "s per step, CNN per batch", "peak GPU GiB (same order)"], rows))


def print_probing(features: dict, fits: dict | None) -> None:
    print("\n## 3. Probing\n")
    if features:
        first = next(iter(features.values()))
        print("Feature extraction (float32): seconds of audio per second, 1 s clips in batches of "
              f"{first['batch_size']}, 2-4.5 s utterances one per batch; the model-identity hash apart\n")
        print(_table(["model", "clips", "utterances", "identity hash s", "peak GPU GiB"],
                     [[m, _rate(p["clips_rate"]), _rate(p["utterances_rate"]), f"{p['identity_hash_s']:.2f}",
                       _gib(p["peak_gib"])] for m, p in features.items()]))
    if fits:
        print(f"\nProbe fits of one layer on the CPU ({torch.get_num_threads()} torch threads): synthetic features, "
              "timed on a share of the rows, scaled linearly\n")
        print(_table(["task", "rows timed", "rows real", "s timed", "s per layer (scaled)"],
                     [[t, f"{f['rows_timed']:,}", f"{f['rows_real']:,}", f"{f['seconds_timed']:.2f}",
                       f"{f['seconds_per_layer']:.1f}"] for t, f in fits.items()]))


def print_ridge(r: dict) -> None:
    print(f"\n## 4. Ridge per layer ({r['voxels']:,} voxels x {r['rows']:,} rows x {r['features']:,} features, "
          f"float32, backend {r['backend']}, protocol {r['protocol']}: {r['alphas']} alphas, {r['folds']} folds "
          f"({r['fold_rule']}), metric {r['metric']}; voxel batch {r['voxel_batch']:,})\n")
    print(_table(["seconds per layer", "peak GPU GiB", "median test r"],
                 [[f"{r['seconds']:.2f}", _gib(r["peak_gib"]), f"{r['median_test_r']:.3f}"]]))


def print_projection(rows: list[dict], notes: list[str], config: Path, tiny: bool) -> None:
    print(f"\n## 5. Projected wall time of {config.name} on one GPU\n")
    if tiny:
        print("--tiny: rates of tiny models on small problems, NOT a projection of the study\n")
    print(_table(["stage", "cells", "per cell", "total", "what"],
                 [[r["stage"], r["cells"] or "", _duration(r["per_cell_s"]), _duration(r["total_s"]), r["what"]]
                  for r in rows]))
    for note in notes:
        print(f"note: {note}")

