"""Speech synthesis with espeak-ng (through the `espeakng-loader` wheel, via ctypes).

One synthesis pass returns the waveform together with the sample offset of every word
and phoneme, which is what the stand-in corpora need (word timings for TextGrids,
phone boundaries for TIMIT-layout `.PHN` files).

espeak-ng is a process-global C library: calls are serialised with a lock. It also
carries state from one synthesis to the next (the same sentence comes back a few samples
longer or shorter, and `espeak_ng_SetRandSeed` does not reset that), so the same sequence
of calls gives the same audio only from a freshly started library: corpus generators run
their whole sequence through `in_fresh_process`.
"""

from __future__ import annotations

import ctypes
import pickle
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from braintune.data.audio import resample

ESPEAK_RATE = 22050  # espeak-ng's native output rate (Hz)

# espeak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EVENT_WORD, _EVENT_END, _EVENT_MSG_TERMINATED, _EVENT_PHONEME = 1, 5, 6, 7
_PARAM_RATE, _PARAM_PITCH, _PARAM_RANGE = 1, 3, 4


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True)
class Voice:
    """An espeak-ng voice setting, standing in for a speaker.

    name: espeak voice name, e.g. "en-us", "en", "en-us+f3" (variant after '+').
    rate: words per minute (espeak default 175). pitch, pitch_range: 0-100.
    """

    name: str = "en-us"
    rate: int = 175
    pitch: int = 50
    pitch_range: int = 50


@dataclass
class Segment:
    """A labelled stretch of the synthesised audio, in samples at the output rate."""

    label: str
    start: int
    end: int


@dataclass
class Synthesis:
    """audio: (samples,) float32 in [-1, 1] at `sample_rate`; words and phonemes in order."""

    audio: np.ndarray
    sample_rate: int
    words: list[Segment]
    phonemes: list[Segment]


class _Engine:
    """Process-wide espeak-ng handle."""

    _lock = threading.Lock()
    _lib = None

    @classmethod
    def lib(cls):
        if cls._lib is None:
            try:
                import espeakng_loader
            except ImportError as exc:  # pragma: no cover - dependency of the package
                raise RuntimeError("espeak-ng is not available: pip install espeakng-loader") from exc
            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            lib.espeak_Initialize.restype = ctypes.c_int
            lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
            lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
            lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
            lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
            lib.espeak_Synth.argtypes = [
                ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                ctypes.c_uint, ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p,
            ]
            rate = lib.espeak_Initialize(
                _AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(),
                _INIT_PHONEME_EVENTS | _INIT_DONT_EXIT,
            )
            if rate <= 0:
                raise RuntimeError("espeak-ng failed to initialise (espeak_Initialize returned %d)" % rate)
            cls._lib = lib
        return cls._lib


def in_fresh_process(function, *args):
    """Run the picklable top-level `function(*args)` in a new Python process; return its result.

    Used so that a generator's sequence of syntheses starts from a fresh espeak-ng, which
    makes its audio depend only on its own inputs and seed (see the module docstring).
    The child is `python -m braintune.synthetic.speech`, so the caller's script is not
    re-imported (unlike multiprocessing's spawn) and needs no `__main__` guard. An exception
    in the child is raised again here (a full disk is the same OSError in either process).
    """
    with tempfile.TemporaryDirectory(prefix="braintune-espeak-") as scratch:
        result, error = Path(scratch) / "result.pickle", Path(scratch) / "error.pickle"
        proc = subprocess.run([sys.executable, "-m", __name__, str(result), str(error)],
                              input=pickle.dumps((function, args)))
        if error.exists():
            raise pickle.loads(error.read_bytes())
        if proc.returncode != 0 or not result.exists():
            raise RuntimeError(f"the espeak-ng worker process failed (exit {proc.returncode}); its error is above")
        return pickle.loads(result.read_bytes())


def synthesize(text: str, voice: Voice = Voice(), sample_rate: int = 16000, seed: int | None = None) -> Synthesis:
    """Speak `text` with espeak-ng; return audio at `sample_rate` with word and phoneme spans.

    seed: seeds espeak-ng's random generator first (voice variants such as "+f3" add
    breath noise seeded from the clock otherwise).
    Phoneme labels are espeak-ng mnemonics (e.g. "h", "@", "l", "oU"); word labels are
    the words of `text` as espeak segmented them. Pauses between words are not phonemes:
    a phoneme spans from its own event to the next event (phoneme or end).
    """
    if not text.strip():
        raise ValueError("cannot synthesise empty text")
    chunks: list[np.ndarray] = []
    events: list[tuple[int, int, str, int, int]] = []  # (type, sample, phoneme, text_pos, text_len)
    encoded = text.encode("utf-8")

    def on_audio(wav, n, ev):
        if n > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while ev[i].type != 0:  # espeakEVENT_LIST_TERMINATED
            e = ev[i]
            sample = int(round(e.audio_position * ESPEAK_RATE / 1000.0))
            if e.type == _EVENT_PHONEME:
                events.append((_EVENT_PHONEME, sample, bytes(e.id.string).split(b"\0")[0].decode("utf-8", "replace"), 0, 0))
            elif e.type in (_EVENT_WORD, _EVENT_END, _EVENT_MSG_TERMINATED):
                events.append((e.type, sample, "", e.text_position, e.length))
            i += 1
        return 0

    callback = _CALLBACK(on_audio)
    with _Engine._lock:
        lib = _Engine.lib()
        if seed is not None:
            lib.espeak_ng_SetRandSeed(ctypes.c_long(int(seed)))
        if lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice named {voice.name!r}")
        lib.espeak_SetParameter(_PARAM_RATE, int(voice.rate), 0)
        lib.espeak_SetParameter(_PARAM_PITCH, int(voice.pitch), 0)
        lib.espeak_SetParameter(_PARAM_RANGE, int(voice.pitch_range), 0)
        lib.espeak_SetSynthCallback(callback)
        buf = ctypes.create_string_buffer(encoded)
        err = lib.espeak_Synth(buf, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if err != 0:
            raise RuntimeError(f"espeak-ng synthesis failed (error {err}) for text {text[:40]!r}")
    audio22 = (np.concatenate(chunks) if chunks else np.zeros(0, np.int16)).astype(np.float32) / 32768.0
    if audio22.size == 0:
        raise RuntimeError(f"espeak-ng produced no audio for text {text[:40]!r}")
    n22 = audio22.size
    audio = resample(audio22, ESPEAK_RATE, sample_rate)
    scale = audio.size / n22

    def to_out(s: int) -> int:
        return min(audio.size, int(round(min(s, n22) * scale)))

    phonemes, words = [], []
    boundaries = sorted(s for (t, s, *_r) in events)
    end_all = n22
    for t, s, name, pos, length in events:
        nxt = next((b for b in boundaries if b > s), end_all)
        if t == _EVENT_PHONEME and name:
            phonemes.append(Segment(name, to_out(s), to_out(nxt)))
    # a word spans from its event to the start of the next word (or the end)
    word_events = [(s, pos, length) for t, s, _n, pos, length in events if t == _EVENT_WORD]
    for k, (s, pos, length) in enumerate(word_events):
        nxt = word_events[k + 1][0] if k + 1 < len(word_events) else end_all
        label = encoded[max(pos - 1, 0): max(pos - 1, 0) + length].decode("utf-8", "replace")
        words.append(Segment(label, to_out(s), to_out(nxt)))
    return Synthesis(audio=audio, sample_rate=sample_rate, words=words, phonemes=phonemes)


if __name__ == "__main__":  # the worker of in_fresh_process: pickled (function, args) in, result to argv[1]
    _function, _args = pickle.load(sys.stdin.buffer)
    try:
        Path(sys.argv[1]).write_bytes(pickle.dumps(_function(*_args)))
    except Exception as _exc:  # handed to the parent, which raises it
        Path(sys.argv[2]).write_bytes(pickle.dumps(_exc))
        sys.exit(1)
