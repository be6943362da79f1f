"""Stand-in TIMIT and Speech Commands corpora, spoken by espeak-ng, in the real layouts.

The readers in `timit` and `speech_commands` cannot tell these from the real corpora.
Speakers are espeak-ng voices: accent (one per TIMIT dialect region), male/female
variant, rate and pitch drawn from a seeded generator. Everything the generators decide
(speakers, voices, texts, splits, file names, phone sequences) is fixed by the seed; the
waveform itself is not bit-exact across runs, because espeak-ng carries internal state
(noise, pitch flutter) from one call to the next: samples and phone boundaries may move
by a few milliseconds.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import soundfile as sf

from braintune.progress import tqdm
from braintune.synthetic import speech
from braintune.data.audio import SAMPLE_RATE
from braintune.data.speech_commands import WORDS as COMMAND_WORDS
from braintune.data.timit import CORE_TEST_SPEAKERS, PHONES_61, Label
from braintune.synthetic.speech import Segment, Voice
from braintune.io import write_atomic, write_atomic_with

# espeak-ng accents standing in for the eight TIMIT dialect regions
DIALECT_ACCENTS = ("en-us", "en-us-nyc", "en", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbclan",
                   "en-gb-x-gbcwmd", "en-029")

# espeak-ng phoneme mnemonic (stress marks stripped) -> TIMIT phones. A stop becomes its
# closure then its release; r-coloured vowels become vowel + r.
ESPEAK_TO_TIMIT: dict[str, tuple[str, ...]] = {
    "p": ("pcl", "p"), "b": ("bcl", "b"), "t": ("tcl", "t"), "t2": ("tcl", "t"), "t[": ("tcl", "t"),
    "d": ("dcl", "d"), "k": ("kcl", "k"), "g": ("gcl", "g"), "t#": ("dx",), "?": ("q",),
    "tS": ("tcl", "ch"), "dZ": ("dcl", "jh"),
    "f": ("f",), "v": ("v",), "T": ("th",), "D": ("dh",), "s": ("s",), "z": ("z",), "S": ("sh",),
    "Z": ("zh",), "h": ("hh",),
    "m": ("m",), "n": ("n",), "N": ("ng",), "n-": ("en",), "m-": ("em",),
    "l": ("l",), "@L": ("el",), "r": ("r",), "r-": ("r",), "w": ("w",), "w#": ("w",), "j": ("y",),
    "i:": ("iy",), "i": ("iy",), "I": ("ih",), "I2": ("ix",), "I#": ("ix",), "E": ("eh",), "e": ("eh",),
    "eI": ("ey",), "a": ("ae",), "aa": ("ae",), "a#": ("ax",), "A:": ("aa",), "A@": ("aa", "r"),
    "0": ("aa",), "O:": ("ao",), "O2": ("ao",), "O@": ("ao", "r"), "o@": ("ao", "r"), "OI": ("oy",),
    "V": ("ah",), "VR": ("ah", "r"), "U": ("uh",), "U@": ("uh", "r"), "u:": ("uw",),
    "@": ("ax",), "@2": ("ax",), "@5": ("ax",), "3": ("axr",), "3:": ("er",),
    "aI": ("ay",), "aI2": ("ay",), "aI3": ("ay", "axr"), "aI@": ("ay", "ax"), "aU": ("aw",),
    "aU@": ("aw", "ax"), "oU": ("ow",), "i@": ("ih", "r"), "i@3": ("ih", "r"), "e@": ("eh", "r"),
    "IR": ("ih", "r"),
}
_PAUSES = {"_", "_:", "_!"}
_LINKS = {";"}  # espeak linking marks: their time joins the preceding phone
_CLOSURE_SHARE = 0.6  # a stop's closure takes this share of its espeak segment
_EDGE_SILENCE = 1600  # samples of silence written before and after each TIMIT utterance
_NOISE_FLOOR = 3e-4  # std of the background noise added to every recording (about -70 dBFS)

SA_TEXTS = (
    "She had your dark suit in greasy wash water all year.",
    "Don't ask me to carry an oily rag like that.",
)

# Two small grammars: SX sentences are short and phonetically dense, SI sentences longer
# and plainer, so the sentence type is (weakly) recoverable from the audio, as in TIMIT.
_SX_GRAMMAR = (
    ("The", "A", "Each", "That"),
    ("sharp", "brown", "quick", "thin", "young", "huge", "cheap", "pale"),
    ("fox", "judge", "pilot", "thief", "zebra", "chef", "vision", "gadget"),
    ("jumped over", "measured", "chose", "shouted at", "watched", "fetched", "pushed", "grabbed"),
    ("the", "his", "her", "our"),
    ("bridge", "pleasure", "thread", "jacket", "voyage", "cushion", "wedge", "yacht"),
)
_SI_GRAMMAR = (
    ("Yesterday", "In the morning", "After dinner", "Later that year", "On Sunday", "Every evening"),
    ("my neighbour", "the old teacher", "a small family", "the doctor", "our friend", "the farmer"),
    ("walked slowly", "decided to go", "was planning to travel", "wanted to return", "liked to drive",
     "tried to come back"),
    ("to the market", "into town", "to the river", "back home", "along the road", "to the station"),
    ("with a basket of apples", "because it was raining", "before the sun went down", "to see the children",
     "and stayed for a while", "without saying anything"),
)


def _sentence(grammar, rng: np.random.Generator) -> str:
    words = " ".join(slot[rng.integers(len(slot))] for slot in grammar)
    return words + "."


def _speaker_id(sex: str, rng: np.random.Generator, taken: set[str]) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    while True:
        sid = sex + "".join(letters[i] for i in rng.integers(26, size=3)) + "0"
        if sid not in taken and sid not in {s for v in CORE_TEST_SPEAKERS.values() for s in v}:
            taken.add(sid)
            return sid


def _voice(dialect_index: int, sex: str, rng: np.random.Generator) -> Voice:
    variant = f"{'m' if sex == 'M' else 'f'}{rng.integers(1, 5)}"
    return Voice(f"{DIALECT_ACCENTS[dialect_index % len(DIALECT_ACCENTS)]}+{variant}",
                 rate=int(rng.integers(140, 200)), pitch=int(rng.integers(30, 70)),
                 pitch_range=int(rng.integers(30, 70)))


# ---------------------------------------------------------------------------- SPHERE

def sphere_header(fields: dict[str, str | int], header_bytes: int = 1024) -> bytes:
    """A NIST SPHERE header: `NIST_1A`, its size, typed `name -type value` lines, `end_head`."""
    lines = ["NIST_1A", f"{header_bytes:7d}"]
    for name, value in fields.items():
        lines.append(f"{name} -i {value}" if isinstance(value, int) else f"{name} -s{len(value)} {value}")
    lines.append("end_head")
    text = ("\n".join(lines) + "\n").encode("ascii")
    if len(text) > header_bytes:
        raise ValueError(f"SPHERE header needs {len(text)} bytes, more than {header_bytes}")
    return text + b" " * (header_bytes - len(text))


def write_sphere(path: str | Path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE, **fields) -> None:
    """Write (samples,) float audio in [-1, 1] as 16-bit little-endian PCM NIST SPHERE, atomically."""
    pcm = np.clip(np.round(np.asarray(audio, np.float64) * 32767), -32768, 32767).astype("<i2")
    header = sphere_header({
        **fields,
        "channel_count": 1, "sample_count": int(pcm.size), "sample_rate": int(sample_rate),
        "sample_max": int(pcm.max(initial=0)), "sample_min": int(pcm.min(initial=0)),
        "sample_n_bytes": 2, "sample_byte_format": "01", "sample_sig_bits": 16,
    })
    write_atomic(path, header + pcm.tobytes())


# ---------------------------------------------------------------------------- TIMIT

def espeak_to_timit(phonemes: list[Segment], n_samples: int) -> list[Label]:
    """Map espeak-ng phoneme segments to TIMIT phone labels tiling [0, n_samples).

    Stress marks are stripped; each phoneme runs to the start of the next one; silence
    before the first and after the last sound is `h#`, pauses in between are `pau`;
    stops split into closure + release. Raises ValueError on an unmapped mnemonic.
    """
    events: dict[int, str] = {}
    for seg in sorted(phonemes, key=lambda s: s.start):
        events[min(seg.start, n_samples)] = seg.label.lstrip("',%=")  # same start: the later one
    starts = sorted(events)
    pieces: list[tuple[int, int, str]] = []  # (start, end, espeak label)
    for k, s in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else n_samples
        label = events[s]
        if label in _LINKS and pieces:
            pieces[-1] = (pieces[-1][0], end, pieces[-1][2])
        elif end > s and label not in _LINKS:
            pieces.append((s, end, label))
    sounds = [i for i, p in enumerate(pieces) if p[2] not in _PAUSES]
    if not sounds:
        return [Label(0, n_samples, "h#")]
    first, last = pieces[sounds[0]][0], pieces[sounds[-1]][1]
    labels = [Label(0, first, "h#")] if first > 0 else []
    for s, e, label in pieces[sounds[0]: sounds[-1] + 1]:
        if label in _PAUSES:
            if labels and labels[-1].label == "pau":
                labels[-1] = Label(labels[-1].start, e, "pau")
            else:
                labels.append(Label(s, e, "pau"))
            continue
        if label not in ESPEAK_TO_TIMIT:
            raise ValueError(f"no TIMIT phone for espeak-ng phoneme {label!r}")
        timit = ESPEAK_TO_TIMIT[label]
        if len(timit) == 1 or e - s < 2:
            labels.append(Label(s, e, timit[-1]))
        else:
            share = _CLOSURE_SHARE if timit[0].endswith("cl") else 0.5
            cut = s + min(e - s - 1, max(1, round((e - s) * share)))
            labels += [Label(s, cut, timit[0]), Label(cut, e, timit[1])]
    if last < n_samples:
        labels.append(Label(last, n_samples, "h#"))
    assert all(lab.label in PHONES_61 for lab in labels)
    return labels


def _words_of(text: str) -> list[str]:
    return [w.strip(".,;:!?\"").lower() for w in text.split() if w.strip(".,;:!?\"")]


def _word_labels(text: str, words: list[Segment], speech: tuple[int, int]) -> list[Label]:
    """Word spans as in a .WRD file: the text's words (lower case), each running to the next
    word, clipped to the speech (between the leading and trailing h#)."""
    names = _words_of(text)
    if len(names) != len(words):  # espeak split the text differently: keep its own labels
        names = [w.label.lower().strip(".,;:!?\"") for w in words]
    first, last = speech
    return [Label(max(w.start, first), min(w.end, last), n) for w, n in zip(words, names) if w.start < last]


def _write_labels(path: Path, labels: list[Label]) -> None:
    write_atomic(path, "".join(f"{lab.start} {lab.end} {lab.label}\n" for lab in labels))


def write_timit_utterance(stem: Path, text: str, voice: Voice, utterance_id: str, seed: int = 0) -> None:
    """Speak `text` and write stem.WAV (SPHERE), .PHN, .WRD and .TXT.

    The speech is framed by _EDGE_SILENCE samples of silence on both sides (TIMIT's h#),
    and a faint background noise (seeded) is added, as a microphone would.
    """
    syn = speech.synthesize(text, voice, SAMPLE_RATE, seed=seed)
    audio = np.pad(syn.audio, _EDGE_SILENCE)
    audio += _NOISE_FLOOR * np.random.default_rng(seed).standard_normal(audio.size).astype(np.float32)
    n = audio.size

    def shifted(segments):
        return [Segment(s.label, s.start + _EDGE_SILENCE, s.end + _EDGE_SILENCE) for s in segments]

    phones = espeak_to_timit(shifted(syn.phonemes), n)
    speech_span = (phones[0].end if phones[0].label == "h#" else 0, phones[-1].start if phones[-1].label == "h#" else n)
    write_sphere(stem.with_suffix(".WAV"), audio, database_id="TIMIT", database_version="1.0",
                 utterance_id=utterance_id)
    _write_labels(stem.with_suffix(".PHN"), phones)
    _write_labels(stem.with_suffix(".WRD"), _word_labels(text, shifted(syn.words), speech_span))
    write_atomic(stem.with_suffix(".TXT"), f"0 {n} {text}\n")


def simulate_timit(out: str | Path, train_speakers: int = 8, test_speakers: int = 4, sx_per_speaker: int = 3,
                   si_per_speaker: int = 2, sx_readers: int = 3, seed: int = 0, progress: bool = True) -> Path:
    """Write a TIMIT-layout stand-in corpus under `out`; returns `out`.

    Speakers cycle over the eight dialect regions; test speakers take names from the
    core test set. Each speaker reads SA1 and SA2 (shared by all), `sx_per_speaker` SX
    sentences (each shared by `sx_readers` speakers of the same split) and
    `si_per_speaker` SI sentences (read once). Existing complete files are kept.

    Spoken in a fresh process (speech.in_fresh_process), so the same seed writes
    the same files whatever ran before.
    """
    return speech.in_fresh_process(_simulate_timit, out, train_speakers, test_speakers, sx_per_speaker,
                                         si_per_speaker, sx_readers, seed, progress)


def _simulate_timit(out, train_speakers, test_speakers, sx_per_speaker, si_per_speaker, sx_readers, seed,
                    progress) -> Path:
    """simulate_timit in the current process."""
    out = Path(out)
    rng = np.random.default_rng(seed)
    taken: set[str] = set()
    jobs = []  # (stem, text, voice, utterance id)
    sx_number, si_number = 3, 453
    core_names = [list(v) for v in CORE_TEST_SPEAKERS.values()]
    for split, n_speakers in (("TRAIN", train_speakers), ("TEST", test_speakers)):
        sx_pool: list[tuple[int, str]] = []
        n_sx = max(1, -(-n_speakers * sx_per_speaker // sx_readers)) if sx_per_speaker else 0
        for _ in range(n_sx):
            sx_pool.append((sx_number, _sentence(_SX_GRAMMAR, rng)))
            sx_number += 1
        for k in range(n_speakers):
            dr = k % 8
            if split == "TEST" and k < 24:
                speaker = core_names[dr][(k // 8) % 3]
            else:
                speaker = _speaker_id("MF"[int(rng.integers(2))], rng, taken)
            voice = _voice(dr, speaker[0], rng)
            folder = out / split / f"DR{dr + 1}" / speaker
            folder.mkdir(parents=True, exist_ok=True)
            sentences = [("SA1", SA_TEXTS[0]), ("SA2", SA_TEXTS[1])]
            for j in range(sx_per_speaker):
                num, text = sx_pool[(k * sx_per_speaker + j) % len(sx_pool)]
                sentences.append((f"SX{num}", text))
            for _ in range(si_per_speaker):
                sentences.append((f"SI{si_number}", _sentence(_SI_GRAMMAR, rng)))
                si_number += 1
            for name, text in sentences:
                jobs.append((folder / name, text, voice, f"{speaker.lower()}_{name.lower()}",
                             int(rng.integers(1 << 31))))
    for stem, text, voice, uid, noise_seed in tqdm(jobs, desc="simulate TIMIT", unit="utt", disable=not progress):
        if all(stem.with_suffix(s).is_file() for s in (".WAV", ".PHN", ".WRD", ".TXT")):
            continue
        write_timit_utterance(stem, text, voice, uid, noise_seed)
    return out


# ---------------------------------------------------------------------------- Speech Commands

def _speaker_hash(seed: int, k: int) -> str:
    return hashlib.sha1(f"braintune-speaker-{seed}-{k}".encode()).hexdigest()[:8]


def _spoken_word(word: str, voice: Voice, max_samples: int, seed: int) -> np.ndarray:
    """The word's audio trimmed to its phonemes; faster speech until it fits in `max_samples`."""
    for rate_step in range(8):
        v = Voice(voice.name, voice.rate + 30 * rate_step, voice.pitch, voice.pitch_range)
        syn = speech.synthesize(word, v, SAMPLE_RATE, seed=seed)
        sounds = [p for p in syn.phonemes if p.label.lstrip("',%=") not in _PAUSES]
        start, end = (sounds[0].start, sounds[-1].end) if sounds else (0, syn.audio.size)
        audio = syn.audio[start:end]
        if audio.size <= max_samples:
            return audio
    raise ValueError(f"espeak-ng could not say {word!r} within {max_samples} samples")


def simulate_speech_commands(out: str | Path, speakers: int = 6, validation_speakers: int = 1,
                             test_speakers: int = 1, words: tuple[str, ...] = COMMAND_WORDS, seed: int = 0,
                             progress: bool = True) -> Path:
    """Write a Speech-Commands-v0.02-layout stand-in under `out`; returns `out`.

    Every speaker (an espeak-ng voice, named by an 8-hex-digit hash) says every word once,
    at a random offset in a clip of at most 1 s (some clips are shorter, as in the real
    data). The last `validation_speakers` and `test_speakers` speakers are listed in
    validation_list.txt and testing_list.txt; the rest train.

    Spoken in a fresh process (speech.in_fresh_process), so the same seed writes
    the same files whatever ran before.
    """
    if validation_speakers + test_speakers >= speakers:
        raise ValueError("need at least one training speaker")
    return speech.in_fresh_process(_simulate_speech_commands, out, speakers, validation_speakers,
                                         test_speakers, tuple(words), seed, progress)


def _simulate_speech_commands(out, speakers, validation_speakers, test_speakers, words, seed, progress) -> Path:
    """simulate_speech_commands in the current process."""
    out = Path(out)
    rng = np.random.default_rng(seed)
    voices = [_voice(int(rng.integers(8)), "MF"[k % 2], rng) for k in range(speakers)]
    hashes = [_speaker_hash(seed, k) for k in range(speakers)]
    lists: dict[str, list[str]] = {"validation": [], "testing": []}
    jobs = []
    for k, (voice, h) in enumerate(zip(voices, hashes)):
        held_out = ("testing" if k >= speakers - test_speakers else
                    "validation" if k >= speakers - test_speakers - validation_speakers else None)
        for word in words:
            rel = f"{word}/{h}_nohash_0.wav"
            if held_out:
                lists[held_out].append(rel)
            jobs.append((rel, word, voice, int(rng.integers(1 << 31))))
    for rel, word, voice, clip_seed in tqdm(jobs, desc="simulate Speech Commands", unit="clip", disable=not progress):
        path = out / rel
        if path.is_file():
            continue
        clip_rng = np.random.default_rng(clip_seed)
        audio = _spoken_word(word, voice, SAMPLE_RATE, clip_seed)
        length = SAMPLE_RATE if clip_rng.random() < 0.8 else int(clip_rng.integers(audio.size, SAMPLE_RATE + 1))
        clip = np.zeros(length, np.float32)
        offset = int(clip_rng.integers(0, length - audio.size + 1))
        clip[offset: offset + audio.size] = audio
        clip += _NOISE_FLOOR * clip_rng.standard_normal(length).astype(np.float32)
        write_atomic_with(path, lambda tmp: sf.write(str(tmp), clip, SAMPLE_RATE, subtype="PCM_16", format="WAV"))
    for name, files in lists.items():
        write_atomic(out / f"{name}_list.txt", "".join(f + "\n" for f in sorted(files)))
    return out
