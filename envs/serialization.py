"""Plain JSON values from numpy-bearing configurations (used by every saved result and saved agents)."""

from __future__ import annotations

import numpy as np


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
    from pathlib import Path

    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
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
