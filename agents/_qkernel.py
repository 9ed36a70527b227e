"""Compiled inner loop of batched tabular Q-learning (see ``multipower.agents.qlearning``).

One call advances every walker of every reward sample of a chunk by ``n_steps`` steps. Samples are independent,
so the kernel finishes sample ``k`` (its ``(S+1, n)`` Q-table stays in cache) before moving to ``k + 1``; within a
sample the walkers step in turn and each update is applied immediately (plain sequential Q-learning).

Random numbers come from a per-sample SplitMix64 stream (``rng_state[k]``), so a sample's draws depend only on its
own seed, not on how the work is scheduled or which samples share a chunk: the other agent's move is drawn only
where its policy is stochastic at that state of that sample (``other_action < 0``), and samples that have met
their stopping rule (``active[k]`` False) are skipped.

With slip (docs/concepts.md#slip, ``slip`` True) each agent's move is replaced by an effective move drawn from its
cumulative slip table (``own_cdf``, ``other_cdf`` ``(S, 5, 5)``, ``multipower.envs.model.JointModel.slip_cdf``): the
other agent's once per step, the learner's once per updated action (each update is a sample of its own
transition), the walker moving by the draw of the action taken. Without slip no such draw is made, so the
streams, and the results, are those of the deterministic kernel.

On a joint MDP graph whose joint actions have several outcomes (``multipower.envs.joint_graph.JointGraph``), the
state reached by each update is drawn from the graph's outcome probabilities (``_arrive``). A layout or a
deterministic graph has one outcome per joint action and makes no such draw.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0  # 2^-53


@njit(inline="always")
def _uniform(x):
    """SplitMix64: returns the advanced state and a uniform double in [0, 1)."""
    x = x + _GOLDEN
    z = x
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    z = z ^ (z >> _S31)
    return x, float(z >> _S11) * _INV53


@njit(inline="always")
def _step_size(n, lr_scale, lr_omega):
    """``α_n = (1 + c·n)^(-ω)`` after ``n`` earlier visits (see ``multipower.agents.qlearning``)."""
    if lr_omega == 1.0:
        return 1.0 / (1.0 + lr_scale * n)
    return (1.0 + lr_scale * n) ** (-lr_omega)


@njit(inline="always")
def _effective(cdf, s, a, u):
    """The effective move of chosen move ``a`` at ``s`` for a uniform ``u`` (inverse of the cumulative slip row)."""
    e = 0
    while e < 4 and u >= cdf[s, a, e]:
        e += 1
    return e


@njit(inline="always")
def _arrive(next_rows, outcome_cdf, base, e, x):
    """``(x, s')``: the state reached from row ``base`` by own move ``e``; on a joint graph with several outcomes
    (``outcome_cdf`` has rows) one drawn from its cumulative probabilities (``inf`` from the last possible one on),
    else the table's only outcome, with no draw."""
    if outcome_cdf.shape[0] == 0:
        return x, next_rows[base, e, 0]
    x, u = _uniform(x)
    j = 0
    while u >= outcome_cdf[base, e, j]:
        j += 1
    return x, next_rows[base, e, j]


@njit(inline="always")
def _joint_update(q, qj, jcounts, other_prob, k, s, b, o, row, target, lr_scale, lr_omega):
    """Joint-action update of ``qj[k, s, b, o]`` toward ``target``; ``q[k, s, b]``, its expectation over the other
    agent's policy ``other_prob[row]``, moves by ``other_prob[row, o]`` times the same step (one product, not a
    sum over the other agent's moves). Returns ``|TD|``."""
    delta = target - qj[k, s, b, o]
    step = _step_size(jcounts[k, s, b, o], lr_scale, lr_omega) * delta
    qj[k, s, b, o] += step
    jcounts[k, s, b, o] += 1
    q[k, s, b] += other_prob[row, o] * step
    return abs(delta)


@njit(cache=True)
def epsilon_at(step, eps_start, eps_end, eps_horizon):
    """ε after ``step`` steps: linear from ``eps_start`` to ``eps_end`` over ``eps_horizon`` steps, then flat."""
    frac = 1.0 if eps_horizon <= 0.0 else min(1.0, step / eps_horizon)
    return eps_start + frac * (eps_end - eps_start)


@njit(cache=True, nogil=True)
def run_steps(
    q, counts, backup, rewards, next_rows, mask, avail, n_avail,
    other_cum, other_action, shared, active,
    state, t, returns, discount, rng_state,
    n_steps, step0, eps_start, eps_end, eps_horizon,
    gamma, lr_scale, lr_omega, episode_length, all_actions, out,
    slip, own_cdf, other_cdf, vr, ref_backup, ref_sum, ref_count, outcome_cdf,
    joint, qj, jcounts, other_prob,
):
    """Advance all walkers ``n_steps`` steps; ``out`` accumulates ``[Σ|TD|, Σ episode return, episodes]``.

    Shapes (``n`` action slots per agent: 5 on a layout): ``q``, ``counts`` ``(K, S+1, n)``; ``backup``, ``rewards``
    ``(K, S+1)`` (row ``S`` is the absorbing terminal: reward 0, backup 0); ``next_rows`` ``(S·n, n, J)``: the
    ``J`` possible ``s'`` for ``(s, other)`` and
    each own action, ``outcome_cdf`` the same shape (their cumulative probabilities, drawn by ``_arrive``) or
    ``(0, 0, 0)`` where each has one (a layout, a deterministic joint graph);
    ``mask`` ``(S, n)``; ``avail`` ``(S, n)`` available actions packed left, ``n_avail`` ``(S,)``;
    ``other_cum``/``other_action``: cumulative probabilities / deterministic action (``-1`` where the policy is
    stochastic) of the other agent, per state (``shared``) or per ``k·S + s``; ``active`` ``(K,)``: samples
    still training; ``state``, ``t``, ``returns``, ``discount`` ``(K, W)``; ``slip``, ``own_cdf``, ``other_cdf``:
    see the module docstring (the tables may be empty without slip); ``vr``: variance-reduced targets with the
    reference backups ``ref_backup`` ``(K, S+1)`` and the running sums and counts of the reference targets
    ``ref_sum``, ``ref_count`` ``(K, S+1, n)`` (``multipower.agents.qlearning``; empty when off); ``joint``:
    joint-action values ``qj`` and their counts ``jcounts`` ``(K, S+1, n, n_other)``, indexed by the other agent's
    chosen move, with ``q[k, s, b] = Σ_o other_prob[row, o] · qj[k, s, b, o]`` kept in step (empty when off).
    """
    K, W = state.shape
    n_own, n_other = q.shape[2], other_cum.shape[1]  # action slots: 5 on a layout, a joint graph's own otherwise
    S = next_rows.shape[0] // n_other
    target = np.empty(n_own)
    reached = np.empty(n_own, dtype=np.int64)
    td_sum = 0.0
    ep_sum = 0.0
    ep_count = 0.0
    for k in range(K):
        if not active[k]:
            continue
        x = rng_state[k]
        for i in range(n_steps):
            eps = epsilon_at(step0 + i, eps_start, eps_end, eps_horizon)
            for w in range(W):
                s = state[k, w]
                row = s if shared else k * S + s
                # The other agent's move, sampled from its fixed policy (a generative model, never an expectation).
                o = other_action[row]
                if o < 0:
                    x, u = _uniform(x)
                    o = 0
                    while o < n_other - 1 and u >= other_cum[row, o]:
                        o += 1
                chosen = o  # joint-action values are indexed by the move the other agent chose
                if slip:
                    x, u = _uniform(x)
                    o = _effective(other_cdf, s, o, u)
                base = s * n_other + o
                # ε-greedy action of the learner.
                x, u = _uniform(x)
                if u < eps:
                    x, u = _uniform(x)
                    a = avail[s, int(u * n_avail[s])]
                else:
                    a = 0
                    best = q[k, s, 0]
                    for b in range(1, n_own):
                        if q[k, s, b] > best:
                            best = q[k, s, b]
                            a = b
                # Q-learning update(s) on the sampled transition(s) s' = next_state[s, b, o].
                if all_actions:
                    for b in range(n_own):
                        if mask[s, b]:
                            e = b
                            if slip:
                                x, u = _uniform(x)
                                e = _effective(own_cdf, s, b, u)
                            x, reached[b] = _arrive(next_rows, outcome_cdf, base, e, x)
                            target[b] = backup[k, reached[b]]
                            if vr:
                                # Recentred target: T̂Q − T̂Q̄ + (running mean of T̂Q̄), all on sampled s'.
                                ref = ref_backup[k, reached[b]]
                                ref_sum[k, s, b] += ref
                                ref_count[k, s, b] += 1
                                target[b] += ref_sum[k, s, b] / ref_count[k, s, b] - ref
                    for b in range(n_own):
                        if mask[s, b]:
                            if joint:
                                td_sum += _joint_update(q, qj, jcounts, other_prob, k, s, b, chosen, row,
                                                        target[b], lr_scale, lr_omega)
                                counts[k, s, b] += 1
                                continue
                            delta = target[b] - q[k, s, b]
                            td_sum += abs(delta)
                            q[k, s, b] += _step_size(counts[k, s, b], lr_scale, lr_omega) * delta
                            counts[k, s, b] += 1
                else:
                    e = a
                    if slip:
                        x, u = _uniform(x)
                        e = _effective(own_cdf, s, a, u)
                    x, reached[a] = _arrive(next_rows, outcome_cdf, base, e, x)
                    tgt = backup[k, reached[a]]
                    if vr:
                        ref = ref_backup[k, reached[a]]
                        ref_sum[k, s, a] += ref
                        ref_count[k, s, a] += 1
                        tgt += ref_sum[k, s, a] / ref_count[k, s, a] - ref
                    if joint:
                        td_sum += _joint_update(q, qj, jcounts, other_prob, k, s, a, chosen, row, tgt,
                                                lr_scale, lr_omega)
                    else:
                        delta = tgt - q[k, s, a]
                        td_sum += abs(delta)
                        q[k, s, a] += _step_size(counts[k, s, a], lr_scale, lr_omega) * delta
                    counts[k, s, a] += 1
                value = q[k, s, 0]
                for b in range(1, n_own):
                    if q[k, s, b] > value:
                        value = q[k, s, b]
                backup[k, s] = rewards[k, s] + gamma * value
                # Move by the rules of multipower.envs.dynamics.joint_step, restated here because a numba kernel cannot call
                # it (it is plain Python written for numpy and torch arrays, and ``~`` on a scalar bool is an
                # integer in compiled code). The tables are the same: ``next_rows`` is the model's next_state,
                # ``rewards`` its padded_rewards; reward on arrival, a crash (s' = S) terminates, reaching
                # ``episode_length`` steps truncates (tests/test_steppers.py holds the two to one another).
                s2 = reached[a]
                returns[k, w] += discount[k, w] * rewards[k, s2]
                discount[k, w] *= gamma
                t[k, w] += 1
                if s2 == S or t[k, w] >= episode_length:
                    ep_sum += returns[k, w]
                    ep_count += 1.0
                    returns[k, w] = 0.0
                    discount[k, w] = 1.0
                    t[k, w] = 0
                    x, u = _uniform(x)
                    s2 = min(int(u * S), S - 1)
                state[k, w] = s2
        rng_state[k] = x
    out[0] += td_sum
    out[1] += ep_sum
    out[2] += ep_count
