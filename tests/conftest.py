"""Shared session fixtures: a simulated ds003020 corpus and stand-in TIMIT and Speech Commands.

Treat them as read-only: every test of the session shares them.
"""

import functools
import os

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
    participants UTS01, UTS02 (about 200 voxels each, x0.8-1.2: ~25% auditory, ~35% language,
    the rest noise; true ceilings of signal voxels uniform in 0.02-0.9);
    training stories simstory01..simstory04 of 40-60 s (10-20 rows each, TR 2 s),
    validation story "stagefright" (40-60 s), test story "wheretheressmoke" (160 s, 70 rows,
    5 repeats); seed 0. Ground truth: braintune.synthetic.fmri.load_truth(root, participant)
    and load_true_features(root, story). Treat it as read-only: it is shared by all tests.
    """
    from braintune.synthetic.fmri import simulate_dataset

    return simulate_dataset(tmp_path_factory.mktemp("sim_ds003020"), **SIM_DATASET_SETTINGS)


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


@pytest.fixture(scope="session")
def slurm_cluster():
    """Requires the test cluster (see slurm_status): skips without it, or fails under BRAINTUNE_REQUIRE_SLURM=1."""
    status = slurm_status()
    if status is not None:
        if os.environ.get("BRAINTUNE_REQUIRE_SLURM") == "1":
            pytest.fail(f"BRAINTUNE_REQUIRE_SLURM=1 but {status}")
        pytest.skip(f"no Slurm test cluster: {status}")
