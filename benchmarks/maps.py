"""Time to draw the report's brain maps (braintune.report.maps, run_maps) (not a test).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/maps.py                 # the demo's maps, then S1's
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/maps.py --skip-demo --height 1024 --subject DIR --transform NAME

Parts timed (wall seconds):
- demo: all maps of a demo-sized run: 2 simulated participants of the demo's size (simulate_dataset's
  default ~400 voxels, its ROI files built by `braintune rois`), voxel arrays for the tiny model's 7
  layers (pretrained and tuned, made up), run_maps.brain_maps at the report's height: per participant
  one CortexMap (flat map, pixel matrix, outlines) and 3 figures (alignment, difference, layer
  preference), each written as PNG and PDF. The simulation itself is not timed.
- S1 (pycortex's example subject, a real-size cortex): the one-time part per participant (Flatmap,
  pixel matrix, thick mask, outlines: S1's overlays ROIs drawn as areas too), then each figure (made
  up per-voxel values, PNG and PDF).
Targets: all maps of the demo add under 30 s; on S1 at height 1024 each map under 10 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from braintune.machine import cpu_model

S1 = Path(__file__).resolve().parents[2] / "shared" / "pycortex-S1" / "S1"
DEMO_LAYERS = list(range(7))  # tiny-pretrained:hubert: 6 blocks + the input to the first


def timed(label: str, function):
    start = time.perf_counter()
    result = function()
    wall = time.perf_counter() - start
    print(f"{label:<58} wall {wall:6.2f} s", flush=True)
    return result, wall


def made_up_layers(n_voxels: int, variant: str, seed: int):
    """VoxelLayers over DEMO_LAYERS: each voxel prefers a layer, the tuned variant later ones; a fifth of
    the voxels below the ceiling threshold, a tenth not significant."""
    from braintune.report.run_maps import VoxelLayers

    rng = np.random.default_rng(seed)
    preferred = rng.integers(1, 6, n_voxels) + (variant == "tuned")
    layers = np.array(DEMO_LAYERS)[:, None]
    r = 0.4 * np.exp(-0.5 * ((layers - preferred) / 1.5) ** 2)
    r += 0.02 * rng.standard_normal((len(DEMO_LAYERS), n_voxels))
    ceiling = np.where(rng.random(n_voxels) < 0.2, 0.01, rng.uniform(0.3, 0.9, n_voxels))
    p = np.where(rng.random((len(DEMO_LAYERS), n_voxels)) < 0.1, 0.5, 0.001)
    return VoxelLayers(DEMO_LAYERS, r, ceiling, p)


def demo_maps(folder: Path, height: int) -> float:
    """Simulate the demo's participants, write a run with made-up voxel arrays, time brain_maps."""
    import yaml

    from braintune.data.fmri import open_dataset
    from braintune.data.fmri.rois import write_dataset_rois
    from braintune.report.run_maps import MapSettings, brain_maps
    from braintune.synthetic.fmri import simulate_dataset

    data = folder / "fmri"
    simulate_dataset(data, n_participants=2, n_train_stories=1, story_seconds=(30, 30), n_repeats=2,
                     write_roi_files=False)
    dataset = open_dataset("ds003020", data)
    write_dataset_rois(dataset, dataset.participants, atlas=data / "simulation_truth" / "atlas")
    run = folder / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"data": {"fmri": str(data), "layout": "ds003020"}}))
    for k, participant in enumerate(dataset.participants):
        for variant in ("pretrained", "tuned"):
            voxels = made_up_layers(dataset.n_voxels(participant), variant, seed=k)
            out = run / "cache" / "alignment" / variant / "voxels" / "tiny-pretrained-hubert" / participant
            out.mkdir(parents=True)
            for i, layer in enumerate(voxels.layers):
                np.savez(out / f"layer_{layer:02d}.npz", r=voxels.r[i], ceiling=voxels.ceiling, p_value=voxels.p[i])
    sizes = [dataset.n_voxels(p) for p in dataset.participants]
    print(f"demo: {len(dataset.participants)} participants, {sizes} voxels, "
          f"{len(DEMO_LAYERS)} layers, flat maps {height} pixels high")
    figures, wall = timed("  all maps of the demo (brain_maps: 6 figures, PNG + PDF)",
                          lambda: brain_maps(run, MapSettings(height=height)))
    print(f"  {len(figures)} figures, {sum(len(f.png) for f in figures) / 1e6:.1f} MB of PNG in the report")
    return wall


def subject_maps(subject_dir: Path, transform: str, height: int) -> float:
    """Time the one-time part and each figure on one real-size subject; returns the slowest figure's seconds."""
    from braintune.data.pycortex import Subject, roi_vertices
    from braintune.report.figures import render
    from braintune.report.maps import CortexMap
    from braintune.report.run_maps import MapSettings, draw_model_maps, variant_maps

    print(f"{subject_dir.name} ({transform}), flat map {height} pixels high")
    areas, _ = timed("  overlays ROIs as areas (roi_vertices; not part of a map)",
                     lambda: roi_vertices(Subject(subject_dir)))

    def one_time():
        cortex = CortexMap(subject_dir, transform, height, areas)
        cortex.flatmap.pixel_matrix(cortex.transform)
        return cortex, int(cortex.thick.sum()), len(cortex.roi_outlines), len(cortex.area_outlines)

    (cortex, n_voxels, n_rois, n_areas), _ = timed(
        "  once per participant: Flatmap, pixel matrix, thick mask, outlines", one_time)
    print(f"  image {cortex.shape[0]} x {cortex.shape[1]}, {n_voxels} thick-mask voxels, {n_rois} ROI outlines, "
          f"{n_areas} area outlines")
    settings = MapSettings()
    maps = {v: variant_maps(made_up_layers(n_voxels, v, seed=0), settings) for v in ("pretrained", "tuned")}
    figures, drawing = timed("  the three figures' images and artists (draw_model_maps)",
                             lambda: draw_model_maps(cortex, subject_dir.name, "model", maps, settings))
    slowest = 0.0
    for kind, fig in figures.items():
        _, wall = timed(f"  {kind} figure: PNG (120 dpi) + PDF", lambda fig=fig: (render(fig, "png", dpi=120),
                                                                                 render(fig, "pdf")))
        slowest = max(slowest, drawing / len(figures) + wall)
    print(f"  slowest map: {slowest:.2f} s (a third of the images and artists, plus its rendering)")
    return slowest


def main() -> int:
    from braintune.report.run_maps import MAP_HEIGHT

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subject", type=Path, default=S1, help="real-size pycortex subject (default: S1)")
    parser.add_argument("--transform", default="fullhead", help="its transform (default: fullhead, S1's)")
    parser.add_argument("--height", type=int, default=1024, help="the subject's flat-map height (default 1024)")
    parser.add_argument("--demo-height", type=int, default=MAP_HEIGHT, help=f"the report's (default {MAP_HEIGHT})")
    parser.add_argument("--skip-demo", action="store_true", help="time only the real-size subject")
    args = parser.parse_args()
    print(f"command: python {' '.join(sys.argv)}")
    print(f"cpu: {cpu_model()}; {os.cpu_count()} cores visible; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; "
          f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    verdicts = []
    if not args.skip_demo:
        with tempfile.TemporaryDirectory(prefix="maps-benchmark-") as folder:
            wall = demo_maps(Path(folder), args.demo_height)
        verdicts.append(f"demo maps < 30 s: {'met' if wall < 30 else 'MISSED'} ({wall:.1f} s)")
    if args.subject.is_dir():
        slowest = subject_maps(args.subject, args.transform, args.height)
        verdicts.append(f"{args.subject.name} map < 10 s: {'met' if slowest < 10 else 'MISSED'} ({slowest:.1f} s)")
    else:
        print(f"{args.subject}: no pycortex subject folder; real-size part skipped (give --subject)")
    print("targets: " + "; ".join(verdicts) + f"; load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
