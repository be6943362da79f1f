"""Writing Praat TextGrids (long text format), as the stand-in corpora need them."""

from __future__ import annotations

from pathlib import Path

from braintune.data.textgrid import Interval
from braintune.io import write_atomic


def write_textgrid(path: str | Path, tiers: dict[str, list[Interval]], xmax: float | None = None) -> None:
    """Write interval tiers as a Praat long-format TextGrid (atomically).

    tiers: tier name -> intervals (start, end, label) in seconds, in time order. Gaps are
    filled with empty intervals, so each tier covers [0, xmax] as Praat requires.
    """
    ends = [iv[1] for ivs in tiers.values() for iv in ivs]
    xmax = float(xmax if xmax is not None else max(ends, default=0.0))
    lines = [
        'File type = "ooTextFile"', 'Object class = "TextGrid"', "",
        "xmin = 0", f"xmax = {xmax!r}", "tiers? <exists>", f"size = {len(tiers)}", "item []:",
    ]
    for k, (name, intervals) in enumerate(tiers.items(), start=1):
        filled: list[Interval] = []
        t = 0.0
        for start, end, label in intervals:
            if start > t:
                filled.append((t, start, ""))
            filled.append((start, end, label))
            t = end
        if t < xmax or not filled:
            filled.append((t, xmax, ""))
        lines += [
            f"    item [{k}]:", '        class = "IntervalTier"', f'        name = "{_quote(name)}"',
            "        xmin = 0", f"        xmax = {xmax!r}", f"        intervals: size = {len(filled)}",
        ]
        for i, (start, end, label) in enumerate(filled, start=1):
            lines += [
                f"        intervals [{i}]:", f"            xmin = {float(start)!r}",
                f"            xmax = {float(end)!r}", f'            text = "{_quote(label)}"',
            ]
    write_atomic(path, "\n".join(lines) + "\n")


def _quote(label: str) -> str:
    return label.replace('"', '""')
