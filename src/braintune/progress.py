"""Progress bars for terminals and for log files.

`tqdm` is tqdm's bar, unchanged when its stream is a terminal. When it is not (a Slurm
job's log, output redirected to a file, CI), the bar writes plain lines instead of
redrawing one line with carriage returns: nothing for a bar that ends within
PLAIN_INTERVAL_SECONDS, else one line every PLAIN_INTERVAL_SECONDS and one when it ends.
"""

from __future__ import annotations

import re
import sys
import time

from tqdm import tqdm as _tqdm

PLAIN_INTERVAL_SECONDS = 30.0

_CURSOR_MOVES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # tqdm moves the cursor between nested bars


class _Lines:
    """A stream for tqdm that writes each status it draws as one line of its own."""

    def __init__(self, stream):
        self.stream = stream
        self.encoding = getattr(stream, "encoding", None)

    def write(self, text: str) -> None:
        line = _CURSOR_MOVES.sub("", text).replace("\r", "").strip()
        if line:
            self.stream.write(line + "\n")
            self.stream.flush()

    def flush(self) -> None:
        self.stream.flush()


class tqdm(_tqdm):  # noqa: N801  (tqdm's name, so `from braintune.progress import tqdm` is a drop-in)
    """tqdm.tqdm that writes periodic plain lines when its stream is not a terminal."""

    def __init__(self, iterable=None, *args, **kwargs):
        stream = kwargs.get("file") or sys.stderr
        isatty = getattr(stream, "isatty", None)
        self._plain = not (isatty and isatty())
        self._plain_last = time.time()
        if self._plain:
            kwargs["file"] = _Lines(stream)
            kwargs.setdefault("mininterval", PLAIN_INTERVAL_SECONDS)
            kwargs.setdefault("delay", PLAIN_INTERVAL_SECONDS)
            kwargs.setdefault("ascii", True)
        super().__init__(iterable, *args, **kwargs)

    def display(self, msg=None, pos=None):
        """Draw the bar; in plain mode a redraw while running (set_postfix, refresh) is a
        line at most every PLAIN_INTERVAL_SECONDS (closing sets `disable` and always draws)."""
        if self._plain and not self.disable:
            now = time.time()
            if now - self._plain_last < PLAIN_INTERVAL_SECONDS:
                return True
            self._plain_last = now
        return super().display(msg, pos)
