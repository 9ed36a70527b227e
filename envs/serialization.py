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
