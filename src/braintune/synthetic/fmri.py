"""Simulated participants written in the ds003020 layout, with their ground truth.

Stories are English text from a small sentence generator, spoken by espeak-ng. Each
participant's voxels are of three kinds:

- auditory (Glasser areas of ``early_auditory``): a positive, tonotopically tuned mix of
  the log mel band energies of the audio (averaged per 0.1 s) - the instantaneous
  spectral envelope;
- language (areas of ``late_language``): a random linear read-out of what was heard over
  the last ``history_seconds`` (``language_track``): fixed random embeddings (Embeddings,
  drawn from the seed) of the word identity (one vector per word of VOCABULARY) and of the
  phone class (one per class of PHONE_CLASSES: the espeak-ng phonemes of the TextGrids
  mapped to TIMIT phones and folded to the 39 of the phoneme probe, silence dropped,
  ``phone_classes``), each held over its word's or phone's span (``span_track``, centred
  over the spans), then averaged over the history (``history_mean``);
- noise (other areas): no signal.

Why these language features: they are what the paper's probes measure (which words and
phones were heard, over a stretch of speech), they are a property of the words and phones,
not of the sound at one instant, so they are not a linear function of the spectral envelope
(least squares from the log mel bands, now and averaged over the history, explains ~11% of
their variance, tests/test_demo_science.py), and yet they are audible: espeak-ng speaks each
word with one phone sequence and each phone class has its own spectrum. Sentences are spoken
at varying pace (PACE_RANGE), as speakers speed up and slow down.

Acquisition (stated here, not borrowed from the reader, so that a reader bug and a simulator
bug cannot cancel; the dataset's documented protocol): the scanner takes one volume every
TR seconds, the sound starts SOUND_ONSET = 10 s after the first volume, a volume's response
is sampled at the middle of its acquisition, respdict.json counts the volumes of the run,
the last MISSING_VOLUMES = 5 of which are absent from the files, and the preprocessing drops
the first 10 and the last 5 of the rest (``acquired_row_times``).

Per story, features live on a 0.1 s grid, are z-scored, convolved with the SPM canonical
haemodynamic response and sampled at the response rows' times. A voxel's signal is its read-out of those row features, z-scored over the story. A
presentation is ``signal + noise_sd * N(0, 1)`` (independent over rows and voxels),
z-scored per voxel as in the preprocessed corpus; the test story is presented
``n_repeats`` times. The true noise ceiling - the expected correlation of the noise-free
signal with the mean of R repeats - is ``1 / sqrt(1 + noise_sd**2 / R)``; it is drawn
uniformly in ``ceiling_range`` for signal voxels (and noise_sd follows), 0 for noise voxels.

Files: the real layout (braintune.data.fmri.ds003020): every story's ``data`` (rows, voxels); the
test story's file also holds its ``individual_repeats`` (repeats, rows, voxels), ``data``
being their mean. Ground truth, which the readers ignore, is written beside the corpus:
```
root/simulation_truth/settings.json             generator settings
root/simulation_truth/embeddings.npz            words (W,) = VOCABULARY, word_vectors (W, word_dims),
                                                phone_classes (P,) = PHONE_CLASSES, phone_vectors (P, phone_dims)
root/simulation_truth/features/<story>.npz      fine_times (T,), auditory (T, n_mels), language (T, D),
                                                row_times (rows,), auditory_rows (rows, n_mels),
                                                language_rows (rows, D)   (HRF-convolved, at rows)
root/simulation_truth/<UTSxx>.npz               kind (V,) int8 (KINDS), ceiling (V,), noise_sd (V,),
                                                auditory_weights (V, n_mels), language_weights (V, D),
                                                signal_<story> (rows, V) noise-free z-scored responses
```
with D = word_dims + phone_dims (word columns first); ``auditory`` and ``language`` are z-scored
per story, and ``signal = zscore(auditory_rows @ auditory_weights.T + language_rows @ language_weights.T)``.
Same seed -> byte-identical arrays. Stories depend only on the seed and story settings,
not on the number of participants.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from braintune.arrays import zscore
from braintune.data.audio import SAMPLE_RATE
from braintune.data.rois import ROI_GROUPS
from braintune.data.timit import FOLD_61_TO_39, PHONES_39
from braintune.synthetic.corpora import ESPEAK_TO_TIMIT
from braintune.progress import tqdm
from braintune.synthetic.speech import Voice, in_fresh_process, synthesize
from braintune.io import write_atomic, write_atomic_with
from braintune.synthetic.textgrid import write_textgrid
from braintune.errors import ConfigError

FINE_DT = 0.1  # s, time step of the stimulus features
SOUND_ONSET = 10.0  # s from the first volume to the start of the sound
MISSING_VOLUMES = 5  # volumes counted in respdict.json but absent from the files
TRIMMED = (10, 5)  # volumes the preprocessing drops at the start and at the end
KINDS = ("noise", "auditory", "language")
SHARES = {"auditory": 0.15, "language": 0.45}  # of a participant's voxels; the rest are noise
TEST_STORY = "wheretheressmoke"
VALIDATION_STORY = "stagefright"
AUDITORY_AREAS = ROI_GROUPS["early_auditory"]
LANGUAGE_AREAS = ROI_GROUPS["late_language"]
OTHER_AREAS = ("V1", "V2", "V4", "4", "3b", "FEF", "7Am", "POS2", "10d", "46")
PACE_RANGE = (0.6, 1.6)  # each sentence is spoken at its story's voice rate times a factor drawn here
VOICES = (
    Voice("en-us", 165, 45, 50),
    Voice("en-us+f3", 175, 60, 60),
    Voice("en-us+m3", 160, 40, 40),
    Voice("en+f2", 170, 55, 70),
    Voice("en-us+f4", 180, 65, 50),
    Voice("en+m7", 155, 35, 45),
)

# ---- text ------------------------------------------------------------------------------
_WORDS = {
    "name": "anna ben clara david emma frank grace henry iris jack kate leo maria nora oscar paul rosa sam tom vera",
    "noun": (
        "man woman child dog cat horse bird friend mother father sister brother teacher doctor farmer "
        "driver singer writer neighbour stranger captain soldier baker student king queen boy girl "
        "book letter song story picture door window table chair bed lamp clock key coin box bag hat "
        "coat shoe cup bottle knife phone car train boat bicycle road bridge tree flower stone river "
        "mountain island garden field forest beach lake ocean storm rain snow wind fire light shadow "
        "morning evening night summer winter money bread apple coffee music dream secret plan idea"
    ),
    "place": (
        "kitchen school church market station hospital library office village city harbour hotel "
        "restaurant garage museum prison bakery farm park cellar attic"
    ),
    "adj": (
        "old young small big tall short happy sad angry quiet loud dark bright cold warm wet dry "
        "strange famous empty heavy light broken new tired hungry lucky clever gentle proud red blue "
        "green golden silver wooden narrow wide distant hidden careful nervous beautiful ugly"
    ),
    "tverb": (
        "found lost saw heard took gave opened closed carried followed watched painted broke fixed "
        "bought sold built read wrote called helped met remembered forgot loved hated needed wanted "
        "chased pushed pulled touched"
    ),
    "iverb": (
        "laughed cried smiled waited slept danced sang shouted whispered arrived left returned "
        "stopped listened worked walked ran jumped fell disappeared"
    ),
    "adv": "slowly quickly quietly suddenly carefully happily sadly finally again always never often soon",
    "time": "yesterday tonight later afterwards",
}
_W = {k: v.split() for k, v in _WORDS.items()}
_TEMPLATES = (
    "the {adj} {noun} {tverb} the {noun} .",
    "{name} {iverb} {adv} in the {place} .",
    "when {name} {iverb} , the {noun} {iverb} .",
    "i thought that the {noun} was {adj} .",
    "{name} {tverb} a {adj} {noun} near the {place} .",
    "{time} we {iverb} and the {noun} {tverb} my {noun} .",
    "she said the {place} was {adj} and {adj} .",
    "he {tverb} the {noun} because it was {adj} .",
    "my {noun} {adv} {tverb} the {adj} {noun} .",
    "there was a {adj} {noun} in the {place} .",
    "{name} and {name} {iverb} by the {noun} .",
    "you could see the {noun} from the {place} .",
    "nobody {tverb} the {noun} , so {name} {iverb} .",
    "it was {adj} , and the {noun} {iverb} {adv} .",
    "they {tverb} an {adj} {noun} at the {place} {time} .",
)
_LITERALS = {t for tpl in _TEMPLATES for t in tpl.split() if t[0].isalpha()}
VOCABULARY: tuple[str, ...] = tuple(sorted({w for ws in _W.values() for w in ws} | _LITERALS))
PHONE_CLASSES: tuple[str, ...] = tuple(p for p in PHONES_39 if p != "sil")  # the phoneme probe's 39, less silence


def generate_sentence(rng: np.random.Generator) -> str:
    """One plausible English sentence from a fixed vocabulary (VOCABULARY)."""
    template = _TEMPLATES[rng.integers(len(_TEMPLATES))]
    words = []
    for token in template.split():
        if token.startswith("{"):
            pool = _W[token[1:-1]]
            words.append(pool[rng.integers(len(pool))])
        else:
            words.append(token)
    text = " ".join(words).replace(" .", ".").replace(" ,", ",")
    return text[0].upper() + text[1:]


def phone_classes(label: str) -> tuple[str, ...]:
    """The phone classes of one espeak-ng phoneme as the TextGrids write it (e.g. "'A@"): stress
    marks stripped, mapped to TIMIT phones (braintune.synthetic.corpora.ESPEAK_TO_TIMIT) and
    folded to the 39 of Lee & Hon (braintune.data.timit.FOLD_61_TO_39), silence and closures
    dropped. A linking mark (";"), an empty label or an unknown mnemonic gives ()."""
    timit = ESPEAK_TO_TIMIT.get(label.lstrip("',%="), ())
    return tuple(c for c in (FOLD_61_TO_39[p] for p in timit) if c not in (None, "sil"))


@dataclass(frozen=True)
class Embeddings:
    """The fixed random embeddings that language voxels read: one vector per word of
    VOCABULARY and per phone class of PHONE_CLASSES, each drawn N(0, 1/dims)."""

    word_vectors: np.ndarray  # (len(VOCABULARY), word_dims) float64
    phone_vectors: np.ndarray  # (len(PHONE_CLASSES), phone_dims) float64

    @classmethod
    def draw(cls, word_dims: int, phone_dims: int, rng: np.random.Generator) -> Embeddings:
        return cls(rng.standard_normal((len(VOCABULARY), word_dims)) / np.sqrt(word_dims),
                   rng.standard_normal((len(PHONE_CLASSES), phone_dims)) / np.sqrt(phone_dims))

    def word_spans(self, words: list[tuple[str, float, float]]) -> list[tuple[float, float, np.ndarray]]:
        """(start, end, vector) of each word (word, start s, end s); words outside VOCABULARY are skipped."""
        index = {w: i for i, w in enumerate(VOCABULARY)}
        return [(s, e, self.word_vectors[index[w.lower()]]) for w, s, e in words if w.lower() in index]

    def phone_spans(self, phones: list[tuple[float, float, str]]) -> list[tuple[float, float, np.ndarray]]:
        """(start, end, vector) of each phone class heard; a phoneme of k classes (e.g. "A@": aa, r)
        splits its span into k equal parts."""
        index = {c: i for i, c in enumerate(PHONE_CLASSES)}
        spans = []
        for s, e, label in phones:
            classes = phone_classes(label)
            edges = np.linspace(s, e, len(classes) + 1)
            spans += [(a, b, self.phone_vectors[index[c]]) for a, b, c in zip(edges[:-1], edges[1:], classes)]
        return spans


# ---- acquisition -----------------------------------------------------------------------
def acquired_row_times(n_volumes: int, tr: float) -> np.ndarray:
    """Times (s after sound onset) of the rows a story's response file holds. -> (rows,) float64

    n_volumes: the story's count in respdict.json. Volume v is acquired over
    [v*tr, (v+1)*tr) s of scanner time and sampled at its middle; the sound starts at
    SOUND_ONSET s of scanner time; of the volumes in the files (all but the last
    MISSING_VOLUMES) the first and last TRIMMED are dropped.
    """
    in_files = np.arange(n_volumes - MISSING_VOLUMES)
    kept = in_files[TRIMMED[0]: len(in_files) - TRIMMED[1]]
    return (kept + 0.5) * tr - SOUND_ONSET


def volumes_for(seconds: float, tr: float) -> int:
    """The respdict.json count of a run whose files cover `seconds` of sound after its onset."""
    return int((seconds + SOUND_ONSET) // tr) + MISSING_VOLUMES


# ---- stimulus features -----------------------------------------------------------------
def canonical_hrf(dt: float = FINE_DT, length: float = 32.0) -> np.ndarray:
    """SPM double-gamma HRF (peak 6 s, undershoot 16 s, ratio 1/6), sum 1. -> (length/dt,) float64"""
    from scipy.stats import gamma

    t = np.arange(0.0, length, dt)
    h = gamma.pdf(t, 6.0) - gamma.pdf(t, 16.0) / 6.0
    return h / h.sum()


def log_mel_envelope(audio: np.ndarray, n_mels: int, sample_rate: int = SAMPLE_RATE, dt: float = FINE_DT) -> np.ndarray:
    """Log mel band energies averaged over consecutive dt windows. -> (ceil(samples/(dt*sr)), n_mels) float64"""
    import librosa

    hop = int(round(dt * sample_rate))
    n = -(-audio.size // hop)
    padded = np.zeros(n * hop, np.float32)
    padded[: audio.size] = audio
    power = librosa.feature.melspectrogram(
        y=padded, sr=sample_rate, n_fft=hop, hop_length=hop, center=False, n_mels=n_mels, power=2.0, fmin=50.0
    )
    return np.log(power.T.astype(np.float64) + 1e-8)


def span_track(spans: list[tuple[float, float, np.ndarray]], n_steps: int, dt: float = FINE_DT) -> np.ndarray:
    """Each span's vector held from its start to its end on the dt grid, 0 outside every span.

    spans: (start s, end s, vector (d,)). The vectors are first centred on their mean over
    the spans, so that the track contrasts one word (or phone) with another rather than
    marking sound against silence, which the envelope already gives. A step belongs to the
    span that starts at or before it (a later span overwrites). -> (n_steps, d) float64
    """
    if not spans:
        raise ValueError("span_track: no spans")
    vectors = np.array([v for _s, _e, v in spans], dtype=np.float64)
    vectors -= vectors.mean(axis=0)
    track = np.zeros((n_steps, vectors.shape[1]))
    for (start, end, _v), value in zip(spans, vectors):
        a = int(round(start / dt))
        track[a: min(max(int(round(end / dt)), a + 1), n_steps)] = value
    return track


def history_mean(track: np.ndarray, seconds: float, dt: float = FINE_DT) -> np.ndarray:
    """Causal mean of `track` over the last `seconds` (round(seconds/dt) steps, the current one
    included; fewer at the start). -> track's shape, float64"""
    n = max(1, int(round(seconds / dt)))
    csum = np.cumsum(np.vstack([np.zeros((1, track.shape[1])), track]), axis=0)
    ends = np.arange(1, len(track) + 1)
    starts = np.maximum(ends - n, 0)
    return (csum[ends] - csum[starts]) / (ends - starts)[:, None]


def language_track(embeddings: Embeddings, words: list[tuple[str, float, float]], phones: list[tuple[float, float, str]],
                   n_steps: int, history_seconds: float, dt: float = FINE_DT) -> np.ndarray:
    """What a language voxel reads at each step: the word-identity and the phone-class
    embeddings of what was heard, each held over its span (span_track), averaged over the last
    history_seconds (history_mean). words: (word, start s, end s); phones: (start s, end s,
    espeak mnemonic). -> (n_steps, word_dims + phone_dims) float64, word columns first
    """
    held = np.hstack([span_track(embeddings.word_spans(words), n_steps, dt),
                      span_track(embeddings.phone_spans(phones), n_steps, dt)])
    return history_mean(held, history_seconds, dt)


def features_at_rows(fine: np.ndarray, row_times: np.ndarray, dt: float = FINE_DT) -> np.ndarray:
    """z-score each column, convolve with the canonical HRF, sample at row_times. -> (rows, cols)"""
    z = zscore(fine, dtype=np.float64)
    conv = np.stack([np.convolve(col, canonical_hrf(dt))[: len(col)] for col in z.T], axis=1)
    fine_times = np.arange(len(fine)) * dt
    return np.stack([np.interp(row_times, fine_times, col) for col in conv.T], axis=1)


# ---- the generator ---------------------------------------------------------------------
@dataclass
class _Story:
    name: str
    audio: np.ndarray
    words: list[tuple[str, float, float]]
    phones: list[tuple[float, float, str]]
    n_triggers: int


def simulate_dataset(
    out: str | Path,
    n_participants: int = 2,
    n_train_stories: int = 6,
    story_seconds: tuple[float, float] = (60.0, 120.0),
    test_story_seconds: float | None = None,
    n_repeats: int = 10,
    n_voxels: int = 400,
    tr: float = 2.0,
    n_mels: int = 16,
    ceiling_range: tuple[float, float] = (0.02, 0.9),
    word_dims: int = 4,
    phone_dims: int = 4,
    history_seconds: float = 3.0,
    seed: int = 0,
    story_names: Sequence[str] | None = None,
    unheard: Mapping[str, Sequence[str]] | None = None,
) -> Path:
    """Write a simulated ds003020 corpus to `out` and return `out`.

    Stories: n_train_stories + "stagefright" (validation) + "wheretheressmoke" (test),
    lengths uniform in story_seconds (the test story: test_story_seconds, default the
    longest). story_names: the training stories' names (default simstory01..); their
    number replaces n_train_stories. unheard: participant -> stories they did not hear (no
    response file), as UTS04 of ds003020 lacks "life". Participants "UTS01".. each get
    about n_voxels voxels (x0.8-1.2), SHARES auditory and language, the rest noise. Language
    voxels read word_dims dimensions of word identity and phone_dims of phone classes, each
    averaged over the last history_seconds. See the module docstring for the model.
    """
    out = Path(out)
    lo, hi = sorted(story_seconds)
    if story_names is not None:
        n_train_stories = len(story_names)
    if n_participants < 1 or n_train_stories < 1 or n_repeats < 2 or lo < 30 or n_voxels < 60:
        raise ConfigError("simulate: need >= 1 participant, >= 1 training story, >= 2 repeats, stories >= 30 s, >= 60 voxels")
    if not 0 < ceiling_range[0] < ceiling_range[1] < 1:
        raise ConfigError(f"simulate: ceiling_range must satisfy 0 < low < high < 1, got {ceiling_range}")
    if word_dims < 1 or phone_dims < 1 or not history_seconds >= FINE_DT:
        raise ConfigError(f"simulate: need word_dims, phone_dims >= 1 and history_seconds >= {FINE_DT}, got "
                          f"{word_dims}, {phone_dims}, {history_seconds}")
    settings = dict(
        n_participants=n_participants, n_train_stories=n_train_stories, story_seconds=[lo, hi],
        test_story_seconds=float(test_story_seconds or hi), n_repeats=n_repeats, n_voxels=n_voxels, tr=tr,
        n_mels=n_mels, word_dims=word_dims, phone_dims=phone_dims, history_seconds=history_seconds,
        ceiling_range=list(ceiling_range), seed=seed, fine_dt=FINE_DT,
        kinds=list(KINDS), test_story=TEST_STORY, validation_story=VALIDATION_STORY,
        story_names=None if story_names is None else list(story_names),
        unheard={p: list(v) for p, v in (unheard or {}).items()},
    )
    der = out / "derivative"
    truth = out / "simulation_truth"
    for d in (out / "stimuli", der / "TextGrids", der / "rois", truth / "features"):
        d.mkdir(parents=True, exist_ok=True)

    names = list(story_names or [f"simstory{i + 1:02d}" for i in range(n_train_stories)]) + [VALIDATION_STORY, TEST_STORY]
    length_rng = np.random.default_rng((seed, 1))
    lengths = [float(length_rng.uniform(lo, hi)) for _ in range(n_train_stories + 1)] + [settings["test_story_seconds"]]

    specs = [(name, seconds, (seed, 2, i)) for i, (name, seconds) in enumerate(zip(names, lengths))]
    stories = in_fresh_process(_speak_stories, specs, tr)
    embeddings = Embeddings.draw(word_dims, phone_dims, np.random.default_rng((seed, 3)))
    _save_npz(truth / "embeddings.npz", dict(words=np.array(VOCABULARY), word_vectors=embeddings.word_vectors,
                                              phone_classes=np.array(PHONE_CLASSES), phone_vectors=embeddings.phone_vectors))
    feats = {}
    for story in stories:
        rows_t = acquired_row_times(story.n_triggers, tr)
        mel = log_mel_envelope(story.audio, n_mels)
        lang = language_track(embeddings, story.words, story.phones, len(mel), history_seconds)
        feats[story.name] = dict(
            fine_times=np.arange(len(mel)) * FINE_DT, auditory=zscore(mel, dtype=np.float64), language=zscore(lang, dtype=np.float64),
            row_times=rows_t, auditory_rows=features_at_rows(mel, rows_t), language_rows=features_at_rows(lang, rows_t),
        )
        _write_story(out, story)
        _save_npz(truth / "features" / f"{story.name}.npz", {k: np.asarray(v, np.float32) for k, v in feats[story.name].items()})
    _write_json(der / "respdict.json", {s.name: s.n_triggers for s in stories})

    for p in tqdm(range(n_participants), desc="participants", unit="participant", leave=False):
        _simulate_participant(out, f"UTS{p + 1:02d}", feats, settings, np.random.default_rng((seed, 4, p)))
    _write_json(truth / "settings.json", settings)
    return out


def _speak_stories(specs: list[tuple[str, float, tuple]], tr: float) -> list[_Story]:
    return [
        _speak_story(name, seconds, np.random.default_rng(seed), tr)
        for name, seconds, seed in tqdm(specs, desc="speaking stories", unit="story", leave=False)
    ]


def _speak_story(name: str, seconds: float, rng: np.random.Generator, tr: float) -> _Story:
    """Sentences spoken one by one with short pauses until the story lasts `seconds`."""
    voice = VOICES[rng.integers(len(VOICES))]
    espeak_seed = int(rng.integers(2**31))
    chunks, words, phones, t = [], [], [], 0
    target = int(seconds * SAMPLE_RATE)
    while t < target:
        pace = Voice(voice.name, int(round(voice.rate * rng.uniform(*PACE_RANGE))), voice.pitch, voice.pitch_range)
        syn = synthesize(generate_sentence(rng), pace, SAMPLE_RATE, seed=espeak_seed)
        gap = np.zeros(int(rng.uniform(0.1, 0.6) * SAMPLE_RATE), np.float32)
        words += [(w.label, (t + w.start) / SAMPLE_RATE, (t + w.end) / SAMPLE_RATE) for w in syn.words]
        phones += [((t + p.start) / SAMPLE_RATE, (t + p.end) / SAMPLE_RATE, p.label)
                   for p in syn.phonemes if not p.label.startswith("_") and p.end > p.start]
        chunks += [syn.audio, gap]
        t += syn.audio.size + gap.size
    audio = np.concatenate(chunks)[:target]
    words = [(w, s, min(e, seconds)) for w, s, e in words if s < seconds]
    phones = [(s, min(e, seconds), p) for s, e, p in phones if s < seconds]
    # the simulated triggers cover the sound: (n - missing_end) * tr - onset <= seconds
    n_triggers = volumes_for(seconds, tr)
    return _Story(name, audio, words, phones, n_triggers)


def _write_story(out: Path, story: _Story) -> None:
    import soundfile as sf

    wav = out / "stimuli" / f"{story.name}.wav"
    write_atomic_with(wav, lambda tmp: sf.write(tmp, story.audio, SAMPLE_RATE, format="WAV", subtype="PCM_16"))
    write_textgrid(
        out / "derivative" / "TextGrids" / f"{story.name}.TextGrid",
        {"phone": story.phones, "word": [(s, e, w) for w, s, e in story.words]},
        xmax=story.audio.size / SAMPLE_RATE,
    )


def _simulate_participant(out: Path, participant: str, feats: dict, settings: dict, rng: np.random.Generator) -> None:
    n_vox = int(round(settings["n_voxels"] * rng.uniform(0.8, 1.2)))
    n_mels, dim, reps = settings["n_mels"], settings["word_dims"] + settings["phone_dims"], settings["n_repeats"]
    n_aud, n_lang = int(round(SHARES["auditory"] * n_vox)), int(round(SHARES["language"] * n_vox))
    kind = np.zeros(n_vox, np.int8)
    order = rng.permutation(n_vox)  # voxel indices of each kind are scattered over the volume
    kind[order[:n_aud]] = 1
    kind[order[n_aud: n_aud + n_lang]] = 2
    rois = {}
    for k, areas in ((1, AUDITORY_AREAS), (2, LANGUAGE_AREAS), (0, OTHER_AREAS)):
        members = np.flatnonzero(kind == k)
        area_of = np.concatenate([np.arange(len(areas)), rng.integers(len(areas), size=len(members) - len(areas))])
        area_of = rng.permutation(area_of)
        for a, area in enumerate(areas):
            rois[area] = members[area_of == a].tolist()

    # auditory: tonotopic Gaussian tuning over mel bands, positive gains; language: Gaussian read-out
    aud_w = np.zeros((n_vox, n_mels))
    aud = kind == 1
    centre = rng.uniform(0, n_mels - 1, aud.sum())[:, None]
    width = rng.uniform(1.0, 4.0, aud.sum())[:, None]
    aud_w[aud] = rng.uniform(0.5, 1.5, (aud.sum(), 1)) * np.exp(-0.5 * ((np.arange(n_mels) - centre) / width) ** 2)
    lang_w = np.zeros((n_vox, dim))
    lang_w[kind == 2] = rng.standard_normal(((kind == 2).sum(), dim))
    ceiling = np.zeros(n_vox)
    ceiling[kind > 0] = rng.uniform(*settings["ceiling_range"], (kind > 0).sum())
    noise_sd = np.ones(n_vox)
    noise_sd[kind > 0] = np.sqrt(reps * (1.0 / ceiling[kind > 0] ** 2 - 1.0))

    truth = dict(kind=kind, ceiling=ceiling.astype(np.float32), noise_sd=noise_sd.astype(np.float32),
                 auditory_weights=aud_w.astype(np.float32), language_weights=lang_w.astype(np.float32))
    folder = out / "derivative" / "preprocessed_data" / participant
    folder.mkdir(parents=True, exist_ok=True)
    unheard = set(settings["unheard"].get(participant, []))
    for story, f in feats.items():
        if story in unheard:
            continue
        signal = zscore(f["auditory_rows"] @ aud_w.T + f["language_rows"] @ lang_w.T, dtype=np.float64)  # noise voxels: 0
        truth[f"signal_{story}"] = signal.astype(np.float32)
        n_pres = reps if story == TEST_STORY else 1
        presentations = np.stack([
            zscore(signal + noise_sd * rng.standard_normal(signal.shape), dtype=np.float64) for _ in range(n_pres)
        ]).astype(np.float32)
        arrays = {"data": presentations.mean(axis=0)}
        if story == TEST_STORY:
            arrays["individual_repeats"] = presentations
        _save_hf5(folder / f"{story}.hf5", arrays)
    _write_json(out / "derivative" / "rois" / f"{participant}.json", rois)
    _save_npz(out / "simulation_truth" / f"{participant}.npz", truth)


# ---- ground truth readers ----------------------------------------------------------------
@dataclass
class ParticipantTruth:
    """Ground truth of one simulated participant (arrays over voxels V)."""

    kind: np.ndarray  # (V,) int8, index into KINDS
    ceiling: np.ndarray  # (V,) float32, true noise ceiling of the test story's repeat mean
    noise_sd: np.ndarray  # (V,) float32, per-presentation noise sd (signal sd = 1)
    auditory_weights: np.ndarray  # (V, n_mels) float32
    language_weights: np.ndarray  # (V, word_dims + phone_dims) float32
    signals: dict[str, np.ndarray]  # story -> (rows, V) float32 noise-free z-scored response


def load_truth(root: str | Path, participant: str) -> ParticipantTruth:
    """Read root/simulation_truth/<participant>.npz."""
    with np.load(Path(root) / "simulation_truth" / f"{participant}.npz") as z:
        arrays = {k: z[k] for k in z.files}
    signals = {k[len("signal_"):]: arrays.pop(k) for k in list(arrays) if k.startswith("signal_")}
    return ParticipantTruth(signals=signals, **arrays)


def load_true_features(root: str | Path, story: str) -> dict[str, np.ndarray]:
    """The story's true stimulus features (keys in the module docstring), float32.

    ``auditory_rows`` and ``language_rows`` (rows, n) are already HRF-convolved and at the
    response rows: a participant's signal is a linear read-out of their concatenation.
    """
    with np.load(Path(root) / "simulation_truth" / "features" / f"{story}.npz") as z:
        return {k: z[k] for k in z.files}


def load_embeddings(root: str | Path) -> Embeddings:
    """Read root/simulation_truth/embeddings.npz (rows in the order of VOCABULARY and PHONE_CLASSES)."""
    with np.load(Path(root) / "simulation_truth" / "embeddings.npz") as z:
        if tuple(z["words"]) != VOCABULARY or tuple(z["phone_classes"]) != PHONE_CLASSES:
            raise ValueError(f"{root}: simulated with another vocabulary or phone set")
        return Embeddings(z["word_vectors"], z["phone_vectors"])


# ---- helpers ---------------------------------------------------------------------------
def _save_hf5(path: Path, arrays: dict[str, np.ndarray]) -> None:
    import h5py

    def write(tmp):
        with h5py.File(tmp, "w") as f:
            for key, arr in arrays.items():
                f.create_dataset(key, data=arr)

    write_atomic_with(path, write)


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    write_atomic_with(path, lambda tmp: np.savez(tmp, **arrays))


def _write_json(path: Path, obj) -> None:
    write_atomic(path, json.dumps(obj, indent=1))
