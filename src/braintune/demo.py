"""The embedded default: simulate the data, then run configs/demo.yaml on it.

    OUT/data/fmri             simulated participants (ds003020 layout)
    OUT/data/timit            stand-in TIMIT (original layout, SPHERE audio)
    OUT/data/speech_commands  stand-in Speech Commands v0.02
    OUT/run/                  the study's run folder (tables, figures, report.html)

Each data folder is generated once and reused: its `.complete` marker, written last, holds
the generator's arguments and DATA_VERSION; a folder whose marker differs (or is missing,
after an interruption) is generated again.
"""

from __future__ import annotations

import json
import logging
import shutil
from importlib import resources
from pathlib import Path

from braintune.io import write_atomic
from braintune.study.config import StudyConfig, load_config
from braintune.study.runner import run_study

log = logging.getLogger(__name__)

COMPLETE = ".complete"
DATA_VERSION = 5  # bump when a generator changes what it writes (3: the real layout, individual_repeats; 4: language
# voxels read word and phone embeddings; 5: pycortex subjects on a canonical map, ROI files built by `braintune rois`)


def packaged_config(name: str) -> Path:
    """Path of a config shipped with braintune (configs/<name>.yaml)."""
    return Path(str(resources.files("braintune") / "configs" / f"{name}.yaml"))


def _generate_once(folder: Path, generate, what: str, arguments: dict) -> Path:
    stamp = json.dumps({"version": DATA_VERSION, **arguments}, sort_keys=True)
    marker = folder / COMPLETE
    if marker.is_file() and marker.read_text() == stamp:
        log.info("reusing %s in %s", what, folder)
        return folder
    if folder.exists():  # interrupted, or made by other settings: start again (only inside the demo folder)
        shutil.rmtree(folder)
    log.info("generating %s in %s", what, folder)
    generate(folder, **arguments)
    write_atomic(marker, stamp)
    return folder


# The studies `braintune demo` runs: their packaged config, how many simulated participants they need
# and how many training stories each participant hears.
STUDIES = {"demo": {"config": "demo", "participants": 2, "stories": 8},
           "data-efficiency": {"config": "data-efficiency-demo", "participants": 4, "stories": 12}}


def fmri_settings(size: str = "default", seed: int = 0, participants: int = STUDIES["demo"]["participants"],
                  stories: int = STUDIES["demo"]["stories"]) -> dict:
    """simulate_dataset arguments of the demo's participants ("small": the quick test size).

    High-SNR participants (5 repeats, ceilings 0.5-0.98: a single presentation correlates
    ~0.3-0.9 with the signal) hearing `stories` training stories of 80-100 s (the demo's 8: ~280
    tuning windows), so that a few minutes of brain-tuning learn the language features (the real
    corpus has ~20x more). "small" keeps 5 training stories, as many as align.n_folds' 5 folds need.
    """
    small = size == "small"
    return dict(
        n_participants=participants, n_train_stories=5 if small else stories, story_seconds=(40, 60) if small else (80, 100),
        test_story_seconds=80 if small else 150, n_repeats=5, ceiling_range=(0.5, 0.98), seed=seed,
    )


def simulate_with_rois(out: Path, **settings) -> Path:
    """Simulated participants whose ROI files are built as for ds003020: by `braintune rois` from
    their pycortex subjects and the simulated atlas (braintune.data.fmri.rois)."""
    from braintune.data.fmri import open_dataset
    from braintune.data.fmri.rois import write_dataset_rois
    from braintune.synthetic.fmri import simulate_dataset

    simulate_dataset(out, **settings, write_roi_files=False)
    dataset = open_dataset("ds003020", out)
    write_dataset_rois(dataset, dataset.participants, atlas=out / "simulation_truth" / "atlas")
    return out


def demo_data(out: Path, seed: int = 0, size: str = "default", participants: int = STUDIES["demo"]["participants"],
              stories: int = STUDIES["demo"]["stories"]) -> dict[str, Path]:
    """Generate (or reuse) the demo's three data folders under out/data."""
    from braintune.synthetic.corpora import simulate_speech_commands, simulate_timit

    data = Path(out) / "data"
    return {
        "fmri": _generate_once(data / "fmri", simulate_with_rois, "simulated participants",
                               fmri_settings(size, seed, participants, stories)),
        "timit": _generate_once(data / "timit", simulate_timit, "stand-in TIMIT", {"seed": seed}),
        "speech_commands": _generate_once(
            data / "speech_commands", simulate_speech_commands, "stand-in Speech Commands", {"seed": seed}
        ),
    }


def demo_config(out: Path, data: dict[str, Path], overrides: list[str] = (), study: str = "demo") -> StudyConfig:
    """The study's packaged config (configs/demo.yaml) with the data folders and run folder filled
    in, then `overrides`."""
    fixed = [f"out={Path(out) / 'run'}"] + [f"data.{k}={v}" for k, v in data.items()]
    return load_config(packaged_config(STUDIES[study]["config"]), fixed + list(overrides))


def run_demo(out: str | Path = "demo-run", overrides: list[str] = (), size: str = "default", executor: str | None = None,
             study: str = "demo") -> Path:
    """Simulate the data and run a demo study (STUDIES: the paper's, or the data-efficiency study);
    returns the run folder."""
    out = Path(out).resolve()
    data = demo_data(out, size=size, participants=STUDIES[study]["participants"], stories=STUDIES[study]["stories"])
    return run_study(demo_config(out, data, overrides, study), executor=executor)
