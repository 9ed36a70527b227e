"""The learned POWER estimator: Monte-Carlo rollouts of frozen learned policies (docs/concepts.md#learned-estimator).

For every reward sample ``k`` the frozen tabular policies ``policy_H[k]`` and ``policy_A[k]`` (from
Q-learning or PPO) are rolled out together from every joint state, stepping by the model's ``next_state``
table (the table the environments step by); a crash leads to the zero-value absorbing terminal. The
discounted return from ``s`` counts the rewards of the states *arrived at* after ``s``,
``r_1 + γ r_2 + γ² r_3 + ...``, and

    POWER(s) = (1 - γ) · E[return from s]  =  (1 - γ)/γ · E[V(s) - R(s)],

averaged over reward samples, with standard errors (docs/concepts.md#multi-agent-power). All ``K × S × n_rollouts``
walkers of a chunk of samples step at once. Deterministic policies need one rollout per state (detected);
stochastic ones get ``n_rollouts``. With slip (docs/concepts.md#slip) every rollout is stochastic: each step draws
both agents' effective moves (``multipower.envs.dynamics.slip_step``) after their chosen ones, and ``n_rollouts`` apply.
On a joint MDP graph with several outcomes per joint action, likewise, each step draws the outcome
(``multipower.envs.dynamics.outcome_step``).

**Truncation.** Rollouts stop after ``T`` steps. With rewards bounded by ``Rmax`` in absolute value, the
tail left out is at most ``(1-γ) · Σ_{t>T} γ^(t-1) Rmax = (1-γ) · γ^T · Rmax/(1-γ) = γ^T · Rmax`` in POWER, so
``T = ceil(log(tol/Rmax)/log γ)`` keeps it below ``tol`` (1e-4 by default). ``Rmax`` is the largest absolute
reward actually sampled, which bounds the tail of these very reward functions exactly, also for unbounded
distributions (Pareto). ``γ_H`` and ``γ_A`` are separate; the horizon is the larger of the two.

Alongside, ``estimate_power`` evaluates the same learned policies exactly on the model
(``multipower.exact.accuracy.policy_values``), so the gap to the exact optimum splits into learning error
(exact evaluation of learned policies versus the optimum) and rollout noise (rollout versus exact evaluation).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping, Optional

import numpy as np

from multipower.envs.dynamics import joint_step, outcome_step, padded_rewards, slip_step
from multipower.envs.joint_graph import JointGraph
from multipower.envs.policies import check_policy_batch, cumulative_probabilities, is_deterministic
from multipower.envs.validation import check_count, check_seed
from multipower.runs.results import MeanAccumulator, PowerResult, pearson
from multipower.exact.accuracy import policy_values
from multipower.exact.solver import power_from_next
from multipower.envs.problem import TwoStageProblem

DEFAULT_TOL = 1e-4
DEFAULT_ROLLOUTS = 16
#: Walkers (samples × states × rollouts) stepped at once; bounds memory to a few hundred MB.
DEFAULT_WALKERS = 1 << 21


def horizon_for(gamma: float, r_max: float, tol: float = DEFAULT_TOL) -> int:
    """Smallest ``T ≥ 1`` with truncation error ``γ^T · r_max ≤ tol`` (see the module docstring)."""
    if tol <= 0:
        raise ValueError(f"tol must be > 0, got {tol}")
    if r_max <= tol:
        return 1
    return max(1, math.ceil(math.log(tol / r_max) / math.log(gamma)))


def truncation_bound(gamma: float, r_max: float, horizon: int) -> float:
    """Largest POWER error left by stopping after ``horizon`` steps: ``γ^T · r_max``."""
    return float(gamma**horizon * r_max)


@dataclass
class RolloutChunk:
    """Per-sample rollout POWER of samples ``start .. stop - 1``: ``power_H``, ``power_A`` ``(k, S)``."""

    start: int
    stop: int
    power_H: np.ndarray
    power_A: np.ndarray


@dataclass
class RolloutPlan:
    """How the rollouts are run: horizon, rollouts per state, chunking, truncation bounds."""

    horizon: int
    n_rollouts: int
    chunk_samples: int
    deterministic_H: bool
    deterministic_A: bool
    r_max_H: float
    r_max_A: float
    truncation_H: float
    truncation_A: float
    config: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Rollouts:
    """How the Monte-Carlo estimator rolls frozen policies out; a fixed value gives the same numbers every time.

    Attributes:
        n_rollouts: Rollouts per state for stochastic policies (default 16); deterministic pairs use one.
        horizon: Steps per rollout; default: the smallest with truncation error ≤ ``tol``.
        tol: Truncation tolerance in POWER (default 1e-4).
        seed: Seeds the action sampling; chunk ``c`` uses ``default_rng([seed, c])``.
        max_walkers: Walkers stepped at once (sets how many samples form a chunk; memory only).
    """

    n_rollouts: Optional[int] = None
    horizon: Optional[int] = None
    tol: float = DEFAULT_TOL
    seed: int = 0
    max_walkers: int = DEFAULT_WALKERS

    def __post_init__(self) -> None:
        for name in ("n_rollouts", "horizon", "max_walkers"):
            if getattr(self, name) is not None:
                check_count(getattr(self, name), f"rollouts.{name}")
        check_seed(self.seed, "rollouts.seed")
        tol = self.tol
        if isinstance(tol, bool) or not isinstance(tol, (int, float, np.integer, np.floating)) or not 0 < tol < 1:
            raise ValueError(f"rollouts.tol: must be a number in (0, 1) (the truncation error in POWER), got {tol!r}")


class PolicyRollout:
    """Rolls frozen tabular policies of H and A out together from every joint state.

    Args:
        problem: The world whose tables the rollouts step by (a ``JointModel``, or a ``JointGraph`` with one
            action-slot count for both agents, whose outcomes are drawn), the ``(K, S)`` reward
            functions (reward of the state arrived at) and both discounts (``multipower.envs.problem.TwoStageProblem``).
        policy_H, policy_A: ``(K, S, n)`` action probabilities per reward sample (or one ``(S, n)`` table; ``n``
            action slots, 5 on a layout).
        rollouts: The rollout settings (``Rollouts``; default ``Rollouts()``).
    """

    def __init__(self, problem: TwoStageProblem, policy_H: np.ndarray, policy_A: np.ndarray,
                 rollouts: Optional[Rollouts] = None) -> None:
        if not isinstance(problem, TwoStageProblem):
            raise ValueError(f"problem: must be a multipower.envs.problem.TwoStageProblem, got "
                             f"{type(problem).__name__}")
        model = problem.model
        if isinstance(model, JointGraph) and model.action_mask_H.shape[1] != model.action_mask_A.shape[1]:
            raise ValueError("problem.model: the rollouts step by one action-slot count for both agents; give the "
                             "joint graph as graph.with_slots()")
        settings = Rollouts() if rollouts is None else rollouts
        if not isinstance(settings, Rollouts):
            raise ValueError(f"rollouts: must be a multipower.learned.estimator.Rollouts, got "
                             f"{type(settings).__name__}")
        n_rollouts, horizon, max_walkers = settings.n_rollouts, settings.horizon, settings.max_walkers
        tol = settings.tol
        self.model = model
        self.gamma_H, self.gamma_A = problem.gamma_H, problem.gamma_A
        n_states = model.n_states
        self.R_H, self.R_A = problem.R_H, problem.R_A
        self.n_samples = len(self.R_H)
        self.policy_H = check_policy_batch(policy_H, model.action_mask_H, self.n_samples, "policy_H")
        self.policy_A = check_policy_batch(policy_A, model.action_mask_A, self.n_samples, "policy_A")
        det_H, det_A = is_deterministic(self.policy_H), is_deterministic(self.policy_A)
        next_state, outcome_cdf = model.step_tables()
        fixed = model.slip == 0.0 and outcome_cdf is None  # deterministic dynamics
        rollouts = 1 if det_H and det_A and fixed else int(n_rollouts or DEFAULT_ROLLOUTS)
        r_max_H = float(np.abs(self.R_H).max(initial=0.0))
        r_max_A = float(np.abs(self.R_A).max(initial=0.0))
        if horizon is None:
            horizon = max(horizon_for(self.gamma_H, r_max_H, tol), horizon_for(self.gamma_A, r_max_A, tol))
        horizon = int(horizon)
        self.seed = int(settings.seed)
        self.plan = RolloutPlan(
            horizon=horizon,
            n_rollouts=rollouts,
            chunk_samples=max(1, int(max_walkers) // (n_states * rollouts)),
            deterministic_H=det_H,
            deterministic_A=det_A,
            r_max_H=r_max_H,
            r_max_A=r_max_A,
            truncation_H=truncation_bound(self.gamma_H, r_max_H, horizon),
            truncation_A=truncation_bound(self.gamma_A, r_max_A, horizon),
        )
        # The model's next-state table with an absorbing row for walkers already at the terminal: every walker
        # keeps stepping (and drawing actions), so a rollout's draws do not depend on when others crashed.
        terminal = np.full((1, *next_state.shape[1:]), model.terminal_state, dtype=np.int64)
        self._next = np.concatenate([next_state.astype(np.int64), terminal])
        # A joint graph's outcome draws; the terminal row has one certain outcome.
        self._outcome_cdf = None if outcome_cdf is None else np.concatenate(
            [outcome_cdf, np.full((1, *outcome_cdf.shape[1:]), np.inf)])
        self._slip_cdf = (model.slip_cdf("H", rows=1), model.slip_cdf("A", rows=1)) if model.slip > 0.0 else None

    def config(self) -> dict:
        """The rollout settings, for saving with results."""
        p = self.plan
        return {
            "estimator": "rollout",
            "gamma_H": self.gamma_H,
            "gamma_A": self.gamma_A,
            "horizon": p.horizon,
            "n_rollouts": p.n_rollouts,
            "deterministic_H": p.deterministic_H,
            "deterministic_A": p.deterministic_A,
            "r_max_H": p.r_max_H,
            "r_max_A": p.r_max_A,
            "truncation_bound_H": p.truncation_H,
            "truncation_bound_A": p.truncation_A,
            "rollout_seed": self.seed,
            "chunk_samples": p.chunk_samples,
        }

    def chunks(self) -> Iterator[RolloutChunk]:
        """Yield the per-sample rollout POWER chunk by chunk (for running estimates)."""
        step = self.plan.chunk_samples
        for index, start in enumerate(range(0, self.n_samples, step)):
            stop = min(start + step, self.n_samples)
            rng = np.random.default_rng([self.seed, index])
            power_H, power_A = self._rollout(slice(start, stop), rng)
            yield RolloutChunk(start, stop, power_H, power_A)

    def chunks_timed(self, timings: dict, key: str = "rollout") -> Iterator[RolloutChunk]:
        """``chunks``, adding the seconds spent rolling out to ``timings[key]``."""
        iterator = self.chunks()
        while True:
            t0 = time.perf_counter()
            chunk = next(iterator, None)
            timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0
            if chunk is None:
                return
            yield chunk

    def per_sample(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-sample rollout POWER ``(K, S)`` of H and A."""
        chunks = list(self.chunks())
        return (np.concatenate([c.power_H for c in chunks]), np.concatenate([c.power_A for c in chunks]))

    def _rollout(self, samples: slice, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        model, plan = self.model, self.plan
        n_states, m = model.n_states, plan.n_rollouts
        k = samples.stop - samples.start
        reward_H = padded_rewards(self.R_H[samples])  # (k, S + 1): reward on arrival, 0 at the terminal
        reward_A = padded_rewards(self.R_A[samples])
        # Walker w = (sample, start state, rollout).
        sample = np.repeat(np.arange(k, dtype=np.int64), n_states * m)
        state = np.tile(np.repeat(np.arange(n_states, dtype=np.int64), m), k)
        actions = self._joint_actions(samples, rng)
        return_H = np.zeros(len(state))
        return_A = np.zeros(len(state))
        discount_H = discount_A = 1.0
        t = np.zeros(len(state), dtype=np.int64)
        for _ in range(plan.horizon):
            action_H, action_A = actions(sample, state)
            if self._outcome_cdf is not None:
                state, terminated, _ = outcome_step(self._next, self._outcome_cdf, model.terminal_state, state,
                                                    (action_H, action_A), rng.random(len(state)), t, plan.horizon)
            elif self._slip_cdf is None:
                state, terminated, _ = joint_step(self._next, model.terminal_state, state, action_H, action_A, t,
                                                  plan.horizon)
            else:
                u_H, u_A = rng.random(len(state)), rng.random(len(state))
                state, terminated, *_ = slip_step(self._next, model.terminal_state, self._slip_cdf, state,
                                                  (action_H, action_A), (u_H, u_A), t, plan.horizon)
            return_H += discount_H * reward_H[sample, state]
            return_A += discount_A * reward_A[sample, state]
            discount_H *= self.gamma_H
            discount_A *= self.gamma_A
            t += 1
            if terminated.all():  # every walker absorbed: nothing more to earn
                break
        shape = (k, n_states, m)
        power_H = (1.0 - self.gamma_H) * return_H.reshape(shape).mean(axis=2)
        power_A = (1.0 - self.gamma_A) * return_A.reshape(shape).mean(axis=2)
        return power_H, power_A

    def _joint_actions(self, samples: slice, rng: np.random.Generator) -> Callable:
        """``actions(sample, state) -> (action_H, action_A)`` for walkers (``stay`` at the terminal)."""
        sample_H = _action_sampler(self.policy_H[samples], self.plan.deterministic_H)
        sample_A = _action_sampler(self.policy_A[samples], self.plan.deterministic_A)
        padded = self.model.n_states + 1

        def actions(sample: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            index = sample * padded + state
            return sample_H(index, rng), sample_A(index, rng)

        return actions


def _action_sampler(policy: np.ndarray, deterministic: bool) -> Callable:
    """``sample(index, rng) -> actions`` for walkers at flattened ``(sample, state)`` rows ``index``.

    The tables are padded with a ``stay`` row for the terminal. A deterministic policy is a lookup of its
    action; a stochastic one inverts the float32 cumulative probabilities of all actions but the last
    (``action = #{j < n - 1 : u ≥ cum_j}``), with entries from the last action of positive probability on set
    to ``inf``, so rounding can never pick a zero-probability action.
    """
    k, n_states, n_actions = policy.shape
    stay = np.zeros((k, 1, n_actions))
    stay[..., 0] = 1.0  # the terminal row: any slot, nothing follows from it
    probs = np.concatenate([policy, stay], axis=1).reshape(k * (n_states + 1), n_actions)
    if deterministic:
        actions = probs.argmax(axis=-1).astype(np.int64)
        return lambda index, rng: actions[index]
    cumulative = np.ascontiguousarray(cumulative_probabilities(probs)[:, : n_actions - 1], dtype=np.float32)

    def sample(index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        u = rng.random(len(index), dtype=np.float32)
        return (u[:, None] >= cumulative[index]).sum(axis=1)

    return sample


def exact_policy_power(
    problem: TwoStageProblem, policy_H: np.ndarray, policy_A: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample POWER ``(K, S)`` of the given policies evaluated exactly on the model.

    ``(1-γ) · E[V(s')]`` under the policies, from ``multipower.exact.accuracy.policy_values`` (the same as
    ``(1-γ)/γ · (V - R)``, without its cancellation at small ``γ``: accurate to the solver's ``power_tol`` at any
    discount).
    """
    _, _, W_H, W_A = policy_values(problem, policy_H, policy_A)
    return power_from_next(W_H, problem.gamma_H), power_from_next(W_A, problem.gamma_A)


def check_extras(config, **hooks) -> None:
    """The optional extras of an estimate, checked before any rollout: ``config`` a mapping (saved with the result),
    ``on_chunk`` a callable, ``exact_eval`` a bool; one ``ValueError`` naming the argument."""
    if not (config is None or isinstance(config, Mapping)):
        raise ValueError(f"config: must be a mapping saved with the result, got {type(config).__name__}")
    if not (hooks.get("on_chunk") is None or callable(hooks["on_chunk"])):
        raise ValueError(f"on_chunk: must be a callable on_chunk(n_done, running), got {hooks['on_chunk']!r}")
    if "exact_eval" in hooks and not isinstance(hooks["exact_eval"], bool):
        raise ValueError(f"exact_eval: must be True or False, got {hooks['exact_eval']!r}")


def estimate_power(
    problem: TwoStageProblem,
    policy_H: np.ndarray,
    policy_A: np.ndarray,
    *,
    rollouts: Optional[Rollouts] = None,
    exact_eval: bool = True,
    config: Optional[dict] = None,
    on_chunk: Optional[Callable[[int, dict], None]] = None,
) -> PowerResult:
    """Learned POWER of frozen policies by rollouts, with the exact evaluation of the same policies.

    Args:
        problem: The joint model the policies act in, the ``(K, S)`` reward functions they were trained for and
            both discounts (``multipower.envs.problem.TwoStageProblem``).
        policy_H, policy_A: ``(K, S, n)`` learned policies, one per reward sample (``n`` action slots).
        rollouts: The rollout settings (``Rollouts``: ``n_rollouts``, ``horizon``, ``tol``, ``seed``,
            ``max_walkers``; default ``Rollouts()``).
        exact_eval: Also evaluate the same policies exactly on the model (columns ``*_eval``).
        config: Extra configuration saved with the result (layout, algorithm, reward settings...).
        on_chunk: ``on_chunk(n_done, running)`` after each chunk of samples, ``running`` holding the
            running means (``power_H``, ``power_A`` and, with ``exact_eval``, ``power_H_eval``...).

    Returns:
        A joint ``PowerResult`` with columns ``power_H, power_H_se, power_A, power_A_se`` (rollouts)
        and, with ``exact_eval``, ``power_H_eval, power_H_eval_se, power_A_eval, power_A_eval_se``;
        stats ``alpha`` (α_HA of the rollout POWERs), ``alpha_eval``, ``truncation_bound_H/A``,
        ``max_abs_rollout_noise_H/A`` (max over states of |rollout − exact evaluation|).
    """
    check_extras(config, on_chunk=on_chunk, exact_eval=exact_eval)
    rollout = PolicyRollout(problem, policy_H, policy_A, rollouts)
    model = rollout.model
    names = ("power_H", "power_A") + (("power_H_eval", "power_A_eval") if exact_eval else ())
    running = {name: MeanAccumulator() for name in names}
    timings = {"rollout": 0.0, "exact_eval": 0.0}
    for chunk in rollout.chunks_timed(timings):
        running["power_H"].add(chunk.power_H)
        running["power_A"].add(chunk.power_A)
        if exact_eval:
            t0 = time.perf_counter()
            s = slice(chunk.start, chunk.stop)
            eval_H, eval_A = exact_policy_power(problem.rows(chunk.start, chunk.stop), rollout.policy_H[s],
                                                rollout.policy_A[s])
            timings["exact_eval"] += time.perf_counter() - t0
            running["power_H_eval"].add(eval_H)
            running["power_A_eval"].add(eval_A)
        if on_chunk is not None:
            on_chunk(chunk.stop, {name: acc.mean for name, acc in running.items()})
    arrays = {}
    for name, acc in running.items():
        arrays[name], arrays[f"{name}_se"] = acc.mean, acc.se
    stats = {
        "alpha": pearson(arrays["power_H"], arrays["power_A"]),
        "truncation_bound_H": rollout.plan.truncation_H,
        "truncation_bound_A": rollout.plan.truncation_A,
    }
    if exact_eval:
        stats["alpha_eval"] = pearson(arrays["power_H_eval"], arrays["power_A_eval"])
        for agent in "HA":
            noise = np.abs(arrays[f"power_{agent}"] - arrays[f"power_{agent}_eval"])
            stats[f"max_abs_rollout_noise_{agent}"] = float(noise.max())
    full_config = {
        "layout": model.layout.name,
        "layout_text": model.layout.to_text(),
        "collision": model.collision,
        "slip": model.slip,
        "n_samples": rollout.n_samples,
        **rollout.config(),
        **(config or {}),
    }
    if not exact_eval:
        del timings["exact_eval"]
    return PowerResult("joint", model.state_labels(), arrays, full_config, stats, timings)
