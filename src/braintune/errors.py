"""Errors that mean "your input is wrong": the CLI prints them as one line, no traceback."""


class BraintuneError(Exception):
    """Base class of errors about the user's inputs, files or settings."""


class DataError(BraintuneError, ValueError):
    """A data file is missing, unreadable, or disagrees with the rest of the dataset.

    The message names the file and what is wrong with it.
    """


class ModelNotAvailable(BraintuneError):
    """A model id is neither a local folder nor in the local Hugging Face cache."""


class ConfigError(BraintuneError, ValueError):
    """A setting is unknown or out of range."""


class TrainingDiverged(BraintuneError):
    """Training met a loss or gradient that is not finite; the last finite checkpoint is kept."""


class SchedulerError(BraintuneError):
    """The scheduler cannot run the study's jobs, or a job did not finish.

    The message names the setting or the job, its state and its log file.
    """
