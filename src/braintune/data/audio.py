"""Reading audio files: one decoder for every corpus, with errors that name the file."""

from __future__ import annotations

import logging
from math import gcd
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# The audio geometry of wav2vec2-family encoders: 16 kHz input; the CNN's frame i covers
# samples [HOP * i, HOP * i + RECEPTIVE_FIELD), 50 frames per second.
SAMPLE_RATE = 16000
RECEPTIVE_FIELD = 400
HOP = 320
FRAME_RATE = SAMPLE_RATE // HOP


def to_samples(seconds: float) -> int:
    """Seconds as a whole number of samples at SAMPLE_RATE."""
    return int(round(seconds * SAMPLE_RATE))


def num_frames(n_samples: int) -> int:
    """Frames the CNN feature encoder gives for `n_samples` samples: 1 + (n - 400) // 320 (0 if too short)."""
    return max(0, 1 + (n_samples - RECEPTIVE_FIELD) // HOP)


def read_audio(path: str | Path, sample_rate: int | None = SAMPLE_RATE, mono: str = "mix") -> np.ndarray:
    """Decode a WAV/SPHERE/FLAC file. -> (samples,) float32 in [-1, 1]

    sample_rate: resample to this rate; None keeps the file's rate (see `read_rate`).
    mono: "mix" averages the channels; "require" rejects files with more than one.
    Unreadable, empty or (with mono="require") multi-channel audio raises DataError.
    """
    import soundfile as sf

    from braintune.errors import DataError

    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise DataError(f"{path}: cannot decode audio ({exc})") from exc
    if audio.size == 0:
        raise DataError(f"{path}: audio is empty")
    if mono == "require" and audio.shape[1] != 1:
        raise DataError(f"{path}: {audio.shape[1]} channels, expected mono")
    audio = audio[:, 0] if audio.shape[1] == 1 else audio.mean(axis=1)
    return audio if sample_rate is None else resample(audio, rate, sample_rate)


# Below this RMS (-60 dBFS; speech is read at about -20 to -30) a story is taken for silence:
# all zeros, or a few least significant bits of noise (one 16-bit LSB is 3e-5).
SILENT_RMS = 1e-3


def warn_if_silent(audio: np.ndarray, where) -> bool:
    """Log a warning naming `where` (a file) when `audio` (samples,) is silent (RMS below SILENT_RMS):
    a model's features of it would be its response to silence. Returns whether it is."""
    rms = float(np.sqrt(np.dot(audio, audio) / audio.size)) if audio.size else 0.0
    if rms >= SILENT_RMS:
        return False
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    log.warning("%s: the audio is silent (RMS %.2g, peak %.2g of full scale); its features would be the model's "
                "response to silence", where, rms, peak)
    return True


def read_rate(path: str | Path) -> tuple[int, int]:
    """(sample rate, frames) from the file header, without decoding the samples."""
    import soundfile as sf

    from braintune.errors import DataError

    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise DataError(f"{path}: cannot decode audio ({exc})") from exc
    return info.samplerate, info.frames


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited polyphase resampling of (samples,) float audio; returns float32."""
    if rate_in == rate_out:
        return np.asarray(audio, dtype=np.float32)
    from scipy.signal import resample_poly

    g = gcd(int(rate_in), int(rate_out))
    return resample_poly(np.asarray(audio, dtype=np.float64), rate_out // g, rate_in // g).astype(np.float32)
