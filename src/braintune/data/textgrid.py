"""Praat TextGrids: read the long, short and chronological text formats (writing: braintune.synthetic.textgrid).

The reader follows Praat's own rule for text files: only quoted strings, free-standing
numbers and the ``<exists>`` flag carry data, everything else (``xmin =``,
``intervals [3]:``, ...) is decoration, and ``!`` starts a comment that runs to the end of
the line. So it reads long and short files alike, with CRLF line ends, UTF-8 or UTF-16
(with BOM) encodings, and ``""`` escapes inside labels.

The chronological format ("Praat chronological TextGrid text file", Praat's
``TextGrid_readFromChronologicalTextFile``) lists the time domain, the number of tiers,
one ``"class" "name" xmin xmax`` line per tier, then every interval (``tier start end
"label"``) and point (``tier time "mark"``) in time order, tiers numbered from 1.
A file in any other format (Praat's binary format, a CSV ...) is a DataError naming it.
"""

from __future__ import annotations

import re
from pathlib import Path

from braintune.errors import DataError

Interval = tuple[float, float, str]  # (start s, end s, label)

# Labels of the word tier that are not words: silences and noise markers such as "{NS}".
NON_WORDS = frozenset({"", "sp", "sil", "sentence_start", "sentence_end"})

CHRONOLOGICAL = "Praat chronological TextGrid text file"
_OO_HEADERS = ("ooTextFile", "ooTextFile short")

_TOKEN = re.compile(
    r'"((?:[^"]|"")*)"|(![^\r\n]*)|<exists>|<absent>|\[[^\]]*\]'
    r"|(?<![\w.])([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)(?![\w\]])"
)


def read_textgrid(path: str | Path) -> dict[str, list[Interval]]:
    """Read a Praat TextGrid (long, short or chronological text format) -> tier name -> intervals.

    Interval tiers give (start, end, label) in time order; point tiers give (time, time, mark).
    Raises DataError naming the file if it is missing, in a format not read, or malformed.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read TextGrid ({exc.strerror or exc})") from exc
    if raw.startswith(b"ooBinaryFile"):
        raise DataError(f"{path}: a binary Praat TextGrid; braintune reads the text formats "
                        "(open it in Praat and use Save as text file)")
    text = raw.decode("utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else raw.decode("utf-8-sig", "replace")
    tokens = []
    for m in _TOKEN.finditer(text):
        if m.group(1) is not None:
            tokens.append(m.group(1).replace('""', '"'))
        elif m.group(3) is not None:
            tokens.append(float(m.group(3)))
        elif m.group(0) in ("<exists>", "<absent>"):
            tokens.append(m.group(0))
    if tokens[:1] == [CHRONOLOGICAL]:
        parse = _parse_chronological
    elif tokens[:2] in ([h, "TextGrid"] for h in _OO_HEADERS):
        parse = _parse
    else:
        first = text.strip().splitlines()[0][:60] if text.strip() else ""
        raise DataError(f"{path}: not a readable Praat TextGrid: braintune reads the long, short and chronological "
                        f"text formats, and this file starts with {first!r}")
    try:
        return parse(tokens)
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
    """The long and short formats: header, xmin, xmax, <exists>, tiers one after another."""
    pos = 4  # after the header's two strings, xmin, xmax
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
        width = _item_width(kind)
        tiers[str(name)] = [_item(kind, tokens[i: i + width]) for i in range(pos, pos + n * width, width)]
        pos += n * width
    return tiers


def _parse_chronological(tokens: list) -> dict[str, list[Interval]]:
    """The chronological format: header, xmin, xmax, n tiers, (class, name, xmin, xmax) per tier, then
    items (tier number, start, end, label | tier number, time, mark) in time order."""
    n_tiers = int(tokens[3])
    pos = 4
    kinds, tiers = [], []
    for _ in range(n_tiers):
        kind, name = tokens[pos], tokens[pos + 1]
        _item_width(kind)
        kinds.append(kind)
        tiers.append((str(name), []))
        pos += 4
    while pos < len(tokens):
        number = tokens[pos]
        if isinstance(number, str) or not number.is_integer() or not 1 <= number <= n_tiers:
            raise ValueError(f"item {pos}: tier number {number!r} is not 1..{n_tiers}")
        kind = kinds[int(number) - 1]
        width = _item_width(kind)
        tiers[int(number) - 1][1].append(_item(kind, tokens[pos + 1: pos + 1 + width]))
        pos += 1 + width
    return {name: sorted(items, key=lambda iv: (iv[0], iv[1])) for name, items in tiers}


def _item_width(kind) -> int:
    """Tokens per item of a tier class: 3 for an interval, 2 for a point."""
    if kind == "IntervalTier":
        return 3
    if kind == "TextTier":
        return 2
    raise ValueError(f"unknown tier class {kind!r}")


def _item(kind: str, tokens: list) -> Interval:
    """(start, end, label) of an interval, (time, time, mark) of a point."""
    if kind == "IntervalTier":
        start, end, label = tokens
    else:
        (start, label), end = tokens, tokens[0]
    if isinstance(start, str) or isinstance(end, str) or not isinstance(label, str):
        raise ValueError(f"expected times and a quoted label, got {tokens!r}")
    return float(start), float(end), label
