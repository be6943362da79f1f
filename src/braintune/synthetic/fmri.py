"""Simulated participants written in the ds003020 layout, with their ground truth.

Stories are English text from a small sentence generator, spoken by espeak-ng. Each
participant samples one canonical cortex map with its own voxel grid (braintune.synthetic.cortex):
a voxel's area is the map's area at its cell's canonical position, and its kind follows the area:

- auditory (Glasser areas of ``early_auditory``): a positive, tonotopically tuned mix of
  the log mel band energies of the audio (averaged per 0.1 s) - the instantaneous
  spectral envelope; each voxel's tuning (centre band, width, gain) is its own draw;
- language (areas of ``late_language``): a linear read-out of what was heard over
  the last ``history_seconds`` (``language_track``): fixed random embeddings (Embeddings,
  drawn from the seed) of the word identity (one vector per word of VOCABULARY) and of the
  phone class (one per class of PHONE_CLASSES: the espeak-ng phonemes of the TextGrids
  mapped to TIMIT phones and folded to the 39 of the phoneme probe, silence dropped,
  ``phone_classes``), each held over its word's or phone's span (``span_track``, centred
  over the spans), then averaged over the history (``history_mean``). The read-out weights
  are shared across participants: one smooth random field of the canonical position
  (cortex.ReadoutField, drawn once from the dataset's seed) evaluated at the voxel's position, so
  voxels at the same canonical place in any participant (either hemisphere) read the same features;
- noise (other areas, cortex.OTHER_AREAS): no signal.

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
being their mean; each participant's pycortex subject and sphere.reg files
(``derivative/pycortex-db/<UTSxx>/``, ``derivative/freesurfer_subjdir/<UTSxx>/surf/``), whose thick
mask's voxels in C order are the response columns, and, if write_roi_files, its ROI file
``derivative/rois/<UTSxx>.json`` (area -> columns; `braintune rois` computes the same from the
subject and the atlas). Ground truth, which the readers ignore, is written beside the corpus
(the cortex's files: braintune.synthetic.cortex_files):
```
root/simulation_truth/settings.json             generator settings
root/simulation_truth/readout.npz               omega (K, 2), phase (K,), coef (K, D): the language read-out field
root/simulation_truth/atlas/fsaverage/          the HCP-MMP1 atlas of the canonical map (surf/, label/)
root/simulation_truth/affine_transforms/affine_s<N>.npy   voxel -> common space (4, 4) of UTS0N
root/simulation_truth/embeddings.npz            words (W,) = VOCABULARY, word_vectors (W, word_dims),
                                                phone_classes (P,) = PHONE_CLASSES, phone_vectors (P, phone_dims)
root/simulation_truth/features/<story>.npz      fine_times (T,), auditory (T, n_mels), language (T, D),
                                                row_times (rows,), auditory_rows (rows, n_mels),
                                                language_rows (rows, D)   (HRF-convolved, at rows)
root/simulation_truth/<UTSxx>.npz               kind (V,) int8 (KINDS), ceiling (V,), noise_sd (V,),
                                                area (V,) str, hemisphere (V,) int8 (0 left),
                                                position (V, 2) canonical (u, v), voxel (V, 3) (x, y, z),
                                                auditory_weights (V, n_mels), language_weights (V, D),
                                                signal_<story> (rows, V) noise-free z-scored responses
```
with D = word_dims + phone_dims (word columns first); ``auditory`` and ``language`` are z-scored
per story, ``signal = zscore(auditory_rows @ auditory_weights.T + language_rows @ language_weights.T)``, and a
language voxel's ``language_weights`` are ``ReadoutField(**readout.npz)(position)`` (as float32).
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
from braintune.errors import ConfigError
from braintune.io import write_atomic, write_atomic_with
from braintune.progress import tqdm
from braintune.synthetic.cortex import KIND_SHARES, KINDS, OTHER_AREAS, REGIONS, ParticipantGrid, ReadoutField
from braintune.synthetic.cortex_files import write_atlas, write_participant_cortex
from braintune.synthetic.speech import Voice, in_fresh_process, synthesize
from braintune.synthetic.stimulus import (  # noqa: F401 (the stimulus model is part of this module's contract)
    FINE_DT,
    PHONE_CLASSES,
    VOCABULARY,
    Embeddings,
    canonical_hrf,
    features_at_rows,
    generate_sentence,
    history_mean,
    language_track,
    log_mel_envelope,
    phone_classes,
    span_track,
)
from braintune.synthetic.textgrid import write_textgrid

SOUND_ONSET = 10.0  # s from the first volume to the start of the sound
MISSING_VOLUMES = 5  # volumes counted in respdict.json but absent from the files
TRIMMED = (10, 5)  # volumes the preprocessing drops at the start and at the end
SHARES = KIND_SHARES  # of the canonical map (a participant's grid samples them within a few %); the rest are noise
TEST_STORY = "wheretheressmoke"
VALIDATION_STORY = "stagefright"
AUDITORY_AREAS = ROI_GROUPS["early_auditory"]
LANGUAGE_AREAS = ROI_GROUPS["late_language"]
PACE_RANGE = (0.6, 1.6)  # each sentence is spoken at its story's voice rate times a factor drawn here
VOICES = (
    Voice("en-us", 165, 45, 50),
    Voice("en-us+f3", 175, 60, 60),
    Voice("en-us+m3", 160, 40, 40),
    Voice("en+f2", 170, 55, 70),
    Voice("en-us+f4", 180, 65, 50),
    Voice("en+m7", 155, 35, 45),
)

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
    write_roi_files: bool = True,
) -> Path:
    """Write a simulated ds003020 corpus to `out` and return `out`.

    Stories: n_train_stories + "stagefright" (validation) + "wheretheressmoke" (test),
    lengths uniform in story_seconds (the test story: test_story_seconds, default the
    longest). story_names: the training stories' names (default simstory01..); their
    number replaces n_train_stories. unheard: participant -> stories they did not hear (no
    response file), as UTS04 of ds003020 lacks "life". Participants "UTS01".. each get
    about n_voxels voxels (x0.8-1.2, rounded to their grid), about SHARES auditory and language,
    the rest noise. Language voxels read word_dims dimensions of word identity and phone_dims of
    phone classes, each averaged over the last history_seconds. write_roi_files: also write
    derivative/rois/<UTSxx>.json (else build them with `braintune rois` from the pycortex
    subjects and simulation_truth/atlas). See the module docstring for the model.
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
        unheard={p: list(v) for p, v in (unheard or {}).items()}, write_roi_files=write_roi_files,
        cortex=dict(map="braintune.synthetic.cortex.REGIONS (canonical (u, v) per hemisphere, atlas cells)",
                    regions={area: list(box) for area, box in REGIONS.items()},
                    language_readout=f"shared by all participants: ReadoutField drawn from seed ({seed}, 5), "
                                     "evaluated at the voxel's canonical position (simulation_truth/readout.npz)",
                    readout_length=ReadoutField.LENGTH, readout_components=ReadoutField.COMPONENTS),
    )
    der = out / "derivative"
    truth = out / "simulation_truth"
    for d in (out / "stimuli", der / "TextGrids", truth / "features", *([der / "rois"] if write_roi_files else [])):
        d.mkdir(parents=True, exist_ok=True)

    names = list(story_names or [f"simstory{i + 1:02d}" for i in range(n_train_stories)]) + [VALIDATION_STORY, TEST_STORY]
    length_rng = np.random.default_rng((seed, 1))
    lengths = [float(length_rng.uniform(lo, hi)) for _ in range(n_train_stories + 1)] + [settings["test_story_seconds"]]

    specs = [(name, seconds, (seed, 2, i)) for i, (name, seconds) in enumerate(zip(names, lengths))]
    stories = in_fresh_process(_speak_stories, specs, tr)
    embeddings = Embeddings.draw(word_dims, phone_dims, np.random.default_rng((seed, 3)))
    _save_npz(truth / "embeddings.npz", dict(words=np.array(VOCABULARY), word_vectors=embeddings.word_vectors,
                                              phone_classes=np.array(PHONE_CLASSES), phone_vectors=embeddings.phone_vectors))
    readout = ReadoutField.draw(word_dims + phone_dims, np.random.default_rng((seed, 5)))
    _save_npz(truth / "readout.npz", dict(omega=readout.omega, phase=readout.phase, coef=readout.coef))
    write_atlas(out)
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
        _simulate_participant(out, f"UTS{p + 1:02d}", feats, settings, np.random.default_rng((seed, 4, p)), readout)
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


def _simulate_participant(out: Path, participant: str, feats: dict, settings: dict, rng: np.random.Generator,
                          readout: ReadoutField) -> None:
    grid = ParticipantGrid.for_voxels(int(round(settings["n_voxels"] * rng.uniform(0.8, 1.2))))
    voxels = grid.voxels()  # the response columns, in C order of the thick mask
    n_vox, kind = grid.n_voxels, voxels.kind
    n_mels, reps = settings["n_mels"], settings["n_repeats"]

    # auditory: tonotopic Gaussian tuning over mel bands, positive gains; language: the shared read-out field
    aud_w = np.zeros((n_vox, n_mels))
    aud = kind == 1
    centre = rng.uniform(0, n_mels - 1, aud.sum())[:, None]
    width = rng.uniform(1.0, 4.0, aud.sum())[:, None]
    aud_w[aud] = rng.uniform(0.5, 1.5, (aud.sum(), 1)) * np.exp(-0.5 * ((np.arange(n_mels) - centre) / width) ** 2)
    lang_w = np.zeros((n_vox, readout.coef.shape[1]))
    lang_w[kind == 2] = readout(voxels.position[kind == 2])
    ceiling = np.zeros(n_vox)
    ceiling[kind > 0] = rng.uniform(*settings["ceiling_range"], (kind > 0).sum())
    noise_sd = np.ones(n_vox)
    noise_sd[kind > 0] = np.sqrt(reps * (1.0 / ceiling[kind > 0] ** 2 - 1.0))

    truth = dict(kind=kind, ceiling=ceiling.astype(np.float32), noise_sd=noise_sd.astype(np.float32),
                 area=voxels.area, hemisphere=voxels.hemisphere, position=voxels.position, voxel=voxels.voxel,
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
    write_participant_cortex(out, participant, grid)
    if settings["write_roi_files"]:
        areas = (*AUDITORY_AREAS, *LANGUAGE_AREAS, *OTHER_AREAS)
        _write_json(out / "derivative" / "rois" / f"{participant}.json",
                    {area: np.flatnonzero(voxels.area == area).tolist() for area in areas})
    _save_npz(out / "simulation_truth" / f"{participant}.npz", truth)


# ---- ground truth readers ----------------------------------------------------------------
@dataclass
class ParticipantTruth:
    """Ground truth of one simulated participant (arrays over voxels V)."""

    kind: np.ndarray  # (V,) int8, index into KINDS
    area: np.ndarray  # (V,) str, the voxel's Glasser area (the canonical map's at its position)
    hemisphere: np.ndarray  # (V,) int8, 0 left, 1 right
    position: np.ndarray  # (V, 2) float64 canonical (u, v) of the voxel's cell (cortex module docstring)
    voxel: np.ndarray  # (V, 3) int64 (x, y, z) in the participant's reference volume
    ceiling: np.ndarray  # (V,) float32, true noise ceiling of the test story's repeat mean
    noise_sd: np.ndarray  # (V,) float32, per-presentation noise sd (signal sd = 1)
    auditory_weights: np.ndarray  # (V, n_mels) float32
    language_weights: np.ndarray  # (V, word_dims + phone_dims) float32 (language voxels: the shared read-out)
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


def load_readout(root: str | Path) -> ReadoutField:
    """Read root/simulation_truth/readout.npz: the language voxels' shared read-out field."""
    with np.load(Path(root) / "simulation_truth" / "readout.npz") as z:
        return ReadoutField(z["omega"], z["phase"], z["coef"])


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
