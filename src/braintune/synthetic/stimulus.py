"""The stimulus features simulated voxels read (braintune.synthetic.fmri): the stories' text
(a small sentence generator over VOCABULARY), the fixed random embeddings of word identity and
phone class, the log mel envelope, and how a feature track on the 0.1 s grid becomes a
response row (canonical HRF, sampled at the row's time)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from braintune.arrays import zscore
from braintune.data.audio import SAMPLE_RATE
from braintune.data.timit import FOLD_61_TO_39, PHONES_39
from braintune.synthetic.corpora import ESPEAK_TO_TIMIT

FINE_DT = 0.1  # s, time step of the stimulus features


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
