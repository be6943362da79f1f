"""Progress bars: tqdm on a terminal."""

from tqdm.auto import tqdm

__all__ = ["tqdm"]
