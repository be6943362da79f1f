"""The difference the alignment protocol makes (braintune's vs the authors'), measured side by side.

On a simulated participant whose test story is as long as ds003020's and heard 10 times, the
true stimulus features (the simulator's ground truth, HRF-convolved) are aligned by both
protocols (braintune.alignment.settings), once each, with the same alphas. Printed: the noise
ceilings (the authors' / braintune's, per voxel, on the rows each protocol uses), and the
normalised alignment per ROI under each protocol.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/protocols.py [--test-seconds 300] [--repeats 10]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from braintune.alignment.run import align_participant, test_data
from braintune.alignment.settings import AlignSettings
from braintune.arrays import zscore
from braintune.data.ds003020 import Dataset, resolve_split
from braintune.encoding import noise_ceiling, noise_ceiling_authors
from braintune.features.resample import make_delayed
from braintune.synthetic.fmri import load_true_features, simulate_dataset


def true_features(root: Path, stories: list[str], first_rows: dict[str, int]) -> dict[str, np.ndarray]:
    """The simulator's true features of each story as a one-layer "model", z-scored and delayed like a model's."""
    out = {}
    for story in stories:
        truth = load_true_features(root, story)
        x = np.concatenate([truth["auditory_rows"], truth["language_rows"]], axis=1)[first_rows.get(story, 0):]
        out[story] = make_delayed(zscore(x), tuple(AlignSettings().delays))[None]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test-seconds", type=float, default=300.0, help="length of the test story (default 300 s)")
    parser.add_argument("--repeats", type=int, default=10, help="presentations of the test story (default 10)")
    parser.add_argument("--voxels", type=int, default=600, help="voxels of the participant (default 600)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        root = simulate_dataset(Path(scratch) / "sim", n_participants=1, n_train_stories=8, story_seconds=(90, 150),
                                test_story_seconds=args.test_seconds, n_repeats=args.repeats, n_voxels=args.voxels,
                                seed=1)
        dataset = Dataset(root)
        split = resolve_split(dataset, ["UTS01"])["UTS01"]
        print(f"simulated in {time.perf_counter() - start:.0f} s: {len(split.train)} training stories, test story "
              f"{len(dataset.row_times(split.test))} rows x {args.repeats} repeats, {dataset.n_voxels('UTS01')} voxels")
        tables, ceilings = {}, {}
        for protocol in ("braintune", "authors"):
            settings = AlignSettings(protocol=protocol)
            skip = {split.test: settings.rules.skip_test_rows}
            features = true_features(root, [*split.train, split.test], skip)
            ceilings[protocol] = test_data(dataset, "UTS01", split, settings)[0].astype(np.float64)
            tables[protocol] = align_participant(dataset, "UTS01", split, features, Path(scratch) / protocol,
                                                 model="truth", layers=[0], settings=settings).set_index("roi")
        signal = ceilings["braintune"] > 0.05
        repeats = dataset.load_repeats("UTS01", split.test)
        same_rows = noise_ceiling_authors(repeats)[signal] / noise_ceiling(repeats)[signal].astype(np.float64)
        ratio = ceilings["authors"][signal] / ceilings["braintune"][signal]
        print(f"noise ceiling of the {signal.sum()} voxels above 0.05, authors' / braintune's per voxel:")
        print(f"  formula alone (same rows): median {np.median(same_rows):.4f}, max {same_rows.max():.4f}")
        print(f"  as the protocols run (authors' without the first 40 rows): median {np.median(ratio):.4f}, "
              f"min {ratio.min():.4f}, max {ratio.max():.4f}")
        print(f"{'ROI':<18} {'braintune':>10} {'authors':>10} {'authors - braintune':>20}   voxels (b / a)")
        for roi in tables["braintune"].index:
            b, a = (tables[p].loc[roi] for p in ("braintune", "authors"))
            print(f"{roi:<18} {b['alignment']:>10.4f} {a['alignment']:>10.4f} {a['alignment'] - b['alignment']:>+20.4f}"
                  f"   {int(b['n_voxels'])} / {int(a['n_voxels'])}")


if __name__ == "__main__":
    main()
