"""Cheap content fingerprints of the files a stage reads, for cache keys.

A file's fingerprint is its size and modification time; small metadata files (.json,
.txt, .yaml: respdict.json, ROI files, configs, list files) add a SHA-256 of their
content, so an edit that keeps their size and mtime (a copy with `cp -p`) still counts.
Large data files (responses, audio, weights) are not read: their size and mtime stand in.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

HASHED_SUFFIXES = (".json", ".txt", ".yaml", ".yml")


def file_fingerprint(path: str | os.PathLike) -> str:
    """"size:mtime_ns" (plus ":sha256" for metadata files) of a file; "missing" if absent."""
    path = Path(path)
    try:
        st = path.stat()
        text = f"{st.st_size}:{st.st_mtime_ns}"
        if path.suffix.lower() in HASHED_SUFFIXES:
            text += ":" + hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return "missing"
    return text


def files_fingerprint(paths: Iterable[str | os.PathLike], root: str | os.PathLike | None = None) -> str:
    """One SHA-256 over the fingerprints of `paths`, named relative to `root` (so a moved folder keeps its key)."""
    entries = []
    for path in sorted(map(Path, paths)):
        name = str(path.relative_to(root)) if root is not None and path.is_relative_to(root) else str(path)
        entries.append((name, file_fingerprint(path)))
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()


def folder_fingerprint(folder: str | os.PathLike) -> str:
    """files_fingerprint of every file under `folder` (recursively), relative to it."""
    folder = Path(folder)
    return files_fingerprint((p for p in folder.rglob("*") if p.is_file()), folder)
