"""The data doctor's checks of a Speech Commands folder (beside its reader, braintune.data.speech_commands)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from braintune.data import speech_commands
from braintune.data.audio import SAMPLE_RATE, read_rate
from braintune.data.findings import ERROR, WARNING, Findings
from braintune.progress import tqdm


def check(found: Findings, root: Path, full: bool, progress: bool) -> None:
    """Layout and list files (the reader), then every clip: 16 kHz, at most 1 s, not empty (decoded if `full`)."""
    clips = found.attempt(root, speech_commands.list_clips, root)
    if clips is None:
        return
    for clip in tqdm(clips, desc="checking Speech Commands", unit="clip", disable=not progress):
        if full:
            found.attempt(clip.path, speech_commands.read_clip, clip)
            continue
        header = found.attempt(clip.path, read_rate, clip.path)
        if header is None:
            continue
        rate, frames = header
        if rate != SAMPLE_RATE:
            found.add(ERROR, clip.path, f"sample rate {rate} Hz, expected {SAMPLE_RATE}")
        elif not 0 < frames <= speech_commands.CLIP_SAMPLES:
            found.add(ERROR, clip.path, f"{frames} samples; a clip holds 1 to {speech_commands.CLIP_SAMPLES}")
    words = Counter(c.word for c in clips)
    splits = Counter(c.split for c in clips)
    missing = [w for w in speech_commands.WORDS if w not in words]
    extra = sorted(set(words) - set(speech_commands.WORDS))
    if missing:
        found.add(WARNING, root, f"no clips of {len(missing)} of the 35 words: {', '.join(missing[:5])}"
                  + (" ..." if len(missing) > 5 else ""))
    if extra:
        found.add(WARNING, root, f"folders that are not among the 35 words (probed as words too): {', '.join(extra[:5])}")
    unnamed = [c.relpath for c in clips if "_nohash_" not in c.relpath]
    if unnamed:
        found.add(WARNING, root, f"{len(unnamed)} clip name(s) lack '_nohash_' (speaker unknown), e.g. {unnamed[0]}")
    for split, listing in (("validation", "validation_list.txt"), ("test", "testing_list.txt")):
        if not splits[split]:
            found.add(ERROR, root / listing, f"lists no clips: the {split} split is empty")
    if not splits["train"]:
        found.add(ERROR, root, "no training clips (every clip is listed as validation or test)")
    for split in speech_commands.SPLITS:  # the word probe's classifier needs two classes at least
        heard = sorted({c.word for c in clips if c.split == split})
        if len(heard) == 1:
            found.add(ERROR, root, f"Speech Commands {split} split: every clip is of the word {heard[0]!r}; the word "
                      "probe needs clips of at least two words")
    found.corpora["speech_commands"] = {"root": str(root), "clips": len(clips), "words": len(words),
                                        **{split: splits[split] for split in speech_commands.SPLITS}}


def summary_lines(info: dict) -> list[str]:
    """The Speech Commands line of `braintune check`."""
    return [f"Speech Commands {info['root']}: {info['clips']} clips of {info['words']} words "
            f"(train {info['train']}, validation {info['validation']}, test {info['test']})"]
