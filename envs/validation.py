"""Checks of the numbers every layer shares: discounts, reward tables, and the cores a run may use.

They live with the world (``envs``) so that learners and the solver validate alike without importing each
other. Each raises ``ValueError`` with one line naming the parameter and what is allowed.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional

import numpy as np

from multipower.envs.layouts import N_ACTIONS


def available_cores() -> int:
    """CPU cores this process may run on (respects affinity and container CPU sets, unlike ``os.cpu_count``)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def check_gamma(gamma: float, name: str = "gamma") -> float:
    """``gamma`` as a float in the open interval (0, 1); ``ValueError`` naming ``name`` otherwise (text such as
    ``"0.5"`` and booleans too: a number is expected)."""
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number in (0, 1), got {gamma!r}")
    value = float(gamma)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in the open interval (0, 1), got {gamma!r}")
    return value


def as_numbers(values, name: str) -> np.ndarray:
    """``values`` as a float64 array; ``ValueError`` naming ``name`` unless it is a regular array of numbers
    (bools, integers, floats): text such as ``"0.5"`` and other objects are refused, not converted."""
    try:
        array = np.asarray(values)
    except ValueError:  # ragged nesting
        raise ValueError(f"{name} must be a regular array of numbers (rows of equal length)") from None
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numbers, got an array of {array.dtype} (e.g. {array.ravel()[:1].tolist()})")
    return array.astype(np.float64)


def check_rewards(rewards, n_states: int, name: str = "rewards") -> np.ndarray:
    """A batch of reward tables ``(K, n_states)`` as finite float64 (one table ``(n_states,)`` becomes ``K = 1``).

    Raises ``ValueError`` naming ``name`` for another shape or a non-finite value.
    """
    array = as_numbers(rewards, name)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != n_states:
        raise ValueError(f"{name} must have shape (K, {n_states}), got {np.shape(rewards)}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite")
    return array


def check_real(value, name: str) -> float:
    """``value`` as a finite float: a real number (not a bool, not text); ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def check_seed(seed, name: str = "seed") -> int:
    """A seed: a non-negative integer; a float such as ``1.7`` is refused, not truncated. ``ValueError`` naming
    ``name`` otherwise."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {seed!r}")
    return int(seed)


def check_correlation(value, name: str = "correlation (beta)") -> float:
    """A reward correlation ``β``: a number in ``[-1, 1]`` (not a bool); ``ValueError`` naming ``name`` otherwise.
    Whether a negative ``β`` suits the reward distribution is ``multipower.envs.rewards.check_correlation``'s."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not -1.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number in [-1, 1], got {value!r}")
    return float(value)


def check_count(value, name: str, minimum: int = 1) -> int:
    """An integer ``>= minimum`` (not a bool, not a float: ``2.5`` samples is refused, not truncated)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return int(value)


def check_device(device, name: str = "device") -> str:
    """A torch device this machine has: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; ``ValueError`` naming ``name``
    for another kind, a malformed name, or CUDA where torch sees no GPU (torch is imported here only)."""
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        parsed = None
    if parsed is None or parsed.type not in ("cpu", "cuda"):
        raise ValueError(f"{name} must be 'cpu' or 'cuda' (or 'cuda:N'), got {device!r}")
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"{name}: {device!r} was asked for but torch sees no CUDA GPU here; use 'cpu'")
        if parsed.index is not None and parsed.index >= count:
            raise ValueError(f"{name}: {device!r} does not exist; this machine has CUDA devices 0 to {count - 1}")
    return str(device)


def check_fields(cls, options, what: str) -> dict:
    """Keyword overrides of the dataclass ``cls`` (a learner's hyperparameters), checked before any work.

    Each key must be a field of ``cls`` and each value of the field's annotated type: ``bool`` only
    ``True``/``False``, ``int`` an integer, ``float`` a finite number, ``str`` text, ``list``/``tuple`` a
    list; ``Optional[...]`` also takes ``None``. Ranges are left to ``cls`` itself. Raises ``ValueError``
    ``"KEY: ..."`` naming the key and what is allowed (``what`` names the learner in the message).
    """
    import dataclasses

    fields = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    checks = {
        "bool": (lambda v: isinstance(v, (bool, np.bool_)), "true or false"),
        "int": (lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)), "an integer"),
        "float": (lambda v: not isinstance(v, (bool, np.bool_)) and isinstance(v, (int, float, np.integer, np.floating))
                  and bool(np.isfinite(v)), "a finite number"),
        "str": (lambda v: isinstance(v, str), "text"),
        "list": (lambda v: isinstance(v, (list, tuple)), "a list"),
        "tuple": (lambda v: isinstance(v, (list, tuple)), "a list"),
    }
    for key, value in dict(options).items():
        if key not in fields:
            raise ValueError(f"{key}: not a {what} hyperparameter; allowed: {', '.join(fields)}")
        kind = fields[key]
        optional = kind.startswith("Optional[")
        kind = kind[len("Optional["):-1] if optional else kind
        if optional and value is None:
            continue
        ok, allowed = checks.get(kind, (lambda v: True, ""))
        if not ok(value):
            raise ValueError(f"{key}: must be {allowed}{' or null' if optional else ''}, got {value!r}")
    return dict(options)


def check_max_cycles(max_cycles: Optional[int], name: str = "max_cycles") -> Optional[int]:
    """A positive int, or None (no truncation)."""
    if max_cycles is None:
        return None
    if isinstance(max_cycles, bool) or not isinstance(max_cycles, (int, np.integer)) or max_cycles < 1:
        raise ValueError(f"{name} must be a positive integer or None (no truncation), got {max_cycles!r}")
    return int(max_cycles)


def check_reward_seed(seed: Any, name: str = "reward_seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {seed!r}")
    return int(seed)


def check_action(action: Any, name: str = "action", n: int = N_ACTIONS) -> int:
    """An action as an int in ``[0, n)`` (default the five moves); ``ValueError`` naming ``name`` otherwise."""
    if type(action) is int or isinstance(action, np.integer):
        value = int(action)
    else:
        array = np.asarray(action)
        if array.size != 1 or array.dtype.kind not in "iu":
            raise ValueError(f"{name} must be an integer in [0, {n}), got {action!r}")
        value = int(array.reshape(()))
    if not 0 <= value < n:
        raise ValueError(f"{name} must be an integer in [0, {n}) (Discrete({n})), got {value}")
    return value


def check_cell(value: Any, name: str) -> tuple[int, int]:
    """``(row, col)``: two integers; ``ValueError`` naming ``name`` otherwise."""
    if isinstance(value, (str, bytes, Mapping)) or np.ndim(value) != 1 or len(value) != 2 or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        raise ValueError(f"{name} must be a cell (row, col) of two integers, got {value!r}")
    return int(value[0]), int(value[1])


def check_reward_table(table: Any, n_states: int, name: str) -> np.ndarray:
    """A finite float64 reward table of shape ``(n_states,)``; ``ValueError`` naming ``name`` otherwise."""
    array = as_numbers(table, name)
    if array.shape != (n_states,):
        raise ValueError(f"{name} must have shape ({n_states},) (one reward per joint state), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite")
    array = array.copy()
    array.flags.writeable = False
    return array


def check_reward_tables(rewards: Any, n_states: int, agents: tuple = ("H", "A")) -> dict:
    """``{agent: table}`` for an environment's ``rewards``: a mapping with exactly the keys ``agents``, each a table
    of ``check_reward_table``; ``ValueError`` naming ``rewards`` (or the agent's table) otherwise."""
    if not isinstance(rewards, Mapping) or set(rewards) != set(agents):
        keys = list(rewards) if isinstance(rewards, Mapping) else type(rewards).__name__
        raise ValueError(f"rewards must be a dict with keys {agents} (one table per agent), got {keys}")
    return {agent: check_reward_table(rewards[agent], n_states, f"rewards[{agent!r}]") for agent in agents}
