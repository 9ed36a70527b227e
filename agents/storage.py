"""Saving and loading trained agents: policies, Q-tables, reward functions and the full configuration.

A saved run is a directory with

* ``agents.npz``: ``policy_H`` ``(K, S, n)``, ``policy_A`` ``(K, S, n)``, ``R_H`` ``(K, S)``, ``R_A`` ``(K, S)``,
  and optionally ``q_H``, ``q_A`` ``(K, S, n)`` (``n`` action slots, the five moves of a layout; ``q`` in the
  exact solver's convention ``R(s) + γ Q_env(s, a)``;
  ``-inf`` on unavailable actions);
* ``config.json``: the configuration (algo, the world: layout, layout_text, collision and slip, or a joint graph's
  mdp and mdp_text; gamma_H, gamma_A, correlation, distribution, seed, samples, hyperparameters, timings,
  metrics, ...).

The reward functions are those of ``multipower.envs.rewards.RewardSampler(n_states, distribution, correlation,
seed).pairs(0, K)``, so the exact solver run with the same seed sees the same reward functions; they are
saved too, so a later evaluation needs nothing else.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np

from multipower.envs.layouts import N_ACTIONS
from multipower.envs.serialization import atomic_path, atomic_write, jsonable, read_json_object, require_keys

AGENTS_FILE = "agents.npz"
CONFIG_FILE = "config.json"
REQUIRED_CONFIG = ("algo", "gamma_H", "gamma_A", "seed", "samples")
#: The world's keys, one set of the two: a layout's, or a joint graph's (``multipower.envs.problem.world_config``).
WORLD_CONFIGS = (("layout", "layout_text", "collision"), ("mdp", "mdp_text"))

PathLike = Union[str, "os.PathLike[str]"]


@dataclass
class TrainedAgents:
    """Frozen learned policies of a batch of reward samples, with what produced them.

    Attributes:
        policy_H, policy_A: ``(K, S, n)`` action probabilities (``n`` action slots: 5 on a layout).
        R_H, R_A: ``(K, S)`` reward functions.
        config: The configuration (see the module docstring).
        q_H, q_A: Optional ``(K, S, n)`` learned action values (solver convention).
    """

    policy_H: np.ndarray
    policy_A: np.ndarray
    R_H: np.ndarray
    R_A: np.ndarray
    config: dict = field(default_factory=dict)
    q_H: Optional[np.ndarray] = None
    q_A: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        self.R_H = np.atleast_2d(np.asarray(self.R_H, dtype=np.float64))
        self.R_A = np.atleast_2d(np.asarray(self.R_A, dtype=np.float64))
        n_samples, n_states = self.R_H.shape
        if self.R_A.shape != (n_samples, n_states):
            raise ValueError(f"R_A must have shape {self.R_H.shape} like R_H, got {self.R_A.shape}")
        # Action slots: the five moves of a layout, or a joint graph's slots (the same count for both agents).
        n_actions = np.shape(self.policy_H)[-1] if np.ndim(self.policy_H) == 3 else N_ACTIONS
        for name in ("policy_H", "policy_A", "q_H", "q_A"):
            value = getattr(self, name)
            if value is None:
                continue
            value = np.asarray(value, dtype=np.float64)
            if value.shape != (n_samples, n_states, n_actions) or n_actions < 1:
                raise ValueError(f"{name} must have shape ({n_samples}, {n_states}, {n_actions}) (samples, joint "
                                 f"states, action slots), got {value.shape}")
            setattr(self, name, value)

    @property
    def n_samples(self) -> int:
        return self.R_H.shape[0]

    @property
    def n_states(self) -> int:
        return self.R_H.shape[1]


def save_agents(
    directory: PathLike,
    policy_H: "np.ndarray | TrainedAgents",
    policy_A: Optional[np.ndarray] = None,
    R_H: Optional[np.ndarray] = None,
    R_A: Optional[np.ndarray] = None,
    config: Optional[dict] = None,
    q_H: Optional[np.ndarray] = None,
    q_A: Optional[np.ndarray] = None,
) -> Path:
    """Save trained agents to ``directory`` (created if needed); returns its path.

    Pass either a ``TrainedAgents`` as the second argument, or the arrays and ``config``.
    """
    if isinstance(policy_H, TrainedAgents):
        agents = policy_H
    else:
        if policy_A is None or R_H is None or R_A is None:
            raise ValueError("save_agents needs policy_H, policy_A, R_H and R_A (or one TrainedAgents)")
        agents = TrainedAgents(policy_H, policy_A, R_H, R_A, dict(config or {}), q_H, q_A)
    world = min(WORLD_CONFIGS, key=lambda keys: sum(key not in agents.config for key in keys))
    missing = [key for key in REQUIRED_CONFIG + world if key not in agents.config]
    if missing:
        raise ValueError(f"config is missing {missing}; required keys: {list(REQUIRED_CONFIG)} and the world's "
                         f"{' or '.join(str(list(keys)) for keys in WORLD_CONFIGS)}")
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    arrays = {"policy_H": agents.policy_H, "policy_A": agents.policy_A, "R_H": agents.R_H, "R_A": agents.R_A}
    if agents.q_H is not None:
        arrays["q_H"] = agents.q_H
    if agents.q_A is not None:
        arrays["q_A"] = agents.q_A
    with atomic_path(path / AGENTS_FILE) as tmp:
        _write_npz(tmp, arrays)
    config = dict(agents.config)
    config.setdefault("samples", agents.n_samples)
    text = json.dumps(jsonable(config, nonfinite_as_str=True), indent=2, sort_keys=True) + "\n"
    atomic_write(path / CONFIG_FILE, text)  # a killed write leaves the old file or the new one, never half of one
    return path


def _write_npz(path: Path, arrays: dict) -> None:
    """``np.savez_compressed`` with fixed member timestamps: the same arrays give the same bytes, so two runs
    can be compared file to file."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def load_agents(directory: PathLike) -> TrainedAgents:
    """Load what ``save_agents`` wrote."""
    path = Path(directory)
    if not (path / AGENTS_FILE).is_file() or not (path / CONFIG_FILE).is_file():
        raise ValueError(f"{path} is not a saved-agents directory (needs {AGENTS_FILE} and {CONFIG_FILE})")
    try:
        with np.load(path / AGENTS_FILE, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path / AGENTS_FILE}: not a readable saved-agents archive ({' '.join(str(error).split())})") from None
    require_keys(arrays, ("policy_H", "policy_A", "R_H", "R_A"), path / AGENTS_FILE)
    config = read_json_object(path / CONFIG_FILE)
    return TrainedAgents(
        arrays["policy_H"],
        arrays["policy_A"],
        arrays["R_H"],
        arrays["R_A"],
        config,
        arrays.get("q_H"),
        arrays.get("q_A"),
    )
