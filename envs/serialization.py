"""Files in and out: plain JSON values from numpy-bearing configurations, the one atomic write that every saved
result, chunk, block, agents file and figure goes through, and the one bounded read of input files (graphs,
layouts, ``.npy`` tables, configs) that may come from anyone."""

from __future__ import annotations

import io
import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Union

import numpy as np


@contextmanager
def atomic_path(path: Union[str, Path]) -> Iterator[Path]:
    """A temporary path to write ``path``'s new contents to; renamed onto ``path`` when the block ends normally.

    The temporary file lies in the same folder (so the rename is atomic) and its name carries the process id and
    keeps ``path``'s suffix (``.name.<pid>.tmp.npz``: writers that pick a format by suffix still work), so two
    processes never write the same temporary file. It is flushed to disk before the rename. On any exception
    (Ctrl-C and SIGTERM included) it is removed and the old ``path``, if any, is left as it was: a killed write
    leaves the old file or the new one, never half of one.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


#: Largest input file read (a graph, a layout, a ``.npy`` seed policy, a config), in bytes: 64 MiB by default,
#: or the environment variable ``MULTIPOWER_MAX_FILE_BYTES`` (bytes, or with a suffix: ``256M``, ``1G``).
DEFAULT_MAX_FILE_BYTES = 64 << 20


def max_file_bytes() -> int:
    """The input size limit in force (``DEFAULT_MAX_FILE_BYTES`` unless ``MULTIPOWER_MAX_FILE_BYTES``)."""
    value = os.environ.get("MULTIPOWER_MAX_FILE_BYTES")
    if not value:
        return DEFAULT_MAX_FILE_BYTES
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = value.strip().upper().rstrip("B")
    try:
        return int(float(text[:-1]) * units[text[-1]]) if text[-1:] in units else int(text)
    except ValueError:
        raise ValueError(f"MULTIPOWER_MAX_FILE_BYTES must be a size such as 67108864 or 256M, got {value!r}") from None


def read_npy(path: Union[str, Path], what: str) -> np.ndarray:
    """The array of a ``.npy`` file (a seed-policy table), read within ``read_bounded``'s limits and without
    pickle (a file can run no code); one ``ValueError`` naming ``what`` for a file that is not a readable array."""
    data = read_bounded(path, what)
    if data[:6] != b"\x93NUMPY":
        raise ValueError(f"{what}: {path} is not a .npy file (no NumPy header; write it with numpy.save)")
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise ValueError(f"{what}: {path} is not a readable .npy array ({' '.join(str(error).split())})") from None


def read_bounded(path: Union[str, Path], what: str) -> bytes:
    """The bytes of an input file, refused in one ``ValueError`` naming ``what`` unless it is a regular file
    (not a FIFO, device or folder: ``/dev/zero`` would never end) of at most ``max_file_bytes`` bytes."""
    limit = max_file_bytes()
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{what}: {path} is not a regular file (a folder, FIFO or device); give a file")
        if info.st_size > limit:
            raise ValueError(f"{what}: {path} is {info.st_size:,} bytes, over the limit of {limit:,} "
                             "(MULTIPOWER_MAX_FILE_BYTES raises it)")
        with open(path, "rb") as f:
            data = f.read(info.st_size + 1)  # (read(limit) would allocate the whole limit up front)
            if len(data) > info.st_size:  # it grew since: read on, up to the limit
                data += f.read(limit + 1 - len(data))
    except OSError as error:
        raise ValueError(f"{what}: cannot read {path} ({error.strerror or error})") from None
    if len(data) > limit:  # grew while being read
        raise ValueError(f"{what}: {path} is over the limit of {limit:,} bytes (MULTIPOWER_MAX_FILE_BYTES raises it)")
    return data


def atomic_write(path: Union[str, Path], data: Union[bytes, str]) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` all or nothing (``atomic_path``)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def jsonable(value, nonfinite_as_str: bool = False):
    """``value`` with numpy arrays and scalars turned into JSON types (dict keys as strings); with
    ``nonfinite_as_str``, non-finite floats become ``"inf"``/``"nan"`` strings (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v, nonfinite_as_str) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, nonfinite_as_str) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist(), nonfinite_as_str) if nonfinite_as_str else value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if nonfinite_as_str and isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return value


def read_json_object(path) -> dict:
    """The JSON object in file ``path``; ``ValueError`` naming the file when it is unreadable, not JSON, or
    not an object (a saved result's files are read through this, so a damaged one is one clear line)."""
    import json

    path = Path(path)
    try:
        data = json.loads(read_bounded(path, str(path.name)).decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file (expected JSON)") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})") from None
    except OSError as error:
        raise ValueError(f"{path}: cannot be read ({error.strerror or error})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: must hold a JSON object (keys and values), got {type(data).__name__}")
    return data


def require_keys(data: dict, keys, path) -> None:
    """``ValueError`` naming ``path`` and the first of ``keys`` missing from ``data``."""
    missing = [key for key in keys if key not in data]
    if missing:
        raise ValueError(f"{path}: missing key {missing[0]!r}")
