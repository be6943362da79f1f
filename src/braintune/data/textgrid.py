"""Praat TextGrids: read the long and short text formats (writing: braintune.synthetic.textgrid).

The reader follows Praat's own rule for text files: only quoted strings, free-standing
numbers and the ``<exists>`` flag carry data, everything else (``xmin =``,
``intervals [3]:``, ...) is decoration. So it reads long and short files alike, with CRLF
line ends, UTF-8 or UTF-16 (with BOM) encodings, and ``""`` escapes inside labels.
"""

from __future__ import annotations

import re
from pathlib import Path

from braintune.errors import DataError

Interval = tuple[float, float, str]  # (start s, end s, label)

# Labels of the word tier that are not words: silences and noise markers such as "{NS}".
NON_WORDS = frozenset({"", "sp", "sil", "sentence_start", "sentence_end"})

_TOKEN = re.compile(r'"((?:[^"]|"")*)"|<exists>|<absent>|\[[^\]]*\]|(?<![\w.])([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)(?![\w\]])')


def read_textgrid(path: str | Path) -> dict[str, list[Interval]]:
    """Read a Praat TextGrid (long or short text format) -> tier name -> intervals.

    Interval tiers give (start, end, label); point tiers give (time, time, mark).
    Raises DataError naming the file if it is missing or not a TextGrid.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read TextGrid ({exc.strerror or exc})") from exc
    text = raw.decode("utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else raw.decode("utf-8-sig", "replace")
    tokens = []
    for m in _TOKEN.finditer(text):
        if m.group(1) is not None:
            tokens.append(m.group(1).replace('""', '"'))
        elif m.group(2) is not None:
            tokens.append(float(m.group(2)))
        elif m.group(0) in ("<exists>", "<absent>"):
            tokens.append(m.group(0))
    try:
        return _parse(tokens)
    except (IndexError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: not a readable Praat TextGrid ({exc})") from exc


def read_words(path: str | Path, tier: str = "word") -> list[Interval]:
    """(word, start s, end s) of the word tier, silences ("sp", "") and noise marks ("{NS}") skipped.

    The tier is found by name, ignoring case and a plural "s" ("word", "words", "Word").
    """
    tiers = read_textgrid(path)
    by_name = {name.lower().rstrip("s"): ivs for name, ivs in tiers.items()}
    if tier.lower().rstrip("s") not in by_name:
        raise DataError(f"{path}: no {tier!r} tier (tiers: {sorted(tiers)})")
    words = []
    for start, end, label in by_name[tier.lower().rstrip("s")]:
        label = label.strip()
        if label.lower() in NON_WORDS or (label.startswith("{") and label.endswith("}")):
            continue
        words.append((label, start, end))
    return words


def _parse(tokens: list) -> dict[str, list[Interval]]:
    if tokens[:2] != ["ooTextFile", "TextGrid"]:
        raise ValueError("header is not 'ooTextFile' / 'TextGrid'")
    pos = 4  # after xmin, xmax
    if tokens[pos] == "<absent>":
        return {}
    pos += 1
    n_tiers = int(tokens[pos])
    pos += 1
    tiers: dict[str, list[Interval]] = {}
    for _ in range(n_tiers):
        kind, name = tokens[pos], tokens[pos + 1]
        n = int(tokens[pos + 4])
        pos += 5
        intervals: list[Interval] = []
        if kind == "IntervalTier":
            for _i in range(n):
                start, end, label = tokens[pos: pos + 3]
                intervals.append((float(start), float(end), str(label)))
                pos += 3
        elif kind == "TextTier":
            for _i in range(n):
                t, mark = tokens[pos: pos + 2]
                intervals.append((float(t), float(t), str(mark)))
                pos += 2
        else:
            raise ValueError(f"unknown tier class {kind!r}")
        tiers[str(name)] = intervals
    return tiers
