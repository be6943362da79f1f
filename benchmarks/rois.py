"""Time to build a pycortex subject's ROIs and a flat map with braintune.data.pycortex (not a test).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/rois.py                 # pycortex's S1 (../shared/pycortex-S1/S1)
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/rois.py --subject DIR --transform NAME --height 1024 --repeat 3

Parts timed (wall and CPU seconds; with --repeat N the best of N, each from a fresh Subject, so
surfaces are read again):
- all ROIs: build_subject_rois = surfaces read and checked, overlays.svg, voxel distances, thick and
  cortical masks, get_roi_verts, get_roi_masks, columns (what `braintune rois` computes);
- flat map: Flatmap(subject, height) (mask and grid) plus the pixel cache and one volume image,
  then one vertex image (its own cache).
Targets: all ROIs of S1 under a minute on 2 cores, a map at height 1024 under 10 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from braintune.data.pycortex import Flatmap, Subject, build_subject_rois
from braintune.machine import cpu_model

S1 = Path(__file__).resolve().parents[2] / "shared" / "pycortex-S1" / "S1"


def timed(function):
    """(result, wall seconds, CPU seconds of this process) of function()."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def best(label: str, function, repeat: int):
    runs = [timed(function) for _ in range(repeat)]
    result, wall, cpu = min(runs, key=lambda run: run[1])
    print(f"{label:<42} wall {wall:6.2f} s   cpu {cpu:6.2f} s   (best of {repeat})", flush=True)
    return result, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subject", type=Path, default=S1, help="pycortex subject folder (default: S1)")
    parser.add_argument("--transform", default="fullhead", help="transform name (default: fullhead, S1's)")
    parser.add_argument("--height", type=int, default=1024, help="flat-map height in pixels (quickflat's default)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each part; the best is reported")
    args = parser.parse_args()
    if not args.subject.is_dir():
        print(f"{args.subject}: no pycortex subject folder (give --subject)", file=sys.stderr)
        return 2
    print(f"command: python {' '.join(sys.argv)}")
    print(f"cpu: {cpu_model()}; {os.cpu_count()} cores visible; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; "
          f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    rois, roi_wall = best("all ROIs (build_subject_rois)", lambda: build_subject_rois(args.subject, args.transform),
                          args.repeat)
    print(f"  {len(rois.columns)} ROIs, {sum(len(c) for c in rois.columns.values())} columns, "
          f"{int(rois.thick.sum())} thick-mask voxels")

    def volume_map():
        subject = Subject(args.subject)
        transform = subject.transform(args.transform)
        volume = np.random.default_rng(0).standard_normal(transform.shape)
        flatmap = Flatmap(subject, args.height)
        return flatmap, flatmap.volume_image(volume, transform)

    (flatmap, image), map_wall = best(f"flat map of a volume, height {args.height}", volume_map, args.repeat)
    values = np.random.default_rng(1).standard_normal(flatmap.subject.n_vertices)
    best("  then a vertex map (same Flatmap)", lambda: flatmap.vertex_image(values), args.repeat)
    best("  then another volume (caches kept)",
         lambda: flatmap.volume_image(np.ones(flatmap.subject.transform(args.transform).shape),
                                      flatmap.subject.transform(args.transform)), args.repeat)
    print(f"  image {image.shape[0]} x {image.shape[1]}, {int(np.isfinite(image).sum())} pixels on the cortex")
    print(f"targets: all ROIs < 60 s: {'met' if roi_wall < 60 else 'MISSED'}; "
          f"map < 10 s: {'met' if map_wall < 10 else 'MISSED'}; "
          f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
