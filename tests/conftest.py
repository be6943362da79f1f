"""Shared fixtures."""

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

    braintune.data.simulate.simulate_dataset with SIM_DATASET_SETTINGS:
    participants UTS01, UTS02 (about 200 voxels each, x0.8-1.2: ~25% auditory, ~35% language,
    the rest noise; true ceilings of signal voxels uniform in 0.02-0.9);
    training stories simstory01..simstory04 of 40-60 s (10-20 rows each, TR 2 s),
    validation story "stagefright" (40-60 s), test story "wheretheressmoke" (160 s, 70 rows,
    5 repeats); seed 0. Ground truth: braintune.data.simulate.load_truth(root, participant)
    and load_true_features(root, story). Treat it as read-only: it is shared by all tests.
    """
    from braintune.data.simulate import simulate_dataset

    return simulate_dataset(tmp_path_factory.mktemp("sim_ds003020"), **SIM_DATASET_SETTINGS)
