"""Finished chunks of reward samples on disk, so that an interrupted run loses no finished chunk and resumes.

A run directory holds ``chunks/SSSSSSS-EEEEEEE.npz`` (or another folder name, e.g. ``blocks/`` for the exact
solver's sample blocks), one file per finished range ``[start, end)`` of sample indices (at least seven digits
each), each written to a temporary file, flushed to disk and renamed (atomic: a killed run leaves whole files or
none), and ``chunks/key.json``, what every chunk's result depends on. A rerun with the same key reuses the chunks it
finds and trains only the missing ranges; a different key is refused unless the caller restarts. A sample's
result must not depend on which chunk it was trained in (both PPO trainers guarantee it), so ranges from runs
with different ``--chunk`` values combine.

**Every piece is verified before it is used.** A folder may come from someone else, and a file may be damaged,
so each chunk file records the hash of its run's key, its own sample range and a SHA-256 of its arrays. A file
is used only when all three match and its floating-point arrays hold no NaN or +inf (-inf marks unavailable
actions in Q-tables); anything else (a chunk of another run copied in, a truncated or edited file, NaN, a file
written before pieces were verified) is named in one warning line on stderr, set aside as
``NAME.npz.rejected`` and recomputed: never merged, never blocking.
Nothing is loaded with pickle.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Iterator, Union

import numpy as np

from multipower.envs.serialization import atomic_path, atomic_write

CHUNK_DIR = "chunks"
KEY_FILE = "key.json"
_NAME = re.compile(r"^(\d{7,})-(\d{7,})\.npz$")
#: Arrays a chunk file carries about itself (never returned as data).
_KEY, _RANGE, _CHECKSUM = "__key__", "__range__", "__checksum__"


def key_digest(key: dict) -> str:
    """SHA-256 of a store key as canonical JSON."""
    return hashlib.sha256(json.dumps(key, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def arrays_digest(arrays: dict) -> str:
    """SHA-256 of named arrays: names, dtypes, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        value = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{value.dtype.str}|{value.shape}|".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


class ChunkStore:
    """The finished chunks of one run.

    Args:
        directory: The run directory (``chunks/`` is made inside it).
        key: JSON-able description of everything a sample's result depends on (its run specification
            without the number of samples, and the learner's hyperparameters).
        restart: Delete finished chunks first (``--restart``).
    Raises:
        ValueError: when ``directory`` holds chunks of another run, unless ``restart``.
    """

    def __init__(self, directory: Union[str, Path], key: dict, restart: bool = False, folder: str = CHUNK_DIR) -> None:
        self.path = Path(directory) / folder
        self.key = json.loads(json.dumps(key, sort_keys=True))
        if self.path.is_symlink() or (self.path.exists() and not self.path.is_dir()):
            # pieces are read, written, renamed and deleted in there: it must be the run folder's own
            raise ValueError(f"--out: {self.path} is a link or not a folder; refusing to read or write pieces "
                             "through it (the run folder may come from someone else); remove it or use another --out")
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
        self.digest = key_digest(self.key)
        self._checked: dict = {}  # (name, size, mtime) -> whether the file passed verification

    def ranges(self) -> list[tuple[int, int]]:
        """Finished ``[start, end)`` ranges whose files pass verification, sorted (others are set aside)."""
        found = [(m, p) for p in self.path.iterdir() if (m := _NAME.match(p.name))]
        return sorted((int(m.group(1)), int(m.group(2))) for m, p in found
                      if self._verified(p, int(m.group(1)), int(m.group(2))))

    def _verified(self, path: Path, start: int, end: int) -> bool:
        """Whether ``path`` is a whole, finite chunk of this run's samples ``[start, end)``; a file that is not is
        named in one warning line and renamed ``NAME.npz.rejected``, so the range is recomputed."""
        stat = path.stat()
        seen = (path.name, stat.st_size, stat.st_mtime_ns)
        if seen in self._checked:
            return self._checked[seen]
        problem = _problem(path, self.digest, start, end)
        self._checked[seen] = problem is None
        if problem is not None:
            path.replace(path.with_name(path.name + ".rejected"))
            print(f"warning: {path}: {problem}; set aside as {path.name}.rejected and computed again", file=sys.stderr)
        return problem is None

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
        arrays = {name: np.asarray(value) for name, value in arrays.items()}
        meta = {_KEY: np.array(self.digest), _RANGE: np.array([start, end], dtype=np.int64),
                _CHECKSUM: np.array(arrays_digest(arrays))}
        with atomic_path(self._file(start, end)) as tmp:  # a killed write leaves no half-written file behind
            np.savez_compressed(tmp, **arrays, **meta)

    def read(self, start: int, end: int) -> dict[str, np.ndarray]:
        """The arrays of the finished chunk ``[start, end)`` exactly."""
        with np.load(self._file(start, end)) as data:
            return {name: data[name] for name in data.files if name not in (_KEY, _RANGE, _CHECKSUM)}

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
            yield start, end, self.read(start, end)
            at = end

    def done(self, n_samples: int) -> int:
        """How many of the samples ``[0, n_samples)`` are finished."""
        return n_samples - sum(b - a for a, b in self.missing(n_samples))


def _problem(path: Path, digest: str, start: int, end: int):
    """Why ``path`` cannot be used as this run's chunk ``[start, end)``, or ``None`` when it can."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except Exception as error:  # noqa: BLE001  (a damaged file raises zipfile, zlib, OS or value errors)
        return f"cannot be read ({type(error).__name__}: {' '.join(str(error).split())[:120]})"
    if not {_KEY, _RANGE, _CHECKSUM} <= set(arrays):
        return "was written before chunk files were verified (no key or checksum)"
    meta = {name: arrays.pop(name) for name in (_KEY, _RANGE, _CHECKSUM)}
    if str(meta[_KEY]) != digest:
        return "belongs to another run (its key differs)"
    if meta[_RANGE].tolist() != [start, end]:
        return f"holds samples {meta[_RANGE].tolist()}, not those its name says"
    if str(meta[_CHECKSUM]) != arrays_digest(arrays):
        return "is damaged (its arrays do not match their checksum)"
    # -inf is a value tables use (an unavailable action's Q); NaN and +inf are never a result
    bad = sorted(name for name, value in arrays.items()
                 if value.dtype.kind in "fc" and (np.isnan(value).any() or np.isposinf(value).any()))
    if bad:
        return f"holds NaN or +inf ({', '.join(bad)})"
    return None
