"""Session fixtures of the probing tests: small stand-in TIMIT and Speech Commands corpora.

Import the fixtures into a test module with `from conftest_probing import ...` (pytest puts
this folder on sys.path). Treat the corpora as read-only: they are shared.
"""

import pytest

TIMIT_SETTINGS = dict(train_speakers=8, test_speakers=4, sx_per_speaker=3, si_per_speaker=2, sx_readers=3, seed=0)
COMMANDS_SETTINGS = dict(speakers=6, validation_speakers=1, test_speakers=1, seed=0)


@pytest.fixture(scope="session")
def standin_timit(tmp_path_factory):
    """Root of a stand-in TIMIT (TIMIT_SETTINGS: 8 TRAIN + 4 core-named TEST speakers, 7 sentences each; ~3 s)."""
    from braintune.data.standins import simulate_timit

    return simulate_timit(tmp_path_factory.mktemp("timit"), progress=False, **TIMIT_SETTINGS)


@pytest.fixture(scope="session")
def standin_commands(tmp_path_factory):
    """Root of a stand-in Speech Commands (COMMANDS_SETTINGS: 6 voices x 35 words, 1 validation, 1 test; ~2 s)."""
    from braintune.data.standins import simulate_speech_commands

    return simulate_speech_commands(tmp_path_factory.mktemp("speech_commands"), progress=False, **COMMANDS_SETTINGS)
