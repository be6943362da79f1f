"""The embedded default: simulate the data, then run configs/demo.yaml on it.

    OUT/data/fmri             simulated participants (ds003020 layout)
    OUT/data/timit            stand-in TIMIT (original layout, SPHERE audio)
    OUT/data/speech_commands  stand-in Speech Commands v0.02
    OUT/run/                  the study's run folder (tables, figures, report.html)

Each data folder is generated once (a `.complete` marker says it finished) and reused.
"""

from __future__ import annotations

import logging
import shutil
from importlib import resources
from pathlib import Path

from braintune.io import write_atomic
from braintune.study.config import StudyConfig, load_config
from braintune.study.runner import run_study

log = logging.getLogger(__name__)

COMPLETE = ".complete"


def packaged_config(name: str) -> Path:
    """Path of a config shipped with braintune (configs/<name>.yaml)."""
    return Path(str(resources.files("braintune") / "configs" / f"{name}.yaml"))


def _generate_once(folder: Path, generate, what: str) -> Path:
    if (folder / COMPLETE).exists():
        log.info("reusing %s in %s", what, folder)
        return folder
    if folder.exists():  # an interrupted generation: start it again (only inside the demo folder)
        shutil.rmtree(folder)
    log.info("generating %s in %s", what, folder)
    generate(folder)
    write_atomic(folder / COMPLETE, "")
    return folder


def fmri_settings(size: str = "default", seed: int = 0) -> dict:
    """simulate_dataset arguments of the demo's participants ("small": the quick test size).

    High-SNR participants (5 repeats, ceilings 0.5-0.98: a single presentation correlates
    ~0.3-0.9 with the signal) and, by default, ~20 minutes of stories (~410 tuning windows),
    so that a few minutes of brain-tuning learn the language features (the real corpus has
    ~20x more).
    """
    small = size == "small"
    return dict(
        n_participants=2, n_train_stories=4 if small else 12, story_seconds=(40, 60) if small else (80, 100),
        test_story_seconds=80 if small else 150, n_repeats=5, ceiling_range=(0.5, 0.98), seed=seed,
    )


def demo_data(out: Path, seed: int = 0, size: str = "default") -> dict[str, Path]:
    """Generate (or reuse) the demo's three data folders under out/data."""
    from braintune.data.simulate import simulate_dataset
    from braintune.data.standins import simulate_speech_commands, simulate_timit

    data = Path(out) / "data"
    fmri_args = fmri_settings(size, seed)
    return {
        "fmri": _generate_once(data / "fmri", lambda p: simulate_dataset(p, **fmri_args), "simulated participants"),
        "timit": _generate_once(data / "timit", lambda p: simulate_timit(p, seed=seed), "stand-in TIMIT"),
        "speech_commands": _generate_once(
            data / "speech_commands", lambda p: simulate_speech_commands(p, seed=seed), "stand-in Speech Commands"
        ),
    }


def demo_config(out: Path, data: dict[str, Path], overrides: list[str] = ()) -> StudyConfig:
    """configs/demo.yaml with the data folders and run folder filled in, then `overrides`."""
    fixed = [f"out={Path(out) / 'run'}"] + [f"data.{k}={v}" for k, v in data.items()]
    return load_config(packaged_config("demo"), fixed + list(overrides))


def run_demo(out: str | Path = "demo-run", overrides: list[str] = (), size: str = "default", executor: str | None = None) -> Path:
    """Simulate the data and run the demo study; returns the run folder."""
    out = Path(out).resolve()
    data = demo_data(out, size=size)
    return run_study(demo_config(out, data, overrides), executor=executor)
