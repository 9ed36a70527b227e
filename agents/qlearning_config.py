"""Settings of batched Q-learning (``multipower.agents.qlearning``): the hyperparameters, their defaults per
discount, and the memory a run needs, checked before anything is allocated."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Optional

from multipower.envs.joint_graph import JointGraph
from multipower.envs.layouts import load_layout
from multipower.envs.memory import (
    COMPILED_RUNTIME_BYTES,
    check_budget,
    joint_state_count,
    model_bytes,
    parse_memory,
)
from multipower.envs.validation import check_gamma

#: Walkers per chunk of samples (the default chunk is ``MAX_WALKERS // walkers`` samples: 202 on grid3x3, 17 on
#: maze7x7). The compiled kernel needs no big batches, so chunks are kept small: progress and Ctrl-C act per chunk,
#: and a chunk stops as soon as its own samples meet the stopping rule.
MAX_WALKERS = 1 << 15
#: Stored value of unavailable actions: finite (TD errors masked to exactly 0), far below any real value.
UNAVAILABLE = -1e30
#: Bytes per joint state and sample of a two-stage run: the results kept for every sample (both stages' Q-tables
#: and visit counts, greedy policies, solver-convention Q-tables, rewards, and the exact reference Q-tables of
#: the accuracy check), and per sample of a chunk in training (Q, counts, backups, the other agent's tables, and
#: the joint-action values and counts, 5 x 5 of each, of ``joint_values``).
BYTES_PER_SAMPLE_STATE = 720
BYTES_PER_CHUNK_SAMPLE_STATE = 160 + 400


def estimate_memory(n_states: int, n_samples: int, collision: str = "none", chunk: Optional[int] = None,
                    n_jobs: int = 1) -> int:
    """Peak bytes of a Q-learning run (``multipower.learned.train_agents``) of ``n_samples`` samples of a world of ``n_states`` joint states:
    the model, the results kept for every sample, and ``n_jobs`` chunks in training."""
    walkers = max(16, 2 * n_states)
    chunk = min(n_samples, chunk or max(1, MAX_WALKERS // walkers))
    held = n_jobs * chunk * BYTES_PER_CHUNK_SAMPLE_STATE * n_states
    return int(model_bytes(n_states, collision) + n_samples * BYTES_PER_SAMPLE_STATE * n_states + held)


#: What a torch learner's first training steps allocate on top of the loaded libraries, whatever the world's size
#: (autograd engine, thread pool, allocator caches, optimiser state of the first batch): ``train --algo ppo`` on
#: maze7x7 with 2 samples grew by 128 MB over the measured baseline (torch 2.13, CPU).
TORCH_TRAINING_BYTES = 160 << 20


def check_memory(layout, collision: str, n_samples: int, max_memory=None, n_jobs: int = 1,
                 what: str = "Q-learning", learner: str = "qlearning", extra: int = 0) -> None:
    """Refuse up front (``ValueError("max_memory: ...")``) a run whose estimated peak exceeds the budget
    (``multipower.envs.memory``; default what the process holds plus a fraction of the memory available), before
    anything is allocated. The estimate is this module's ``estimate_memory`` (the results kept per sample), plus
    ``TORCH_TRAINING_BYTES`` for the torch learners (``learner`` ``"ppo"`` or ``"sb3-ppo"``), plus ``extra`` bytes (what
    the caller holds besides, e.g. an exact solve). ``layout``: a layout (with its ``collision`` rule) or a joint
    graph (``multipower.envs.joint_graph.JointGraph``; ``collision`` is then not read)."""
    if isinstance(layout, JointGraph):
        name, n_states, collision = layout.name, layout.n_states, None
        extra += layout.next_state.nbytes + layout.prob.nbytes  # the graph's tables, held besides
    else:
        grid = load_layout(layout)
        name, n_states = grid.name, joint_state_count(grid, collision)
    budget = parse_memory(max_memory)
    torch_learner = learner in ("ppo", "sb3-ppo")
    if budget is not None:  # the learner's compiled code is part of what the process holds: load it first
        if torch_learner:
            import torch  # noqa: F401
        else:
            from multipower.agents import _qkernel  # noqa: F401
    estimate = estimate_memory(n_states, int(n_samples), collision, n_jobs=n_jobs)
    # every learner's run reaches the compiled kernels (Q-learning's, or the exact solver's for the accuracy check)
    estimate += COMPILED_RUNTIME_BYTES
    check_budget(estimate + (TORCH_TRAINING_BYTES if torch_learner else 0) + extra, budget,
                 f"{what} of {int(n_samples):,} samples on {name!r}", n_states)


#: From this discount on, Q-learning against a stochastic other agent changes how it handles the other agent's
#: random moves (measured at γ = 0.99; below it the defaults are those measured at γ ≤ 0.9): joint-action values
#: where every move has one outcome, variance-reduced targets with a quarter of the visits elsewhere.
VR_FROM_GAMMA = 0.99


@dataclass
class QLearningConfig:
    """Hyperparameters of batched Q-learning; ``default_config`` picks them per ``γ``.

    Attributes:
        episode_length: Truncation (steps per episode; bootstrapped, not terminal).
        epsilon_start, epsilon_end: ε-greedy schedule end points.
        epsilon_decay: Fraction of ``max_steps`` over which ε decays linearly.
        lr_omega: Exponent ``ω`` of ``α = (1 + c·n)^-ω``, in ``(0.5, 1]``.
        lr_scale: ``c``; ``None`` means ``1 - γ``; ``0`` means ``α = 1`` (each update takes its target: for
            noise-free targets only).
        walkers: Walkers per reward sample; ``None``: half the number of ``(s, a)`` entries, at least 16.
        min_visits: Visits every available ``(s, a)`` needs before stopping.
        max_steps: Hard cap on steps (per walker).
        check_every: Steps between checks of the stopping rule (and logging).
        policy_tol: Largest fraction of greedy actions that may change between checks at stopping.
        chunk_size: Reward samples trained together; ``None``: as many as fit ``MAX_WALKERS``.
        dtype: ``"float32"`` or ``"float64"`` Q-tables.
        all_actions: Update every available action at each step (module docstring of qlearning).
        vr_start: Steps before the first variance-reduction epoch; ``0`` turns variance reduction off.
        vr_growth: Ratio of successive epoch boundaries (``> 1``).
        joint_values: Learn joint-action values ``Q(s, a, o)`` of the learner's action ``a`` and the other agent's
            move ``o``, and act on their expectation over the other agent's fixed policy (module docstring of
            qlearning, "Joint-action values"); not with ``vr_start > 0``.
    """

    episode_length: int = 5
    epsilon_start: float = 1.0
    epsilon_end: float = 0.8
    epsilon_decay: float = 0.5
    lr_omega: float = 1.0
    lr_scale: Optional[float] = None
    walkers: Optional[int] = None
    min_visits: int = 2000
    max_steps: int = 200_000
    check_every: int = 200
    policy_tol: float = 3e-3
    chunk_size: Optional[int] = None
    dtype: str = "float64"
    all_actions: bool = True
    vr_start: int = 0
    vr_growth: float = 2.0
    joint_values: bool = False

    def __post_init__(self) -> None:
        checks = {
            "episode_length": self.episode_length >= 1,
            "epsilon_start": 0.0 <= self.epsilon_start <= 1.0,
            "epsilon_end": 0.0 <= self.epsilon_end <= 1.0,
            "epsilon_decay": 0.0 <= self.epsilon_decay <= 1.0,
            "lr_omega": 0.5 < self.lr_omega <= 1.0,
            "lr_scale": self.lr_scale is None or self.lr_scale >= 0,
            "walkers": self.walkers is None or self.walkers >= 1,
            "min_visits": self.min_visits >= 0,
            "max_steps": self.max_steps >= 1,
            "check_every": self.check_every >= 1,
            "policy_tol": 0.0 <= self.policy_tol <= 1.0,
            "chunk_size": self.chunk_size is None or self.chunk_size >= 1,
            "dtype": self.dtype in ("float32", "float64"),
            "vr_start": self.vr_start >= 0,
            "vr_growth": self.vr_growth > 1.0,
            "joint_values": isinstance(self.joint_values, bool) and not (self.joint_values and self.vr_start > 0),
        }
        allowed = {
            "episode_length": ">= 1",
            "epsilon_start": "in [0, 1]",
            "epsilon_end": "in [0, 1]",
            "epsilon_decay": "in [0, 1]",
            "lr_omega": "in (0.5, 1]",
            "lr_scale": ">= 0 or None",
            "walkers": ">= 1 or None",
            "min_visits": ">= 0",
            "max_steps": ">= 1",
            "check_every": ">= 1",
            "policy_tol": "in [0, 1]",
            "chunk_size": ">= 1 or None",
            "dtype": "'float32' or 'float64'",
            "vr_start": ">= 0",
            "vr_growth": "> 1",
            "joint_values": "true or false, and false with vr_start > 0 (variance reduction)",
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"{name} must be {allowed[name]}, got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        out = asdict(self)
        if not self.joint_values:  # the settings of runs saved before the field existed
            del out["joint_values"]
        return out


def default_config(gamma: float, deterministic_other: bool = False, deterministic_moves: bool = False,
                   **overrides) -> QLearningConfig:
    """Sensible defaults for discount ``γ``.

    Against a stochastic other agent (the seed) the visits needed grow with the target noise and with the
    effective horizon ``1/(1-γ)``; against a deterministic one (greedy frozen H) transitions are deterministic
    and far fewer visits settle the values. At ``γ ≥ VR_FROM_GAMMA`` against a stochastic other agent, a world
    whose moves have one outcome each learns joint-action values, whose targets are then noise-free; any other
    world uses variance-reduced targets. Where targets are noise-free (such a world, against either kind of other
    agent) each update takes its target (``lr_scale = 0``: ``α = 1``).

    Args:
        gamma: The learner's discount, in ``(0, 1)``.
        deterministic_other: Whether the other agent's policy is deterministic at every state (frozen greedy H).
        deterministic_moves: Whether every joint move of the world has one outcome (no slip, a deterministic
            joint graph: the world's ``deterministic``). Default False, the rule for a world with slip.
        **overrides: ``QLearningConfig`` fields. ``joint_values=False`` or ``vr_start > 0`` selects the
            variance-reduced defaults where joint values would be the default; ``joint_values=True`` leaves
            variance reduction off where it would be on.

    Returns:
        The ``QLearningConfig``; ``ValueError`` naming the field for a bad override.
    """
    gamma = check_gamma(gamma)
    horizon = 1.0 / (1.0 - gamma)
    long_horizon = not deterministic_other and gamma >= VR_FROM_GAMMA
    wants_joint = overrides.get("joint_values")  # None where not given
    joint = long_horizon and deterministic_moves and wants_joint is not False and not overrides.get("vr_start")
    if deterministic_other:
        min_visits = int(math.ceil(30 * horizon))
    elif joint:
        # Joint-action values (multipower.agents.qlearning): the only noise of a target was the other agent's
        # move; with α = 1 (below) 20/(1-γ) visits settle the values as well as the greedy policy
        # (docs/learning.md#q-learning).
        min_visits = int(math.ceil(20 * horizon))
    else:
        # With variance-reduced targets (below), maze7x7 at γ = 0.99 (crash, seed 22): 15,000 visits leave about as
        # few greedy actions off the exact optimum (0.69 %) as plain Q-learning at 120,000 (0.65 %; 0.91 % at the
        # former 60,000), in a quarter of the steps.
        # Long horizons (γ ≥ VR_FROM_GAMMA): variance-reduced targets, which keep the whole epoch's samples where the
        # rescaled-linear step keeps ~2(1-γ) of them, so a quarter of the visits suffice. At short horizons
        # they do not pay (grid3x3 γ = 0.6, maze7x7 γ = 0.1: slightly more greedy actions off the optimum).
        min_visits = int(math.ceil((1500 if long_horizon else 6000) * math.sqrt(horizon)))
    config = QLearningConfig(episode_length=5, min_visits=min_visits)
    if joint or (deterministic_other and deterministic_moves and gamma >= VR_FROM_GAMMA):
        # Noise-free targets (joint values, or frozen greedy H, with one outcome per move): each update takes its
        # target, α = 1 (asynchronous value iteration on sampled transitions).
        config = replace(config, lr_scale=0.0, joint_values=joint)
    elif long_horizon and wants_joint is not True:
        # Epochs from vr_start steps, doubling (multipower.agents.qlearning, "Variance reduction").
        vr_start = int(math.ceil(200 * math.sqrt(horizon) / config.check_every)) * config.check_every
        config = replace(config, vr_start=vr_start)
    return replace(config, **overrides)
