"""Batched tabular Q-learning: many reward samples trained at once, in lockstep (docs/learning.md#q-learning).

Every reward sample ``k`` has its own copy of the world and its own Q-table; each copy runs ``W`` walkers.
The steps run in a compiled kernel (``multipower.agents._qkernel.run_steps``, numba), one sample at a time so that its
Q-table stays in cache, its ``W`` walkers taking turns: the learner's action is ε-greedy on its Q-table, the other
agent's action is *sampled* from its fixed policy (the seed policy in stage 1, frozen greedy H in stage 2), and
the next joint state is looked up in ``model.next_state``, the very table the environments step by. The update
is ordinary sample-based Q-learning on the sampled transition ``(s, a, r, s')``::

    Q(s, a) += α_n(s, a) · (r + γ max_b Q(s', b) - Q(s, a)),     r = R(s')   (reward of the state arrived at)

with no bootstrap after a crash (``r = 0``, absorbing zero-value terminal) and a bootstrap at truncation
(the time limit is not part of the task). These are the environment's action values ``Q_env``; the solver's
convention is ``R(s) + γ Q_env`` (same argmax), see ``multipower.agents.logging``.

**All-action updates** (default, ``all_actions=True``). Moves are simultaneous, so the other agent's sampled
action at ``s`` is a valid sample for *every* action of the learner there: each walker step updates all of the
learner's available actions at ``s``, each with its own sampled transition ``s' = next_state[s, a, a_other]``
(Q-learning with a generative model; no expectation over the other agent is ever taken). ``all_actions=False``
is textbook Q-learning (only the action taken is updated).

**Exploration.** Exploring starts: every episode begins at a uniformly random joint state and is truncated after
``episode_length`` steps. ε-greedy, ε decaying linearly from ``epsilon_start`` to ``epsilon_end`` over the first
``epsilon_decay`` fraction of the step budget (Q-learning is off-policy, so a fairly high ε costs nothing in
accuracy and keeps the runner-up actions sampled). Q-tables start at tiny random values to break ties.

**Learning rate.** ``α_n = (1 + c·n)^(-ω)``, ``n`` the visits of ``(s, a)`` so far. ``ω = 1`` with ``c = 1 - γ``
(default) is the "rescaled linear" step size of Wainwright (2019): unlike ``1/n`` (whose bias decays only like
``n^-(1-γ)``) it forgets the initial bootstrap targets quickly, and its noise is close to that of a sample mean,
which the stochastic seed agent needs. ``ω ∈ (0.5, 1)`` gives the classic polynomial rates. Updates are applied
one at a time, in order (no averaging over walkers).

**Variance reduction** (``vr_start > 0``; the default at ``γ ≥ 0.99`` against a stochastic other agent in a world
with slip or several outcomes per move).
Against the seed agent most of the error of plain Q-learning is the noise of the sampled targets: the
rescaled-linear step averages only the last ``~2(1-γ)n`` of ``n`` targets, so at ``γ = 0.99`` it keeps about
2 % of what it sampled. Variance-reduced Q-learning (Wainwright 2019, "Variance-reduced Q-learning is minimax
optimal") recentres every target on a reference ``Q̄``::

    Q(s, a) += α_n · (r + γ max Q(s') − [r + γ max Q̄(s')] + mean_{epoch}[r + γ max Q̄(s'')] − Q(s, a))

where the mean runs over every transition sampled from ``(s, a)`` since the epoch began (``s''``, all sampled,
the current one included: no expectation over the other agent is taken). Its noise scales with ``Q − Q̄``,
which is small, while the reference term is a plain average over the whole epoch. Epochs begin at
``vr_start``, ``vr_growth · vr_start``, ... steps (``Q̄`` := ``Q`` then); before ``vr_start`` the update is
plain Q-learning. Boundaries depend on the step count alone, so results stay independent of the split. Against
a deterministic other agent the recentring is an exact no-op and is switched off.

**Joint-action values** (``joint_values``; the default at ``γ ≥ 0.99`` against a stochastic other agent in a world
whose every joint move has one outcome). The learner keeps ``Q(s, a, o)`` for the other agent's move ``o``, which
it observes (a joint-action learner, Claus and Boutilier 1998), and acts on ``Q(s, a) = Σ_o π(o | s) Q(s, a, o)``
under the other agent's fixed policy ``π`` (a given of the stage, like the rewards; never the world's transition
tables). An update moves ``Q(s, a, o)`` toward ``R(s') + γ max_b Q(s', b)`` of the sampled ``s'``, and ``Q(s, a)``
by ``π(o | s)`` times the same step. With one outcome per joint move that target has no noise, so the defaults
take it whole (``lr_scale = 0``: ``α = 1``) and ``20/(1-γ)`` visits (docs/learning.md#q-learning). Against a
deterministic other agent it is plain Q-learning, bit for bit.

**Stopping rule, per sample.** Every ``check_every`` steps each sample still training stops when (a) every
available ``(s, a)`` has at least ``min_visits`` visits (this bounds the statistical error of each estimate: with
target noise σ ≈ 0.25 its standard error is about σ/√(n(1-γ))), and (b) its greedy policy changed at no more
than a fraction ``policy_tol`` of its states (``⌊policy_tol · S⌋``) since the previous check; or at
``max_steps``. A stopped sample is frozen while the others go on. (Measured on grid3x3 at γ = 0.6, 200 samples:
H stops after 6,600 steps per walker at the median, 7,600 at most, as under the former rule over whole chunks.)

**Independence of the work split.** Sample ``k`` (its index in the whole run) draws its initial Q-values, its
walkers' starts and every step's randomness from its own stream, seeded by ``(seed, stage, k)``; its stopping
rule is its own; the other agent's move is drawn only where that sample's other policy is stochastic. So a
sample's learned Q-table depends on its reward function, the seed and the hyperparameters alone, never on
``chunk_size``, the training driver's chunks and worker processes, or which samples share a batch.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from multipower.agents._qkernel import epsilon_at, run_steps
from multipower.agents.logging import TrainingLogger, greedy_optimal_fraction, value_gap
from multipower.agents.qlearning_config import (
    MAX_WALKERS,
    UNAVAILABLE,
    QLearningConfig,
    default_config,
)
from multipower.envs.dynamics import padded_rewards
from multipower.envs.layouts import N_ACTIONS
from multipower.envs.problem import JointWorld, StageProblem
from multipower.envs.validation import check_seed
from multipower.envs.policies import (
    cumulative_probabilities,
    greedy_policy,
    is_deterministic,
)


@dataclass
class QLearningResult:
    """Learned action values of one agent for a batch of reward samples.

    Attributes:
        q: ``(K, S, n)`` learned ``Q_env`` (environment convention; ``-inf`` on unavailable actions); ``n`` the
            learner's action slots (5 on a layout).
        visits: ``(K, S, n)`` update counts.
        steps: ``(K,)`` steps per walker each sample trained for.
        transitions: Total sampled transitions (all walkers).
        seconds: Wall time.
        stopped: ``(K,)`` True where the stopping rule (not ``max_steps``) ended training.
    """

    q: np.ndarray
    visits: np.ndarray
    steps: np.ndarray
    transitions: int
    seconds: float
    stopped: np.ndarray

    def greedy(self, mask: np.ndarray) -> np.ndarray:
        """Greedy policy ``(K, S, n)``, uniform over exact ties of the learned values."""
        return greedy_policy(self.q, mask)


class _OtherSampler:
    """The other agent's fixed policy as the kernel samples it: a deterministic action or cumulative probabilities."""

    def __init__(self, policy: np.ndarray, n_samples: int, n_states: int, n_actions: int = N_ACTIONS) -> None:
        policy = np.asarray(policy, dtype=np.float64)
        if policy.shape not in ((n_states, n_actions), (n_samples, n_states, n_actions)):
            raise ValueError(
                f"other_policy must have shape ({n_states}, {n_actions}) or ({n_samples}, {n_states}, {n_actions}), "
                f"got {policy.shape}"
            )
        self.shared = policy.ndim == 2
        table = policy.reshape(-1, n_actions)
        self.deterministic = is_deterministic(table)
        self.n_states = n_states
        row_det = (table > 0).sum(axis=1) == 1
        # Per sample: is the other agent's policy deterministic everywhere (picks that sample's default min_visits).
        self.sample_deterministic = (
            np.full(n_samples, self.deterministic) if self.shared else row_det.reshape(n_samples, n_states).all(1)
        )
        # Per row: the deterministic action, or -1 where the kernel must draw from the cumulative probabilities.
        self.action = np.ascontiguousarray(np.where(row_det, table.argmax(axis=1), -1), dtype=np.int64)
        self.probabilities = np.ascontiguousarray(table, dtype=np.float64)
        self.cumulative = np.ascontiguousarray(cumulative_probabilities(table), dtype=np.float64)


def _available_table(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(S, n)`` available actions packed left, and ``(S,)`` their count."""
    order = np.argsort(~mask, axis=1, kind="stable")
    return order, mask.sum(axis=1)


def train_q(
    problem: StageProblem,
    config: Optional[QLearningConfig] = None,
    seed: int = 0,
    logger: Optional[TrainingLogger] = None,
    exact_q: Optional[np.ndarray] = None,
    progress: Optional[Callable[[int], None]] = None,
    sample_offset: int = 0,
) -> QLearningResult:
    """Train the learner's Q-tables for every reward function of a stage against the other agent's fixed policy.

    Args:
        problem: The stage (``multipower.envs.problem.StageProblem``): the joint model (its ``next_state`` and
            masks drive every transition), the learner's ``(K, S)`` rewards and discount, the learner ``"H"`` or
            ``"A"``, and the other agent's ``(S, n)`` or ``(K, S, n)`` fixed policy (default the uniform seed).
        config: Hyperparameters; default ``default_config`` for ``γ``.
        seed: Fixes every random draw.
        logger: Optional TensorBoard logger.
        exact_q: Optional ``(K, S, n)`` exact ``Q_env`` for logging the optimal fraction and value gap (tags
            ``qlearning/<agent>/...``).
        progress: Called with the number of samples finished after each batch of samples (``chunk_size``).
        sample_offset: Index in the whole run of ``rewards[0]``: sample ``k`` draws from the stream of
            ``(seed, agent, sample_offset + k)``, so a run trained in pieces equals one trained at once.

    Returns:
        A ``QLearningResult``.
    """
    if not isinstance(problem, StageProblem):
        raise ValueError(f"problem: must be a multipower.envs.problem.StageProblem, got {type(problem).__name__}")
    if not (config is None or isinstance(config, QLearningConfig)):
        raise ValueError(f"config: must be a QLearningConfig (or None for the defaults), got {type(config).__name__}")
    seed = check_seed(seed)
    for name, value in (("progress", progress), ("logger", logger)):
        if not (value is None or (callable(value) if name == "progress" else isinstance(value, TrainingLogger))):
            raise ValueError(f"{name}: must be {'a callable' if name == 'progress' else 'a TrainingLogger'} or None, "
                             f"got {value!r}")
    model, rewards, gamma, agent = problem.model, problem.rewards, problem.gamma, problem.agent
    other_policy = problem.other_policy  # the shared (S, n) form is kept
    n_samples, n_states = rewards.shape
    if config is None:  # defaults per sample: fewer visits where that sample's other agent is deterministic
        # under slip no other agent's move is deterministic
        sample_det = _OtherSampler(other_policy, n_samples, n_states, other_policy.shape[-1]).sample_deterministic \
            & (model.slip == 0.0)
        stochastic = default_config(gamma, deterministic_moves=model.deterministic)
        config = default_config(gamma, deterministic_other=True, deterministic_moves=model.deterministic) \
            if sample_det.all() else stochastic
        min_visits = np.where(sample_det, default_config(gamma, deterministic_other=True).min_visits,
                              stochastic.min_visits)
    else:
        min_visits = np.full(n_samples, config.min_visits)
    if isinstance(sample_offset, bool) or int(sample_offset) != sample_offset or sample_offset < 0:
        raise ValueError(f"sample_offset must be a non-negative integer, got {sample_offset!r}")
    n_actions = model.action_mask(agent).shape[1]  # 5 on a layout; a joint graph's slots otherwise
    if exact_q is not None and np.shape(exact_q) != (n_samples, n_states, n_actions):
        raise ValueError(f"exact_q must have shape ({n_samples}, {n_states}, {n_actions}), got {np.shape(exact_q)}")
    logger = logger or TrainingLogger(None)
    prefix = f"qlearning/{agent}"

    walkers = config.walkers or max(16, 2 * n_states)
    # Samples in one batch of walkers, bounded by memory; batches run one after another (worker processes are the
    # training driver's, multipower.learned.training).
    chunk = config.chunk_size or max(1, MAX_WALKERS // walkers)
    stage = 0 if agent == "H" else 1
    q_all = np.empty((n_samples, n_states, n_actions))
    visits_all = np.zeros((n_samples, n_states, n_actions), dtype=np.int64)
    steps_all = np.zeros(n_samples, dtype=np.int64)
    stopped_all = np.zeros(n_samples, dtype=bool)
    transitions = 0
    start_time = time.perf_counter()
    for c, lo in enumerate(range(0, n_samples, chunk)):
        hi = min(n_samples, lo + chunk)
        seeds = [np.random.SeedSequence([int(seed), stage, int(sample_offset) + k]) for k in range(lo, hi)]
        other = other_policy if other_policy.ndim == 2 else other_policy[lo:hi]
        q, visits, steps, done, n_transitions = _train_chunk(
            model, rewards[lo:hi], gamma, agent, other, config, walkers, (seeds, min_visits[lo:hi]),
            exact_q[lo:hi] if exact_q is not None else None, prefix, logger if c == 0 else None)
        q_all[lo:hi], visits_all[lo:hi], steps_all[lo:hi], stopped_all[lo:hi] = q, visits, steps, done
        transitions += n_transitions
        if progress is not None:
            progress(hi - lo)
    return QLearningResult(
        q=q_all,
        visits=visits_all,
        steps=steps_all,
        transitions=int(transitions),
        seconds=time.perf_counter() - start_time,
        stopped=stopped_all,
    )


def _train_chunk(model, rewards, gamma, agent, other, config, walkers, seeds, log_q, prefix, logger=None):
    """Train one chunk of samples, each to its own stopping rule; returns ``(q, visits, steps, stopped,
    transitions)`` with per-sample ``steps`` and ``stopped``."""
    learner = _ChunkLearner(model, rewards, gamma, agent, other, config, walkers, seeds)
    mask = model.action_mask(agent)
    while True:
        learner.run(min(config.check_every, config.max_steps - learner.step))
        learner.check()
        if logger is not None and logger.enabled:
            info = learner.stats()
            if log_q is not None:
                q = learner.q_table()
                info["greedy_optimal_fraction"] = greedy_optimal_fraction(q, log_q, mask)
                info["value_gap"] = value_gap(q, log_q, mask)
            logger.scalars(prefix, info, learner.step)
        if not learner.active.any() or learner.step >= config.max_steps:
            break
    steps = learner.steps.copy()
    return learner.q_table(), learner.visit_table(), steps, learner.stopped.copy(), int(steps.sum()) * learner.walkers


class _ChunkLearner:
    """The state of one chunk of reward samples: Q-tables, visit counts and walkers.

    Arrays are ``(K, S+1, n)`` (``n`` action slots); row ``S`` of each sample is the absorbing terminal.
    ``backup[k, s'] = R(s') + γ max_b Q(s', b)`` (0 at the terminal) is kept in step with ``Q`` so that a
    target is one lookup. The steps themselves run in the compiled kernel ``multipower.agents._qkernel.run_steps``.
    """

    def __init__(
        self,
        model: JointWorld,
        rewards: np.ndarray,
        gamma: float,
        agent: str,
        other_policy: np.ndarray,
        config: QLearningConfig,
        walkers: int,
        seeds,
    ) -> None:
        """``seeds``: ``(per-sample SeedSequences, per-sample min_visits)`` as ``train_q`` passes them, or
        one SeedSequence (whose ``spawn(K)`` seeds the samples; ``config.min_visits`` for all)."""
        self.config = config
        self.gamma = gamma
        dtype = np.dtype(config.dtype)
        K, S = rewards.shape
        if isinstance(seeds, np.random.SeedSequence):
            seeds = (seeds.spawn(K), np.full(K, config.min_visits))
        sample_seeds, min_visits = seeds
        if len(sample_seeds) != K or len(min_visits) != K:
            raise ValueError(f"need one seed and one min_visits per sample ({K}), got {len(sample_seeds)}, {len(min_visits)}")
        self.required_visits = np.asarray(min_visits, dtype=np.int64)
        # Per sample: a numpy stream for its initial Q-values and walkers, a SplitMix64 stream for the kernel.
        children = [seq.spawn(2) for seq in sample_seeds]
        rngs = [np.random.default_rng(c[0]) for c in children]
        self.K, self.S = K, S
        self.mask = model.action_mask(agent)
        n_own, n_other = self.mask.shape[1], model.action_mask("A" if agent == "H" else "H").shape[1]
        self.avail, self.n_avail = _available_table(self.mask)
        self.avail = np.ascontiguousarray(self.avail, dtype=np.int64)
        self.n_avail = np.ascontiguousarray(self.n_avail, dtype=np.int64)
        # Transition rows (S, other, mine, outcome) -> s' so that one (s, other) row holds s' for all own actions.
        table, cdf = model.step_tables()
        def rows(t: np.ndarray, dtype) -> np.ndarray:
            t = t if t.ndim == 4 else t[..., None]
            t = t.transpose(0, 2, 1, 3) if agent == "H" else t
            return np.ascontiguousarray(t, dtype=dtype).reshape(S * n_other, n_own, -1)

        self.next_rows = rows(table, np.int64)
        self.outcome_cdf = np.empty((0, 0, 0)) if cdf is None else rows(cdf, np.float64)
        self.other = _OtherSampler(other_policy, K, S, n_other)
        self.slip = model.slip > 0.0  # effective moves drawn in the kernel (docs/concepts.md#slip)
        empty = np.empty((0, N_ACTIONS, N_ACTIONS))
        self.own_cdf = model.slip_cdf(agent) if self.slip else empty
        self.other_cdf = model.slip_cdf("A" if agent == "H" else "H") if self.slip else empty
        self._other_action = self.other.action
        self._other_cum = self.other.cumulative
        mask_pad = np.concatenate([self.mask, np.zeros((1, n_own), bool)])
        self.rewards = np.ascontiguousarray(padded_rewards(rewards), dtype=dtype)  # reward on arrival, 0 at a crash
        q = np.empty((K, S + 1, n_own))
        for k, rng in enumerate(rngs):
            q[k] = rng.uniform(0.0, 1e-6, (S + 1, n_own))  # tiny random values break initial ties
        q = np.where(mask_pad, q, UNAVAILABLE)  # finite and far below any real value: never the greedy choice
        self.q = np.ascontiguousarray(q, dtype=dtype)
        value = np.concatenate([q[:, :S].max(axis=-1), np.zeros((K, 1))], axis=1)
        self.backup = np.ascontiguousarray(self.rewards + gamma * value, dtype=dtype)
        self.backup[:, S] = 0.0
        self.counts = np.zeros((K, S + 1, n_own), dtype=np.int64)
        self.n_walkers = K * walkers
        self.walkers = walkers
        self._state = np.empty((K, walkers), dtype=np.int64)
        for k, rng in enumerate(rngs):
            self._state[k] = rng.integers(0, S, walkers)
        self._t = np.zeros((K, walkers), dtype=np.int64)
        self._returns = np.zeros((K, walkers))
        self._discount = np.ones((K, walkers))
        # One SplitMix64 stream per sample for the kernel's draws.
        self._rng_state = np.array([c[1].generate_state(1, dtype=np.uint64)[0] for c in children], dtype=np.uint64)
        self.active = np.ones(K, dtype=bool)  # samples still training
        self.stopped = np.zeros(K, dtype=bool)  # ... and those the stopping rule ended
        self.steps = np.zeros(K, dtype=np.int64)  # steps per walker each sample trained for
        self.step = 0
        self.lr_scale = config.lr_scale if config.lr_scale is not None else 1.0 - gamma
        self._prev_greedy: Optional[np.ndarray] = None
        self.last_td = 0.0
        self.episode_returns: list[float] = []
        self.policy_change = 1.0
        self.min_visits = 0
        self.allowed_changes = int(math.floor(config.policy_tol * S + 1e-9))  # a fraction policy_tol of its states
        self.vr = bool(config.vr_start > 0)
        shape = (K, S + 1, n_own) if self.vr else (0, 0, 0)
        self.ref_backup = np.zeros((K, S + 1) if self.vr else (0, 0), dtype=dtype)
        self.ref_sum = np.zeros(shape)
        self.ref_count = np.zeros(shape, dtype=np.int64)
        self._next_epoch = 0
        # Joint-action values (module docstring): every Q(s, a, o) starts at the learner's Q(s, a).
        self.joint = bool(config.joint_values)
        shape = (K, S + 1, n_own, n_other) if self.joint else (0, 0, 0, 0)
        self.qj = np.ascontiguousarray(np.broadcast_to(self.q[..., None], shape) if self.joint else np.empty(shape),
                                       dtype=dtype)
        self.jcounts = np.zeros(shape, dtype=np.int64)

    @property
    def state(self) -> np.ndarray:
        """``(K·W,)`` current joint state of every walker (sample-major)."""
        return self._state.reshape(-1)

    @property
    def epsilon(self) -> float:
        c = self.config
        return float(epsilon_at(float(self.step), c.epsilon_start, c.epsilon_end, c.epsilon_decay * c.max_steps))

    def _start_epoch(self) -> None:
        """Variance reduction: the reference is the current Q (its backup), its running mean restarts."""
        self.ref_backup[:] = self.backup
        self.ref_sum[:] = 0.0
        self.ref_count[:] = 0

    def run(self, n_steps: int) -> None:
        c = self.config
        if self.vr:
            # Epoch boundaries at vr_start · vr_growth^j steps (the same for every sample: independent of the split).
            while self.step >= self._next_epoch:
                if self._next_epoch > 0:
                    self._start_epoch()
                grown = max(self._next_epoch + 1, int(round(self._next_epoch * c.vr_growth)))
                self._next_epoch = grown if self._next_epoch > 0 else c.vr_start
        out = np.zeros(3)
        run_steps(
            self.q, self.counts, self.backup, self.rewards, self.next_rows, self.mask, self.avail, self.n_avail,
            self._other_cum, self._other_action, self.other.shared, self.active,
            self._state, self._t, self._returns, self._discount, self._rng_state,
            int(n_steps), int(self.step), float(c.epsilon_start), float(c.epsilon_end),
            float(c.epsilon_decay * c.max_steps), float(self.gamma), float(self.lr_scale), float(c.lr_omega),
            int(c.episode_length), bool(c.all_actions), out, self.slip, self.own_cdf, self.other_cdf,
            self.vr, self.ref_backup, self.ref_sum, self.ref_count, self.outcome_cdf,
            self.joint, self.qj, self.jcounts, self.other.probabilities,
        )
        self.step += int(n_steps)
        self.steps[self.active] += int(n_steps)
        updates = int(self.active.sum()) * self.walkers * n_steps * (self.n_avail.mean() if c.all_actions else 1.0)
        self.last_td = float(out[0] / max(updates, 1))
        if out[2] > 0:
            self.episode_returns.append(float(out[1] / out[2]))

    def q_table(self) -> np.ndarray:
        q = self.q[:, : self.S].astype(np.float64)
        return np.where(self.mask, q, -np.inf)

    def visit_table(self) -> np.ndarray:
        return self.counts[:, : self.S].copy()

    def check(self) -> bool:
        """Apply the stopping rule to each sample still training (see the module docstring); stopped samples
        are frozen. Returns whether every sample has stopped by the rule."""
        greedy = self.q_table().argmax(axis=-1)
        active = self.active
        if self._prev_greedy is not None:
            changes = (greedy != self._prev_greedy).sum(axis=1)
            self.policy_change = float(changes[active].mean() / self.S) if active.any() else 0.0
            settled = changes <= self.allowed_changes
        else:
            settled = np.zeros(self.K, dtype=bool)
        self._prev_greedy = greedy
        visits = np.where(self.mask, self.counts[:, : self.S], np.iinfo(np.int64).max).min(axis=(1, 2))
        self.min_visits = int(visits[active].min()) if active.any() else int(visits.min())
        done = active & settled & (visits >= self.required_visits)
        self.stopped |= done
        self.active &= ~done
        return bool(self.stopped.all())

    def stats(self) -> dict:
        returns = self.episode_returns[-50:]
        return {
            "epsilon": self.epsilon,
            "td_error_abs": self.last_td,
            "episode_return": float(np.mean(returns)) if returns else 0.0,
            "min_visits": float(self.min_visits),
            "policy_change": self.policy_change,
        }
