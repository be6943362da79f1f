"""Screenshot a braintune report.html in a real browser (headless Chromium), to look at what readers see.

    python tools/report_screenshot.py RUN/report.html OUT.png                      # the whole page
    python tools/report_screenshot.py RUN/report.html OUT.png --section brain-maps # from a section down
    python tools/report_screenshot.py RUN/report.html OUT.png --width 1300 --height 6000 --browser /usr/bin/chromium

Needs Debian's Chromium (`apt-get install -y chromium`); no test requires it. The page is opened
from the file (file://, offline: the report embeds its images), in a fresh empty profile, with the
flags a headless run on a closed network needs (--headless --no-sandbox --disable-gpu
--disable-background-networking ...). With --section ID the page starts at that heading (the report's
ids: brain-maps): a temporary copy beside the report hides what precedes it (a #ID fragment leaves
headless Chromium's screenshot blank); without it, at the top. --height is the viewport's height in CSS pixels
(Chromium cannot capture a page taller than about 16000 pixels); blank rows at the bottom are cut.
Prints the PNG's path and size. Then open the PNG (an image viewer) and check: the flat maps the
right way up (the occipital pole at the bottom, dorsal at the top), the left hemisphere on the left,
outlines on the regions they name, names readable, a colour bar with units beside every map.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--force-device-scale-factor=1")


def screenshot(report: Path, out: Path, width: int = 1300, height: int = 6000, section: str | None = None,
               browser: str | None = None, timeout: float = 120.0) -> tuple[int, int]:
    """Write OUT (PNG) of the report at width x height CSS pixels; returns the PNG's (width, height) after
    cutting blank rows at the bottom."""
    browser = browser or shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        raise SystemExit("no chromium on PATH: apt-get install -y chromium (or pass --browser)")
    if not report.is_file():
        raise SystemExit(f"{report}: no such report")
    out.parent.mkdir(parents=True, exist_ok=True)
    page = report
    if section:  # a copy beside the report (files it links to still load) that hides what precedes the section
        text = report.read_text("utf-8")
        if f'id="{section}"' not in text:
            raise SystemExit(f"{report}: no element with id {section!r}")
        page = report.with_name(f".screenshot-{section}-{report.name}")
        page.write_text(from_section(text, section), "utf-8")
    try:
        with tempfile.TemporaryDirectory(prefix="report-screenshot-") as profile:
            command = [browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                       f"--screenshot={out.resolve()}", page.resolve().as_uri()]
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    finally:
        if page != report:
            page.unlink(missing_ok=True)
    if done.returncode != 0 or not out.is_file():
        raise SystemExit(f"chromium failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return trim_bottom(out)


def from_section(html: str, section: str) -> str:
    """The page with every element of <body> before the one of id `section` hidden (CSS :has)."""
    hide = f"<style>body > :has(~ #{section}) {{ display: none; }}</style>"
    return html.replace("</head>", hide + "</head>", 1)


def trim_bottom(path: Path) -> tuple[int, int]:
    """Cut the white rows below the last non-white one (a viewport taller than the page); (width, height)."""
    import numpy as np
    from PIL import Image

    image = Image.open(path).convert("RGB")
    pixels = np.asarray(image)
    used = np.flatnonzero((pixels < 250).any(axis=(1, 2)))
    if len(used) and used[-1] + 21 < pixels.shape[0]:  # keep 20 blank rows below the last used one
        image = image.crop((0, 0, pixels.shape[1], int(used[-1]) + 21))
        image.save(path)
    return image.size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", type=Path, help="report.html of a run folder")
    parser.add_argument("out", type=Path, help="PNG to write")
    parser.add_argument("--width", type=int, default=1300, help="viewport width in CSS pixels (default 1300)")
    parser.add_argument("--height", type=int, default=6000, help="viewport height in CSS pixels (default 6000)")
    parser.add_argument("--section", help="start at this heading id, e.g. brain-maps")
    parser.add_argument("--browser", help="Chromium executable (default: chromium on PATH)")
    args = parser.parse_args(argv)
    width, height = screenshot(args.report, args.out, args.width, args.height, args.section, args.browser)
    print(f"{args.out} ({width} x {height} pixels)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
