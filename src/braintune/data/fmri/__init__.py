"""fMRI datasets: one interface (FMRIDataset), one registry of on-disk layouts, one split policy.

    open_dataset("ds003020", root)          # the layout a study's `data.layout` names
    register_dataset("mine", MyDataset)     # a new layout: a class implementing FMRIDataset

A new dataset is one module implementing FMRIDataset and one line in LAYOUTS (or a call of
register_dataset). Stages never import a layout's module; they call open_dataset.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from braintune.data.fmri.interface import FMRIDataset
from braintune.data.fmri.split import SplitSettings, StoryList, StorySplit, resolve_split, story_list
from braintune.errors import ConfigError

DEFAULT_LAYOUT = "ds003020"
# layout name -> "module:class" (imported when a dataset of that layout is opened) or a class
LAYOUTS: dict[str, str | type[FMRIDataset]] = {
    "ds003020": "braintune.data.fmri.ds003020:DS003020",
}


def register_dataset(layout: str, cls: type[FMRIDataset]) -> None:
    """Make `layout` a known `data.layout`, read by `cls` (a subclass of FMRIDataset)."""
    if not (isinstance(cls, type) and issubclass(cls, FMRIDataset)):
        raise TypeError(f"{cls!r} does not implement braintune.data.fmri.FMRIDataset")
    LAYOUTS[layout] = cls


def check_layout(layout: str) -> str:
    """`layout` if known, else a ConfigError naming the known ones."""
    if layout not in LAYOUTS:
        raise ConfigError(f"data.layout: unknown fMRI layout {layout!r} (known: {', '.join(sorted(LAYOUTS))})")
    return layout


def dataset_class(layout: str) -> type[FMRIDataset]:
    """The class that reads `layout`."""
    target = LAYOUTS[check_layout(layout)]
    if isinstance(target, str):
        module, name = target.split(":")
        target = getattr(importlib.import_module(module), name)
    return target


def open_dataset(layout: str, root: str | Path, **options) -> FMRIDataset:
    """The dataset folder `root` read in `layout` (options go to the layout's class)."""
    return dataset_class(layout)(root, **options)


__all__ = ["DEFAULT_LAYOUT", "FMRIDataset", "LAYOUTS", "SplitSettings", "StoryList", "StorySplit", "check_layout",
           "dataset_class", "open_dataset", "register_dataset", "resolve_split", "story_list"]
