"""Finished chunks of reward samples on disk, so that an interrupted run loses no finished chunk and resumes.

A run directory holds ``chunks/SSSSSSS-EEEEEEE.npz`` (or another folder name, e.g. ``blocks/`` for the exact
solver's sample blocks), one file per finished range ``[start, end)`` of sample indices (at least seven digits
each), each written to a temporary file, flushed to disk and renamed (atomic: a killed run leaves whole files or
none), and ``chunks/key.json``, what every chunk's result depends on. A rerun with the same key reuses the chunks it
finds and trains only the missing ranges; a different key is refused unless the caller restarts. A sample's
result must not depend on which chunk it was trained in (both PPO trainers guarantee it), so ranges from runs
with different ``--chunk`` values combine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Iterator, Union

import numpy as np

from multipower.envs.serialization import atomic_path, atomic_write

CHUNK_DIR = "chunks"
KEY_FILE = "key.json"
_NAME = re.compile(r"^(\d{7,})-(\d{7,})\.npz$")


class ChunkStore:
    """The finished chunks of one run.

    :param directory: The run directory (``chunks/`` is made inside it).
    :param key: JSON-able description of everything a sample's result depends on (its run specification
        without the number of samples, and the learner's hyperparameters).
    :param restart: Delete finished chunks first (``--restart``).
    :raises ValueError: when ``directory`` holds chunks of another run, unless ``restart``.
    """

    def __init__(self, directory: Union[str, Path], key: dict, restart: bool = False, folder: str = CHUNK_DIR) -> None:
        self.path = Path(directory) / folder
        self.key = json.loads(json.dumps(key, sort_keys=True))
        if restart and self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        key_file = self.path / KEY_FILE
        if key_file.exists():
            try:
                saved = json.loads(key_file.read_text())
            except json.JSONDecodeError as error:
                raise ValueError(f"{key_file}: not valid JSON ({error}); use --restart to start over") from None
            if saved != self.key:
                changed = sorted(k for k in set(saved) | set(self.key) if saved.get(k) != self.key.get(k))
                raise ValueError(
                    f"--out: {directory} holds finished chunks of another run (differs in {', '.join(changed)}); "
                    "use --restart to discard them, or another --out"
                )
        else:
            atomic_write(key_file, (json.dumps(self.key, indent=2, sort_keys=True) + "\n").encode())

    def ranges(self) -> list[tuple[int, int]]:
        """Finished ``[start, end)`` ranges, sorted."""
        found = (_NAME.match(p.name) for p in self.path.iterdir())
        return sorted((int(m.group(1)), int(m.group(2))) for m in found if m)

    def missing(self, n_samples: int) -> list[tuple[int, int]]:
        """The gaps in ``[0, n_samples)`` that no finished chunk covers."""
        gaps, at = [], 0
        for start, end in self.ranges():
            if start > at:
                gaps.append((at, min(start, n_samples)))
            at = max(at, end)
            if at >= n_samples:
                break
        if at < n_samples:
            gaps.append((at, n_samples))
        return [(a, b) for a, b in gaps if a < b]

    def save(self, start: int, end: int, **arrays: np.ndarray) -> None:
        """Write the chunk ``[start, end)`` atomically (flushed to disk before the rename)."""
        with atomic_path(self._file(start, end)) as tmp:  # a killed write leaves no half-written file behind
            np.savez_compressed(tmp, **arrays)

    def read(self, start: int, end: int) -> dict[str, np.ndarray]:
        """The arrays of the finished chunk ``[start, end)`` exactly."""
        with np.load(self._file(start, end)) as data:
            return {name: data[name] for name in data.files}

    def remove(self, start: int, end: int) -> None:
        """Delete the chunk ``[start, end)`` (e.g. once a longer chunk from the same start replaces it)."""
        self._file(start, end).unlink(missing_ok=True)

    def _file(self, start: int, end: int) -> Path:
        return self.path / f"{start:07d}-{end:07d}.npz"

    def load(self, n_samples: int) -> dict[str, np.ndarray]:
        """The arrays of samples ``[0, n_samples)``, concatenated from the finished chunks."""
        parts: dict[str, list] = {}
        at = 0
        for start, end, arrays in self._covering(n_samples):
            for name, value in arrays.items():
                parts.setdefault(name, []).append(value[at - start : min(end, n_samples) - start])
            at = min(end, n_samples)
        if at < n_samples:
            raise ValueError(f"{self.path}: samples {at}..{n_samples - 1} are not finished")
        return {name: np.concatenate(values) for name, values in parts.items()}

    def _covering(self, n_samples: int) -> Iterator[tuple[int, int, dict]]:
        at = 0
        for start, end in self.ranges():
            if end <= at or start > at or at >= n_samples:
                continue
            with np.load(self.path / f"{start:07d}-{end:07d}.npz") as data:
                yield start, end, {name: data[name] for name in data.files}
            at = end

    def done(self, n_samples: int) -> int:
        """How many of the samples ``[0, n_samples)`` are finished."""
        return n_samples - sum(b - a for a, b in self.missing(n_samples))

