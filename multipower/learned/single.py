"""Learned against exact single-agent POWER on an MDP graph or a layout (docs/graphs.md#learning).

``compare_single`` draws ``K`` reward functions over the states (sample ``i`` is the exact solver's sample
``i``), learns each by tabular Q-learning (``multipower.agents.graph_qlearning.learn_graph_q``), takes the greedy
policy of the learned ``Q`` (``greedy_policy``) and evaluates that policy exactly on the known model with
the true reward (``policy_power``). Per state this gives

* ``learned``: ``(1 − γ)·E[V^π(s')]``, the POWER of the learned policy ``π`` evaluated on the model, the
  "learning error" part of the joint comparison (docs/comparison.md): no rollout noise;
* ``exact``: ``(1 − γ)·E[V*(s')]`` from ``multipower.exact.solver.solve_mdp`` on the same rewards;
* ``difference``: ``learned − exact``, paired per sample, so its standard error is small.

``learned <= exact`` per sample up to the solver's ``power_tol``: no policy beats the optimum.
"""

from __future__ import annotations

import inspect
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Union

import numpy as np

from multipower.agents.graph_qlearning import learn_graph_q
from multipower.envs.graph_mdp import GraphMDP, layout_to_dot, parse_graph_mdp
from multipower.envs.layouts import LayoutLike, load_layout
from multipower.envs.memory import DEFAULT_FRACTION, default_budget, format_bytes
from multipower.envs.rewards import RewardDraws, RewardSampler
from multipower.envs.slip import check_slip
from multipower.envs.validation import check_count, check_gamma
from multipower.runs.results import MeanAccumulator, PowerResult, jsonable, pearson

KIND = "compare_single"
#: Q-learning settings that ``--option`` may set, with their defaults (those of ``learn_graph_q``).
QLEARNING_OPTIONS = {
    name: p.default for name, p in inspect.signature(learn_graph_q).parameters.items()
    if name in ("n_steps", "walkers", "episode_length")
}
#: Peak bytes per reward sample, per (state, action) float and per walker, and once per run (the chunked
#: evaluation), measured with tracemalloc on maze7x7 (about 27 KB a sample at 16 walkers).
BYTES_PER_SAMPLE_TABLE, BYTES_PER_WALKER, BYTES_ONCE = 24 * 8, 16, 64 * 2**20
#: Per-state columns of ``power.csv``, in order (each followed by its standard error ``_se``).
COLUMNS = ("learned", "exact", "difference")
#: Largest graph evaluated by the dense linear solve (an ``n × n`` system per reward sample).
MAX_STATES = 5000
#: Matrix elements per evaluation chunk (``chunk · n²`` float64: 64 MiB), bounding memory for any ``K``.
EVAL_ELEMENTS = 1 << 23


def check_options(options: Optional[Mapping], key: str = "options") -> dict:
    """Q-learning settings: keys of ``QLEARNING_OPTIONS``, each a positive integer; ``ValueError`` naming
    ``key`` and the setting otherwise. Returns every setting, defaults filled in."""
    options = dict(options or {})
    for name, value in options.items():
        if name not in QLEARNING_OPTIONS:
            raise ValueError(f"{key} {name}: not a single-agent Q-learning setting; allowed: "
                             f"{', '.join(QLEARNING_OPTIONS)}")
        check_count(value, f"{key} {name}")
    return {**QLEARNING_OPTIONS, **options}


def world_mdp(mdp: Optional[GraphMDP] = None, layout: Optional[LayoutLike] = None, slip: float = 0.0) -> GraphMDP:
    """The MDP graph of a run: ``mdp`` itself, or a layout written as a graph (``layout_to_dot``, states
    ``"(r, c)"`` in the layout's cell order, so reward sample ``i`` is that of ``exact --single --layout``)."""
    if (mdp is None) == (layout is None):
        raise ValueError("give mdp or layout, not both and not neither")
    if mdp is not None:
        if not isinstance(mdp, GraphMDP):
            raise ValueError(f"mdp must be a GraphMDP (multipower.envs.graph_mdp.load_graph_mdp), got {type(mdp).__name__}")
        if check_slip(slip) != 0:
            raise ValueError("slip applies to a layout only; write the slip into the graph's weights")
        return mdp
    grid = load_layout(layout)
    slip = check_slip(slip)
    return parse_graph_mdp(layout_to_dot(grid, slip), name=grid.name if slip == 0 else f"{grid.name} slip {slip:g}")


def greedy_policy(q: np.ndarray, R: np.ndarray, gamma: float) -> np.ndarray:
    """Greedy policies ``(K, n, A)`` of learned action values ``q`` ``(K, n, A)`` (``-inf`` on unavailable slots).

    Ties follow the solver's rule (docs/concepts.md#optimal-policies-and-ties): uniform over the actions whose
    ``q`` lies within ``γ·tie_tol``, ``tie_tol = TIE_RTOL·max|R|/(1 − γ)``, of the best. Learned values differ by
    their noise, far above this, so in practice only actions with identical learned values tie.
    """
    from multipower.exact.solver import TIE_RTOL

    q = np.asarray(q, dtype=np.float64)
    tol = gamma * TIE_RTOL * np.abs(R).max(1) / (1.0 - gamma)
    tied = q >= q.max(2, keepdims=True) - tol[:, None, None]
    return tied / tied.sum(2, keepdims=True)


def policy_power(mdp: GraphMDP, policy: np.ndarray, R: np.ndarray, gamma: float) -> np.ndarray:
    """POWER ``(K, n)`` of policies ``policy`` ``(K, n, A)`` under rewards ``R`` ``(K, n)``, by a linear solve.

    ``V^π = (I − γ P_π)⁻¹ R`` (reward on arrival, ``V = R + γ P_π V``: docs/concepts.md#single-agent-power), and
    POWER ``= (1 − γ)·P_π V^π``, the expected next value (no cancellation at small ``γ``). ``P_π[s, s'] =
    Σ_a π(a|s) P(s'|s, a)``; ``I − γ P_π`` has condition number at most ``(1 + γ)/(1 − γ)`` (∞-norm), so the
    result is exact to rounding. Samples go ``EVAL_ELEMENTS / n²`` at a time.

    Raises:
        ValueError: naming the argument, for a graph over ``MAX_STATES`` states, mismatched shapes, or a
            policy that is not a distribution over the available actions.
    """
    gamma = check_gamma(gamma)
    n, A = mdp.n_states, mdp.n_actions
    if n > MAX_STATES:
        raise ValueError(f"mdp: {n:,} states; the exact evaluation of learned policies handles up to {MAX_STATES:,}")
    R = np.asarray(R, dtype=np.float64)
    policy = np.asarray(policy, dtype=np.float64)
    if R.ndim != 2 or R.shape[1] != n:
        raise ValueError(f"R must have shape (K, {n}), got {R.shape}")
    if policy.shape != (len(R), n, A):
        raise ValueError(f"policy must have shape {(len(R), n, A)}, got {policy.shape}")
    if np.any(policy[:, ~mdp.action_mask] != 0) or not np.allclose(policy.sum(2), 1.0, atol=1e-9) \
            or np.any(policy < 0):
        raise ValueError("policy must be a probability distribution over each state's available actions")
    P = mdp.transition_matrix()
    eye = np.eye(n)
    chunk = max(1, EVAL_ELEMENTS // (n * n))
    out = np.empty_like(R)
    for lo in range(0, len(R), chunk):  # chunks bound memory; each is one batched solve
        P_pi = np.einsum("ksa,san->ksn", policy[lo:lo + chunk], P)
        V = np.linalg.solve(eye - gamma * P_pi, R[lo:lo + chunk, :, None])
        out[lo:lo + chunk] = (1.0 - gamma) * (P_pi @ V)[..., 0]
    return out


def optimal_everywhere(policy: np.ndarray, optimal: np.ndarray) -> np.ndarray:
    """``(K,)`` bool: whether each sample's ``policy`` acts only on actions the exact ``optimal`` policy uses
    (its tie set) at every state, i.e. is itself an optimal policy."""
    return ~np.any((policy > 0) & (optimal <= 0), axis=(1, 2))


@dataclass
class SingleComparison:
    """Learned versus exact single-agent POWER.

    Attributes:
        result: A ``"graph"`` ``PowerResult`` labelled by state name, with the columns of ``COLUMNS``,
            each followed by its standard error over the reward samples (``difference_se`` paired).
        metrics: Scalar figures (``single_metrics``).
        config: The full configuration (with the graph's DOT source as ``mdp_text``).
        timings: Seconds per stage.
        optimal: ``(K,)`` whether sample ``i``'s learned policy is an exact optimal policy at every state.
    """

    result: PowerResult
    metrics: dict
    config: dict
    timings: dict = field(default_factory=dict)
    optimal: Optional[np.ndarray] = None

    def column(self, name: str) -> np.ndarray:
        return self.result.arrays[name]

    def save(self, directory: Union[str, Path], figure: bool = True) -> Path:
        """Write ``power.csv``, ``summary.json``, ``comparison.json`` and ``comparison.png`` (each atomically),
        then ``manifest.json`` listing them."""
        summary = {**self.metrics, "config": self.config, "timings": self.timings}
        files = {"comparison.json": json.dumps(jsonable(summary), indent=2) + "\n"}
        if figure:
            from multipower.plots.compare import single_comparison_figure

            fig = single_comparison_figure(self.result)
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=110)
            import matplotlib.pyplot as plt

            plt.close(fig)
            files["comparison.png"] = buffer.getvalue()
        return self.result.save(directory, run_kind=KIND, files=files)


def single_metrics(arrays: Mapping[str, np.ndarray], optimal: np.ndarray, q_power: np.ndarray) -> dict:
    """``max_abs_error``, ``mean_abs_error`` (|learned − exact| over states), ``pearson`` (learned against exact
    across states), ``max_difference_se``, ``optimal_policy_fraction`` (samples whose learned policy is optimal
    at every state) and ``q_estimate_max_abs_error``: the learned ``Q``'s own estimate
    ``(1 − γ)/γ·(max Q − R)`` against exact (it carries the ``Q`` noise the evaluated policy does not)."""
    error = np.abs(arrays["difference"])
    return {
        "max_abs_error": float(error.max()),
        "mean_abs_error": float(error.mean()),
        "pearson": pearson(arrays["learned"], arrays["exact"]),
        "max_difference_se": float(arrays["difference_se"].max()),
        "samples": int(len(optimal)),
        "optimal_policy_fraction": float(np.mean(optimal)),
        "q_estimate_max_abs_error": float(np.abs(q_power - arrays["exact"]).max()),
    }


def compare_single(
    mdp: Optional[GraphMDP] = None,
    gamma: float = 0.6,
    *,
    layout: Optional[LayoutLike] = None,
    slip: float = 0.0,
    rewards: Optional[RewardDraws] = None,
    options: Optional[Mapping] = None,
    power_tol: Optional[float] = None,
) -> SingleComparison:
    """Learn the reward functions of ``rewards`` by Q-learning and compare the learned policies' POWER with exact.

    Args:
        mdp: An MDP graph (``multipower.envs.graph_mdp.load_graph_mdp``); or else
        layout: A layout (name, file or text), written as a graph with ``slip`` (``world_mdp``).
        gamma: Discount in (0, 1).
        rewards: The reward draws (``multipower.envs.rewards.RewardDraws``: ``n_samples`` ``K``,
            ``distribution``, ``seed``; default 100 uniform samples, seed 0; ``correlation`` must be 0): sample ``i``
            is the exact solver's sample ``i`` (``multipower exact --single`` with the same seed). Its ``seed``
            also seeds Q-learning.
        options: Q-learning settings (``QLEARNING_OPTIONS``: ``n_steps``, ``walkers``, ``episode_length``).
        power_tol: The exact solver's bound on each sample's POWER error (default its ``POWER_TOL``).

    Returns:
        A ``SingleComparison``. Everything is checked (``ValueError`` naming the argument) before any work.
    """
    return _plan(mdp, gamma, layout, slip, rewards, options, power_tol).run()


@dataclass(frozen=True)
class SinglePlan:
    """A ``compare_single`` run, checked and not yet started (``plan_single``): its world, reward sampler,
    Q-learning settings and the full configuration its results are saved with."""

    world: GraphMDP
    sampler: RewardSampler
    settings: dict
    config: dict

    def run(self) -> SingleComparison:
        """Learn, evaluate and solve (module docstring)."""
        from multipower.exact.solver import solve_mdp

        world, config = self.world, self.config
        gamma, n_samples, seed = config["gamma"], config["n_samples"], config["train_seed"]  # as checked
        t0 = time.perf_counter()
        R = self.sampler.pairs(0, n_samples)[0]
        learned_q = learn_graph_q(world, R, gamma, seed=seed, **self.settings)
        t1 = time.perf_counter()
        policy = greedy_policy(learned_q.q, R, gamma)
        learned = policy_power(world, policy, R, gamma)
        t2 = time.perf_counter()
        solved = solve_mdp(world, R, gamma, power_tol=config["power_tol"])
        exact = (1.0 - gamma) * solved.W
        t3 = time.perf_counter()
        arrays = {}
        for name, values in (("learned", learned), ("exact", exact), ("difference", learned - exact)):
            acc = MeanAccumulator()
            acc.add(values)
            arrays[name], arrays[f"{name}_se"] = acc.mean, acc.se
        optimal = optimal_everywhere(policy, solved.policy)
        metrics = single_metrics(arrays, optimal, learned_q.power.mean(0))
        timings = {"train": t1 - t0, "evaluate": t2 - t1, "exact_solve": t3 - t2, "total": t3 - t0}
        labels = np.array(world.states, dtype=object)[:, None]
        result = PowerResult("graph", labels, arrays, config, metrics, timings)
        return SingleComparison(result, metrics, config, timings, optimal)


def plan_single(*args, **kwargs) -> SinglePlan:
    """``compare_single``'s arguments (the same signature), checked (``ValueError`` naming each) into a
    ``SinglePlan``, without any work: its ``config`` is what an output folder is checked against before the
    run, and ``run()`` is the comparison."""
    bound = inspect.signature(compare_single).bind(*args, **kwargs)
    bound.apply_defaults()
    return _plan(**bound.arguments)


plan_single.__signature__ = inspect.signature(compare_single).replace(return_annotation=SinglePlan)


def _plan(mdp, gamma, layout, slip, rewards, options, power_tol) -> SinglePlan:
    """``plan_single`` with every argument given."""
    from multipower.exact.power import check_power_tol

    gamma = check_gamma(gamma)
    draws = RewardDraws(100) if rewards is None else rewards
    if not isinstance(draws, RewardDraws):
        raise ValueError(f"rewards: must be a multipower.envs.rewards.RewardDraws, got {type(draws).__name__}")
    if draws.correlation != 0.0:
        raise ValueError(f"rewards.correlation: must be 0 for one agent, got {draws.correlation!r}")
    n_samples, seed = draws.n_samples, draws.seed  # checked when the draws were made
    settings = check_options(options)
    grid = None if layout is None else load_layout(layout)  # read once: the world and the config's name
    world = world_mdp(mdp, grid, slip)
    _check_memory(world, n_samples, settings["walkers"])
    sampler = draws.sampler(world.n_states)
    config = {
        "kind": KIND, "mdp": world.name, "mdp_text": world.text,
        "layout": None if grid is None else grid.name, "slip": float(slip),
        "gamma": gamma, "n_samples": n_samples, **sampler.to_config(),
        "algo": "qlearning", "train_seed": seed, "learner_options": settings,
        "power_tol": check_power_tol(power_tol),
    }
    return SinglePlan(world, sampler, settings, config)


def _check_memory(world: GraphMDP, n_samples: int, walkers: int) -> None:
    """Refuse, before any work, a comparison that cannot fit in ``DEFAULT_FRACTION`` of this machine's memory."""
    tables = n_samples * BYTES_PER_SAMPLE_TABLE * world.n_states * world.n_actions
    estimate = tables + n_samples * BYTES_PER_WALKER * walkers
    budget = default_budget()
    if budget is not None and estimate + BYTES_ONCE > budget:
        name = "n_samples" if 2 * tables >= estimate else "walkers"  # the term that dominates
        raise ValueError(f"{name}: {n_samples:,} reward samples of a {world.n_states}-state world with {walkers:,} "
                         f"walkers each need about {format_bytes(estimate + BYTES_ONCE)}, over "
                         f"{format_bytes(budget)} ({DEFAULT_FRACTION:.0%} of this machine's memory); use fewer "
                         f"samples or walkers")
