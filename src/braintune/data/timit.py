"""TIMIT (LDC93S1) reader, for the original on-disk layout.

    root/TRAIN|TEST/DR1..DR8/<speaker>/<sentence>.WAV|PHN|WRD|TXT

Names may be upper or lower case (CD copies and unpacked archives differ). Audio is
16 kHz 16-bit NIST SPHERE (read with soundfile; a RIFF/WAV file under the same name is
read too). Label files hold one `BEGIN_SAMPLE END_SAMPLE LABEL` per line; `.TXT` holds
`BEGIN END the prompt text`. The speaker folder's first letter is the sex (M/F); the
sentence name's first two letters are the sentence type: SA (dialect), SX (phonetically
compact), SI (phonetically diverse).

Phones fold 61 -> 39 following Lee & Hon (1989): closures, h#, pau and epi -> sil;
q is deleted; ao->aa; ax, ax-h->ah; axr->er; el->l; em->m; en, nx->n; eng->ng; hv->hh;
ix->ih; ux->uw; zh->sh.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from braintune.data import audio
from braintune.data.audio import SAMPLE_RATE
from braintune.errors import DataError


PHONES_61 = (
    "b", "d", "g", "p", "t", "k", "dx", "q", "bcl", "dcl", "gcl", "pcl", "tcl", "kcl",
    "jh", "ch", "s", "sh", "z", "zh", "f", "th", "v", "dh",
    "m", "n", "ng", "em", "en", "eng", "nx",
    "l", "r", "w", "y", "hh", "hv", "el",
    "iy", "ih", "eh", "ey", "ae", "aa", "aw", "ay", "ah", "ao", "oy", "ow", "uh", "uw", "ux",
    "er", "ax", "ix", "axr", "ax-h",
    "pau", "epi", "h#",
)

_FOLDS = {
    **{c: "sil" for c in ("bcl", "dcl", "gcl", "pcl", "tcl", "kcl", "h#", "pau", "epi")},
    "q": None, "ao": "aa", "ax": "ah", "ax-h": "ah", "axr": "er", "el": "l", "em": "m",
    "en": "n", "nx": "n", "eng": "ng", "hv": "hh", "ix": "ih", "ux": "uw", "zh": "sh",
}
FOLD_61_TO_39: dict[str, str | None] = {p: _FOLDS.get(p, p) for p in PHONES_61}
PHONES_39 = tuple(sorted({p for p in FOLD_61_TO_39.values() if p is not None}))

SENTENCE_TYPES = ("SA", "SI", "SX")

# The core test set: 24 speakers, two men and one woman from each dialect region
# (TIMIT documentation, "testset.doc").
CORE_TEST_SPEAKERS = {
    "DR1": ("MDAB0", "MWBT0", "FELC0"),
    "DR2": ("MTAS1", "MWEW0", "FPAS0"),
    "DR3": ("MJMP0", "MLNT0", "FPKT0"),
    "DR4": ("MLLL0", "MTLS0", "FJLM0"),
    "DR5": ("MBPM0", "MKLT0", "FNLP0"),
    "DR6": ("MCMJ0", "MJDH0", "FMGD0"),
    "DR7": ("MGRT0", "MNJM0", "FDHC0"),
    "DR8": ("MJLN0", "MPAM0", "FMLD0"),
}
CORE_TEST_SET = frozenset(s for speakers in CORE_TEST_SPEAKERS.values() for s in speakers)


@dataclass(frozen=True)
class Label:
    """One line of a .PHN or .WRD file: samples [start, end) at 16 kHz."""

    start: int
    end: int
    label: str


@dataclass(frozen=True)
class Utterance:
    """One TIMIT recording. Identity fields are upper case whatever the on-disk case."""

    split: str  # "TRAIN" or "TEST"
    dialect: str  # "DR1".."DR8"
    speaker: str  # e.g. "FCJF0"
    sentence: str  # e.g. "SA1", "SX127", "SI1027"
    stem: Path  # the files' path without extension

    @property
    def id(self) -> str:
        return f"{self.split}/{self.dialect}/{self.speaker}/{self.sentence}"

    @property
    def sentence_type(self) -> str:
        return self.sentence[:2]

    @property
    def sex(self) -> str:
        return self.speaker[0]

    def path(self, kind: str) -> Path:
        """The file of this utterance with extension `kind` ("WAV", "PHN", "WRD", "TXT")."""
        for ext in (kind.upper(), kind.lower()):
            p = self.stem.with_name(self.stem.name + "." + ext)
            if p.is_file():
                return p
        raise DataError(f"{self.stem}.{kind.upper()}: missing (TIMIT utterance {self.id})")


def _child(parent: Path, name: str) -> Path | None:
    """The entry of `parent` called `name` in any letter case."""
    for p in (parent / name, parent / name.lower()):
        if p.exists():
            return p
    for p in parent.iterdir():
        if p.name.upper() == name.upper():
            return p
    return None


def list_utterances(root: str | Path, split: str = "train") -> list[Utterance]:
    """All utterances of a split, sorted by id.

    split: "train", "test" (the full 168-speaker test set) or "core-test" (its 24-speaker
    core). An utterance is a `.WAV` file with a `.PHN` file beside it; TIMIT has a `.PHN` for
    every `.WAV`, so a `.WAV` without one (a damaged copy) is a DataError naming the first
    such `.PHN` and counting them.
    """
    utterances, unlabelled = find_utterances(root, split)
    if unlabelled:
        raise DataError(missing_phn_message(unlabelled))
    return utterances


def missing_phn_message(unlabelled: list[Path]) -> str:
    """One line naming the first `.PHN` missing beside the `.WAV` files `unlabelled`, and their count."""
    first = unlabelled[0]
    more = f" ({len(unlabelled)} .WAV files lack their .PHN, this is the first)" if len(unlabelled) > 1 else ""
    phn = first.with_suffix(".PHN" if first.suffix.isupper() else ".phn")
    return (f"{phn}: missing beside {first.name}{more}; TIMIT has a .PHN for every .WAV: "
            "is the copy complete?")


def find_utterances(root: str | Path, split: str = "train") -> tuple[list[Utterance], list[Path]]:
    """The utterances of a split (list_utterances, sorted by id) and the `.WAV` files without a
    `.PHN` beside them (sorted). Names with a second dot (`SA1.WAV.wav`, a converted copy some
    distributions put beside `SA1.WAV`) are not utterances."""
    root = Path(root)
    split = split.lower()
    if split not in ("train", "test", "core-test"):
        raise ValueError(f"unknown TIMIT split {split!r}: use train, test or core-test")
    if not root.is_dir():
        raise DataError(f"{root}: TIMIT root is not a folder")
    folder = _child(root, "TRAIN" if split == "train" else "TEST")
    if folder is None or not folder.is_dir():
        inner = [p for p in root.iterdir() if p.is_dir() and _child(p, "TRAIN") is not None]
        hint = f" (the corpus seems to be in {inner[0]})" if inner else ""
        raise DataError(f"{root}: no {'TRAIN' if split == 'train' else 'TEST'} folder; expected the TIMIT layout "
                        f"TRAIN|TEST/DR1..DR8/<speaker>/<sentence>.WAV|PHN|WRD|TXT{hint}")
    utterances, unlabelled = [], []
    for dr in sorted(folder.iterdir()):
        if not (dr.is_dir() and dr.name.upper().startswith("DR")):
            continue
        for spk in sorted(dr.iterdir()):
            if not spk.is_dir():
                continue
            speaker = spk.name.upper()
            if split == "core-test" and speaker not in CORE_TEST_SET:
                continue
            for wav in sorted(spk.iterdir()):
                if wav.suffix.upper() != ".WAV" or "." in wav.stem or not wav.is_file():
                    continue
                sentence = wav.stem.upper()
                if sentence[:2] not in SENTENCE_TYPES:
                    raise DataError(f"{wav}: sentence name should start with SA, SI or SX")
                if not any(wav.with_suffix(s).is_file() for s in (".PHN", ".phn")):
                    unlabelled.append(wav)
                    continue
                utterances.append(Utterance(folder.name.upper(), dr.name.upper(), speaker, sentence,
                                            wav.with_suffix("")))
    if not utterances and not unlabelled:
        raise DataError(f"{folder}: no utterances (.WAV with .PHN) found")
    return sorted(utterances, key=lambda u: u.id), unlabelled


def num_samples(utt: Utterance) -> int:
    """Length of the utterance's audio in samples, from its header, once the .WAV itself is checked.

    The .WAV must be 16 kHz, not empty, not compressed SPHERE, and hold every sample its
    header declares: a truncated or resampled copy is named as the .WAV's problem, before
    any label file is blamed for running past its end.
    """
    path = utt.path("WAV")
    declared = _declared_samples(path)
    rate, frames = audio.read_rate(path)
    if rate != SAMPLE_RATE:
        raise DataError(f"{path}: sample rate {rate} Hz, expected {SAMPLE_RATE}")
    if declared is not None and frames < declared:
        raise DataError(f"{path}: truncated: its header declares {declared} samples, the file holds {frames}")
    if frames == 0:
        raise DataError(f"{path}: audio is empty")
    return frames


def _declared_samples(path: Path) -> int | None:
    """Samples per channel the file's header declares (SPHERE `sample_count`, RIFF data chunk);
    None for other formats. Compressed SPHERE (shorten) is a DataError: soundfile cannot decode it."""
    with open(path, "rb") as f:
        head = f.read(1024)
    if head.startswith(b"NIST_1A"):
        fields = {}
        for line in head.decode("latin-1").splitlines()[2:]:
            parts = line.split(None, 2)
            if parts == ["end_head"]:
                break
            if len(parts) == 3:
                fields[parts[0]] = parts[2].strip()
        coding = fields.get("sample_coding", "pcm")
        if any(packed in coding for packed in ("shorten", "wavpack", "shortpack")):
            raise DataError(f"{path}: SPHERE sample_coding {coding!r} (compressed); decompress the corpus first, "
                            "e.g. with sph2pipe")
        return int(fields["sample_count"]) if fields.get("sample_count", "").isdigit() else None
    if head.startswith(b"RIFF"):
        try:
            with wave.open(str(path)) as w:
                return w.getnframes()
        except (wave.Error, EOFError):
            return None
    return None


def read_audio(utt: Utterance) -> np.ndarray:
    """The utterance's waveform: (samples,) float32 in [-1, 1] at 16 kHz (the .WAV checked by num_samples)."""
    num_samples(utt)
    return audio.read_audio(utt.path("WAV"), None, mono="require")


def read_labels(path: str | Path, n_samples: int | None = None) -> list[Label]:
    """Parse a `.PHN`/`.WRD` file; offsets must satisfy 0 <= start <= end <= n_samples."""
    path = Path(path)
    labels = []
    for i, line in enumerate(path.read_text(encoding="latin-1").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            start, end, label = int(parts[0]), int(parts[1]), parts[2]
        except (IndexError, ValueError):
            raise DataError(f"{path}: line {i} is not 'BEGIN_SAMPLE END_SAMPLE LABEL': {line!r}") from None
        if not 0 <= start <= end:
            raise DataError(f"{path}: line {i} has begin {start} after end {end}")
        if n_samples is not None and end > n_samples:
            raise DataError(f"{path}: line {i} ends at sample {end}, past the end of the audio ({n_samples} samples)")
        labels.append(Label(start, end, label))
    return labels


def read_phones(utt: Utterance, fold: bool = True) -> list[Label]:
    """The utterance's phones, checked against its audio length and the 61-phone set.

    fold: map to the 39 classes of Lee & Hon (1989), dropping `q`.
    """
    path = utt.path("PHN")
    phones = read_labels(path, num_samples(utt))
    unknown = sorted({p.label for p in phones} - set(PHONES_61))
    if unknown:
        raise DataError(f"{path}: unknown phone label(s) {', '.join(unknown)} (not in the 61 TIMIT phones)")
    if not fold:
        return phones
    return [Label(p.start, p.end, FOLD_61_TO_39[p.label]) for p in phones if FOLD_61_TO_39[p.label] is not None]


def read_words(utt: Utterance) -> list[Label]:
    """The utterance's words (lower case, as in the .WRD file), checked against its audio."""
    return read_labels(utt.path("WRD"), num_samples(utt))


def read_text(utt: Utterance) -> str:
    """The prompt text of the utterance (the .TXT file without its sample range)."""
    path = utt.path("TXT")
    parts = path.read_text(encoding="latin-1").split(maxsplit=2)
    if len(parts) < 3:
        raise DataError(f"{path}: expected 'BEGIN END text'")
    return parts[2].strip()


def phone_set(labels: list[Label], start: int = 0, end: int | None = None) -> set[str]:
    """Labels of the phones that overlap samples [start, end)."""
    end = np.inf if end is None else end
    return {p.label for p in labels if p.start < end and p.end > start}
