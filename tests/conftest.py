"""Shared session fixtures: a simulated ds003020 corpus and stand-in TIMIT and Speech Commands.

Treat them as read-only: every test of the session shares them.
"""

import functools
import os
from pathlib import Path

import pytest

SIM_DATASET_SETTINGS = dict(
    n_participants=2,
    n_train_stories=4,
    story_seconds=(40.0, 60.0),
    test_story_seconds=160.0,
    n_repeats=5,
    n_voxels=200,
    tr=2.0,
    seed=0,
)


@pytest.fixture(scope="session")
def sim_dataset(tmp_path_factory):
    """Root Path of a small simulated ds003020 corpus, generated once per test session (5-20 s).

    braintune.synthetic.fmri.simulate_dataset with SIM_DATASET_SETTINGS:
    participants UTS01, UTS02 (about 200 voxels each, x0.8-1.2: 15% auditory, 45% language (fmri.SHARES),
    the rest noise; true ceilings of signal voxels uniform in 0.02-0.9);
    training stories simstory01..simstory04 of 40-60 s (10-20 rows each, TR 2 s),
    validation story "stagefright" (40-60 s), test story "wheretheressmoke" (160 s, 70 rows,
    5 repeats); seed 0. Ground truth: braintune.synthetic.fmri.load_truth(root, participant)
    and load_true_features(root, story). Treat it as read-only: it is shared by all tests.
    """
    from braintune.synthetic.fmri import simulate_dataset

    return simulate_dataset(tmp_path_factory.mktemp("sim_ds003020"), **SIM_DATASET_SETTINGS)


@pytest.fixture(scope="session")
def sim_dataset_paper_names(tmp_path_factory):
    """sim_dataset's settings, its training stories named as four of ds003020's sessions 1-5
    (the paper's split, split.stories: paper, finds them; it warns of the 21 others)."""
    from braintune.synthetic.fmri import simulate_dataset

    names = ["alternateithicatom", "avatar", "legacy", "souls"]
    return simulate_dataset(tmp_path_factory.mktemp("sim_paper_names"), **SIM_DATASET_SETTINGS, story_names=names)


TIMIT_SETTINGS = dict(train_speakers=8, test_speakers=4, sx_per_speaker=3, si_per_speaker=2, sx_readers=3, seed=0)
COMMANDS_SETTINGS = dict(speakers=6, validation_speakers=1, test_speakers=1, seed=0)


@pytest.fixture(scope="session")
def standin_timit(tmp_path_factory):
    """Root of a stand-in TIMIT (TIMIT_SETTINGS: 8 TRAIN + 4 core-named TEST speakers, 7 sentences each; ~3 s)."""
    from braintune.synthetic.corpora import simulate_timit

    return simulate_timit(tmp_path_factory.mktemp("timit"), progress=False, **TIMIT_SETTINGS)


@pytest.fixture(scope="session")
def standin_commands(tmp_path_factory):
    """Root of a stand-in Speech Commands (COMMANDS_SETTINGS: 6 voices x 35 words, 1 validation, 1 test; ~2 s)."""
    from braintune.synthetic.corpora import simulate_speech_commands

    return simulate_speech_commands(tmp_path_factory.mktemp("speech_commands"), progress=False, **COMMANDS_SETTINGS)


def write_real_layout(root, participants=("UTS01", "UTS02"), stories=("storya", "storyb", "storyc"), n_voxels=12,
                      repeats=3, unheard=None, seed=0):
    """A small ds003020 folder written by hand in the real layout (not by the simulator).

    Each story has respdict 30 (10 response rows) and 40 s of audio (the last row sits at
    29 s); "stagefright" and "wheretheressmoke" are added; the test story holds "data" (the
    mean) and "individual_repeats". unheard: participant -> stories without a response file.
    ROI files name A1 and PGi. Returns root.
    """
    import json

    import h5py
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(seed)
    names = [*stories, "stagefright", "wheretheressmoke"]
    der = root / "derivative"
    (der / "rois").mkdir(parents=True)
    (root / "stimuli").mkdir()
    (der / "respdict.json").write_text(json.dumps(dict.fromkeys(names, 30)))
    for story in names:
        sf.write(root / "stimuli" / f"{story}.wav", (0.1 * rng.standard_normal(16000 * 40)).astype(np.float32), 16000)
    for p in participants:
        folder = der / "preprocessed_data" / p
        folder.mkdir(parents=True)
        for story in names:
            if story in (unheard or {}).get(p, ()):
                continue
            with h5py.File(folder / f"{story}.hf5", "w") as f:
                if story == "wheretheressmoke":
                    reps = rng.standard_normal((repeats, 10, n_voxels)).astype(np.float32)
                    f["data"], f["individual_repeats"] = reps.mean(0), reps
                else:
                    f["data"] = rng.standard_normal((10, n_voxels)).astype(np.float32)
        (der / "rois" / f"{p}.json").write_text(json.dumps({"A1": [0, 1, 2], "PGi": [3, 4, 5]}))
    return root

# another valid value of every AlignSettings field (tests that each result-changing one reaches the keys)
OTHER_ALIGN_VALUES = {"protocol": "authors", "alphas": [1.0, 10.0], "ceiling_threshold": 0.1, "n_folds": 3,
                      "delays": [1, 2, 3], "voxel_batch": 7, "backend": "numpy", "atlas": "/atlas", "affines": "/affines",
                      "permutations": 50, "permutation_block": 5, "fdr": 0.1}
TOGETHER = {"atlas": "affines", "affines": "atlas"}  # settings given together (the authors' ROI values need both)


def write_fake_outputs(cell, folder):
    """What a finished cell of cell.stage leaves in its folder (a stand-in backbone file, a
    one-row table), for tests that replace the stage runners."""
    from braintune.study.stages import STAGE_TABLE

    for name in STAGE_TABLE[cell.stage].outputs:
        if name == "table.csv":
            (folder / name).write_text(f"model,variant,value\n{cell.model},x,1\n")
        else:
            (folder / name).mkdir(exist_ok=True)
            (folder / name / "config.json").write_text("{}")


@pytest.fixture
def real_layout(tmp_path):
    """Root of write_real_layout(tmp_path / "ds003020") (two participants, three training stories)."""
    return write_real_layout(tmp_path / "ds003020")


def write_timit_layout(root, speakers=(("TRAIN", "DR1", "FAKS0"), ("TRAIN", "DR2", "MABC0"), ("TEST", "DR1", "MDAB0"))):
    """A tiny TIMIT written by hand in the real layout: an SA1 and an SX3 per speaker (two sentence
    types, as the sentence-type probe needs), 4000 samples of 16 kHz SPHERE audio with its .PHN,
    .WRD and .TXT. Returns root."""
    import numpy as np

    from braintune.synthetic.corpora import write_sphere

    for split, region, speaker in speakers:
        folder = root / split / region / speaker
        folder.mkdir(parents=True)
        for utterance in ("SA1", "SX3"):
            write_sphere(folder / f"{utterance}.WAV", 0.1 * np.sin(np.arange(4000) / 5.0))
            (folder / f"{utterance}.PHN").write_text("0 1000 h#\n1000 3000 iy\n3000 4000 h#\n")
            (folder / f"{utterance}.WRD").write_text("1000 3000 she\n")
            (folder / f"{utterance}.TXT").write_text("0 4000 She.\n")
    return root


def write_commands_layout(root, words=("yes", "no"), speakers=("0a1b2c3d", "1b2c3d4e", "2c3d4e5f")):
    """A tiny Speech Commands v0.02 written by hand: every speaker says every word (0.5 s of
    16 kHz 16-bit PCM); the second speaker is listed for validation, the third for testing. Returns root."""
    import numpy as np
    import soundfile as sf

    for word in words:
        (root / word).mkdir(parents=True)
        for speaker in speakers:
            sf.write(root / word / f"{speaker}_nohash_0.wav", 0.1 * np.sin(np.arange(8000) / 3.0), 16000,
                     subtype="PCM_16")
    for name, speaker in (("validation_list.txt", speakers[1]), ("testing_list.txt", speakers[2])):
        (root / name).write_text("".join(f"{word}/{speaker}_nohash_0.wav\n" for word in words))
    return root


# Slurm: the tests marked `slurm` need a cluster like the one .ci/slurm-up starts (partitions
# debug, gpu with 2 GPUs, lab for account "lab"). They run whenever `sinfo` shows it, and are
# skipped (with the reason in the report header) when it does not; with
# BRAINTUNE_REQUIRE_SLURM=1 (CI) they fail instead.
SLURM_PARTITIONS = {"debug", "gpu", "lab"}


@functools.lru_cache(maxsize=1)
def slurm_status() -> str | None:
    """None when the test cluster answers, else why the Slurm tests cannot run."""
    import shutil
    import subprocess

    if shutil.which("sinfo") is None:
        return "sinfo is not installed (start a test cluster: sudo .ci/slurm-up)"
    try:
        done = subprocess.run(["sinfo", "--noheader", "--format=%P"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 30 s"
    if done.returncode != 0:
        return f"sinfo does not answer: {(done.stderr.strip().splitlines() or ['?'])[-1]} (sudo .ci/slurm-up starts one)"
    missing = SLURM_PARTITIONS - {p.rstrip("*") for p in done.stdout.split()}
    if missing:
        return f"this cluster lacks the test partitions {sorted(missing)} that .ci/slurm-up defines"
    return None


def pytest_report_header(config):
    status = slurm_status()
    if status is None:
        return "slurm: sinfo answers; the tests marked slurm run"
    required = " and BRAINTUNE_REQUIRE_SLURM=1: they fail" if os.environ.get("BRAINTUNE_REQUIRE_SLURM") == "1" else ""
    return f"slurm: the tests marked slurm cannot run here: {status}{required}"


PYCORTEX_S1 = Path(__file__).resolve().parents[2] / "shared" / "pycortex-S1" / "S1"


@pytest.fixture(scope="session")
def pycortex_s1() -> Path:
    """pycortex's example subject S1 (../shared/pycortex-S1/S1 beside the repository): skips without it,
    or fails under BRAINTUNE_REQUIRE_S1=1 (CI)."""
    if not PYCORTEX_S1.is_dir():
        if os.environ.get("BRAINTUNE_REQUIRE_S1") == "1":
            pytest.fail(f"BRAINTUNE_REQUIRE_S1=1 but pycortex's example subject S1 is not at {PYCORTEX_S1}")
        pytest.skip(f"pycortex's example subject S1 is not at {PYCORTEX_S1}")
    return PYCORTEX_S1


@pytest.fixture(scope="session")
def slurm_cluster():
    """Requires the test cluster (see slurm_status): skips without it, or fails under BRAINTUNE_REQUIRE_SLURM=1."""
    status = slurm_status()
    if status is not None:
        if os.environ.get("BRAINTUNE_REQUIRE_SLURM") == "1":
            pytest.fail(f"BRAINTUNE_REQUIRE_SLURM=1 but {status}")
        pytest.skip(f"no Slurm test cluster: {status}")
