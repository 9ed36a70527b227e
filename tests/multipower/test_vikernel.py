"""The compiled kernels' exact pieces, against dense linear algebra."""

import numpy as np
import pytest

from multipower.exact import _vikernel


@pytest.mark.parametrize("gamma", [0.1, 0.6, 0.99, 0.999])
def test_evaluate_chain_solves_the_linear_system(gamma):
    """Random functional graphs (cycles, self-loops, paths into the terminal ``S``): ``V = R + γ V[f]``."""
    rng = np.random.default_rng(int(gamma * 1000))
    for trial in range(200):
        S = int(rng.integers(1, 30))
        f = rng.integers(0, S + (trial % 2), S)  # odd trials may lead into the terminal
        R = rng.random(S)
        out = np.empty(S)
        _vikernel.evaluate_chain(f, R, gamma, out)
        P = np.zeros((S, S + 1))
        P[np.arange(S), f] = 1.0
        expected = np.linalg.solve(np.eye(S) - gamma * P[:, :S], R)
        np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12 / (1 - gamma))


def test_policy_iteration_is_the_bellman_fixed_point():
    """Deterministic dynamics: the result satisfies ``V = R + γ max_a V[next[s, a]]`` over available actions."""
    rng = np.random.default_rng(3)
    S, gamma = 40, 0.9
    nxt = rng.integers(0, S + 1, (S, 5))
    mask = rng.random((S, 5)) < 0.7
    mask[:, 0] = True
    R = rng.random(S)
    out = np.empty(S)
    _vikernel.policy_iteration(nxt, R, gamma, mask, out)
    V = np.append(out, 0.0)
    backup = R + gamma * np.where(mask, V[nxt], -np.inf).max(1)
    np.testing.assert_allclose(out, backup, rtol=0, atol=1e-12)


def test_greedy_changes_counts_new_first_maxima_of_available_actions():
    from multipower.exact import _vikernel
    from multipower.exact.solver import POLICY_RESET, POLICY_RESET_FRACTION

    # the compiled and torch code restart Anderson alike
    assert (_vikernel.POLICY_RESET, _vikernel.POLICY_RESET_FRACTION) == (POLICY_RESET, POLICY_RESET_FRACTION)
    rng = np.random.default_rng(0)
    S = 50
    E = rng.integers(0, 3, size=(5, S)).astype(float)  # many exact ties: the first maximum must win
    mask = rng.random((S, 5)) < 0.7
    mask[:, 0] = True
    expected = np.where(mask.T, E, -np.inf).argmax(0)
    greedy = np.full(S, -1, dtype=np.int64)
    assert _vikernel._greedy_changes(E, mask, greedy) == S
    np.testing.assert_array_equal(greedy, expected)
    greedy[:7] = (greedy[:7] + 1) % 5
    assert _vikernel._greedy_changes(E, mask, greedy) == 7
    np.testing.assert_array_equal(greedy, expected)


def test_solve_chain_takes_a_factor_per_state():
    """``out = r + factor · out[f]`` (the preconditioner's chain): random graphs and factors, against dense."""
    rng = np.random.default_rng(11)
    for trial in range(200):
        S = int(rng.integers(1, 30))
        f = rng.integers(0, S + (trial % 2), S)
        factor = 0.999 * rng.random(S)
        r = rng.normal(size=S)
        out = np.empty(S)
        scratch = (np.empty(S, dtype=np.int8), np.empty(S, dtype=np.int64), np.empty(S, dtype=np.int64))
        _vikernel._solve_chain(f, factor, r, out, *scratch)
        F = np.zeros((S, S + 1))
        F[np.arange(S), f] = factor
        np.testing.assert_allclose(out, np.linalg.solve(np.eye(S) - F[:, :S], r), rtol=0, atol=1e-9)


def _response_problem(collision, n_samples=6):
    """Stage 2 with slip 0.1 on maze7x7 at γ = 0.99: A against a random deterministic H, as the kernel sees it."""
    from multipower.envs.model import joint_model
    from multipower.exact.solver import _slip_split

    model = joint_model("maze7x7", collision, 0.1)
    rng = np.random.default_rng(4)
    split_H = _slip_split(model.slip_of("H"), model.action_mask_H)
    split_A = _slip_split(model.slip_of("A"), model.action_mask_A)
    choice = np.where(model.action_mask_H, rng.random(model.action_mask_H.shape), -1.0).argmax(1)
    pol_H = np.eye(5)[choice]
    eff_H = np.empty_like(pol_H)
    _vikernel._effective(pol_H, split_H, model.action_mask_H, eff_H)
    idx, w = _vikernel.other_agent_tables(np.ascontiguousarray(model.next_state.transpose(0, 2, 1)), eff_H)
    return model, idx, w, _vikernel._counts(w), split_A, rng.random((n_samples, model.n_states))


def _solve(model, idx, w, count, split, R, control, precondition):
    from multipower.exact.solver import ANDERSON_REG, ANDERSON_RESET, POWER_TOL

    S = model.n_states
    V, W, Q, pol = np.empty(S), np.empty(S), np.empty((5, S)), np.empty((5, S))
    act = np.empty(S, np.int64)
    sweeps, det = _vikernel.iterate(idx, w, np.empty((0, 1), np.int64), np.empty((0, 1)), R, 0.99, R.copy(),
                                    model.action_mask_A, control, model.collision == "crash", POWER_TOL,
                                    _vikernel._tie_tol(R, 0.99, 1e-9), 100_000, 5, ANDERSON_RESET, ANDERSON_REG, V,
                                    Q, pol, W, split, count, precondition, act,
                                    np.empty((0, 2), np.int64), np.empty((5, 0)))
    assert sweeps > 0
    if control:  # the first certified action and determinism, as read off the policy
        np.testing.assert_array_equal(act, pol.argmax(0))
        assert det == bool((pol.max(0) == 1.0).all())
    return V, pol, sweeps


@pytest.mark.parametrize("collision", ["none", "crash"])
def test_preconditioned_iteration_certifies_the_plain_solution_in_fewer_sweeps(collision):
    """Preconditioning (and its fallback to plain steps, forced after one sweep without progress) changes how the
    iterates move, not what is certified: the same policies, values within both certificates, and (the point of
    it) under half the sweeps on this problem."""
    from multipower.exact.solver import POWER_TOL

    model, idx, w, count, split, rewards = _response_problem(collision)
    bound = 2 * 0.99 / 0.01 * POWER_TOL  # |V - V*| <= γ/(1 - γ)·power_tol for each result
    sweeps = {0: [], 1: [], _vikernel.PRECONDITION_STALL: []}
    for R in rewards:
        V0, pol0, n0 = _solve(model, idx, w, count, split, R, True, 0)
        sweeps[0].append(n0)
        for stall in (1, _vikernel.PRECONDITION_STALL):
            V, pol, n = _solve(model, idx, w, count, split, R, True, stall)
            np.testing.assert_array_equal(pol, pol0)
            np.testing.assert_allclose(V, V0, rtol=0, atol=bound)
            sweeps[stall].append(n)
    assert np.mean(sweeps[_vikernel.PRECONDITION_STALL]) < 0.5 * np.mean(sweeps[0]), sweeps


def test_preconditioned_policy_evaluation_matches_a_linear_solve():
    """Evaluation (one slot, no slip weights: the joint effective-move table) against ``numpy.linalg.solve``."""
    from multipower.exact.solver import POWER_TOL

    model, idx, w, count, split, rewards = _response_problem("crash", n_samples=2)
    S = model.n_states
    pol_A = np.eye(5)[np.where(model.action_mask_A, np.arange(5)[::-1], -1).argmax(1)]  # last available move
    eff_A = np.empty_like(pol_A)
    _vikernel._effective(pol_A, split, model.action_mask_A, eff_A)
    eval_idx, eval_w = _vikernel.joint_tables(model.next_state, np.full((S, 5), 0.2) * model.action_mask_H
                                              / model.action_mask_H.sum(1, keepdims=True) * 5, eff_A)
    P = np.zeros((S, S + 1))
    for j in range(eval_w.shape[2]):
        np.add.at(P, (np.arange(S), eval_idx[0, :, j]), eval_w[0, :, j])
    for R in rewards:
        V, _, _ = _solve(model, eval_idx, eval_w, _vikernel._counts(eval_w), np.empty((0, 2)), R, False,
                         _vikernel.PRECONDITION_STALL)
        expected = np.linalg.solve(np.eye(S) - 0.99 * P[:, :S], R)
        np.testing.assert_allclose(V, expected, rtol=0, atol=0.99 / 0.01 * POWER_TOL)


@pytest.mark.parametrize("slip", [0.0, 0.1])
def test_a_stage_that_does_not_converge_stops_its_sample_and_raises(monkeypatch, slip):
    """A stage cut off by ``MAX_SWEEPS`` leaves no policy: the later stages must not read one (they did, and
    indexed the next-state table with uninitialised actions), and the solve raises naming the discount."""
    from multipower.envs.model import joint_model
    from multipower.envs.problem import TwoStageProblem
    from multipower.exact import solver

    model = joint_model("maze7x7", "crash", slip=slip)
    R = np.random.default_rng(0).random((3, model.n_states))
    monkeypatch.setattr(solver, "MAX_SWEEPS", 2)
    with pytest.raises(solver.NotConverged):
        solver.solve_pairs(TwoStageProblem(model, R, R[::-1].copy(), 0.99), values_only=True)


@pytest.mark.parametrize("layout, collision", [("maze7x7", "none"), ("robot_face20x20", "crash")])
def test_sweeping_by_runs_is_the_gather_bit_for_bit(layout, collision):
    """Stage 1's factored table read in runs of consecutive successors (``_sweep_runs``): the same values, greedy
    actions and changes as the per-state gather, and whole solves (γ = 0.1 plain, γ = 0.99 with Anderson)
    identical with and without runs."""
    from multipower.envs.model import joint_model
    from multipower.exact import solver
    from multipower.exact.solver import ANDERSON_REG, ANDERSON_RESET, POWER_TOL

    model = joint_model(layout, collision)
    S = model.n_states
    pre_idx, pre_w, idx, runs = solver._factored_tables(model, _vikernel_uniform(model))
    assert len(runs) > 0 and runs[0, 0] == 0 and runs[:, 1].sum() == S
    np.testing.assert_array_equal(runs[1:, 0], np.cumsum(runs[:, 1])[:-1])  # consecutive, in state order
    for s0, n in runs:
        assert (np.diff(idx[:, s0:s0 + n, 0], axis=1) == 1).all()
    rng = np.random.default_rng(5)
    V, R = np.append(rng.random(S), 0.0), rng.random(S)
    M = np.empty(len(pre_idx))
    _vikernel._average(pre_idx, pre_w, V, M)
    want = [np.empty((5, S)), np.empty(S), np.empty(S), np.full(S, -1, np.int64)]
    got = [np.empty((5, S)), np.empty(S), np.empty(S), np.full(S, -1, np.int64)]
    span = _vikernel._sweep_unit(idx, M, V, R, 0.9, want[0], want[1], want[2], model.action_mask_H, want[3])
    assert _vikernel._sweep_runs(idx, runs, M, V, R, 0.9, got[1], got[2], got[3]) == span
    _vikernel._fill_runs(idx, runs, M, got[0])
    for a, b in zip(want, got):
        np.testing.assert_array_equal(a, b)
    penalty = _vikernel._penalty(model.action_mask_H)
    for threshold in (0.0, 1e-3, 0.05):  # the certificate's check, read from the runs or from E
        act, act_runs = np.empty(S, np.int64), np.empty(S, np.int64)
        found = _vikernel._ambiguous_state(got[0], penalty, threshold, 7, act)
        assert _vikernel._ambiguous_runs(idx, runs, M, penalty, threshold, 7, act_runs) == found
        if found < 0:
            np.testing.assert_array_equal(act, act_runs)
    no_runs = np.empty((0, 2), np.int64)
    for gamma in (0.1, 0.99):
        outs = []
        # With runs and the certificate's penalty made by the caller; without, and made when first needed.
        for with_runs, penalty in ((runs, _vikernel._penalty(model.action_mask_H)), (no_runs, np.empty((5, 0)))):
            out = [np.empty(S), np.empty((5, S)), np.empty((5, S)), np.empty(S), np.empty(S, np.int64)]
            n = _vikernel.iterate(idx, _vikernel._unit_weights(), pre_idx, pre_w, R, gamma, R, model.action_mask_H, True,
                                  collision == "crash", POWER_TOL, _vikernel._tie_tol(R, gamma, 1e-9), 100_000,
                                  5 if gamma > 0.9 else 0, ANDERSON_RESET, ANDERSON_REG, out[0], out[1], out[2],
                                  out[3], np.empty((0, 2)), np.empty((0, 0), np.int64), 0, out[4], with_runs,
                                  penalty)
            outs.append((n, out))
        assert outs[0][0] == outs[1][0] and outs[0][0][0] > 0
        for a, b in zip(outs[0][1], outs[1][1]):
            np.testing.assert_array_equal(a, b)


def test_the_certificate_check_finds_near_ties_among_available_actions():
    """``_ambiguous_state`` against numpy: a state is ambiguous when two available actions are within the threshold
    of the best available one (unavailable actions never count, whatever their value); it returns the hint if
    that is ambiguous, else the first such state, and without one, each state's first near action."""
    rng = np.random.default_rng(8)
    S = 3000
    mask = rng.random((S, 5)) < 0.6
    mask[:, 0] = True
    penalty = _vikernel._penalty(mask)
    for trial in range(40):
        E = rng.random((5, S))
        E[:, rng.random(S) < 0.5] = 0.25 + rng.random(5)[:, None] * 1e-3  # near ties at some states
        E[1:, 5] = E[0, 5] + 1.0  # only unavailable ones can beat stay there
        mask[5] = [True, False, False, False, False]
        penalty = _vikernel._penalty(mask)
        threshold = [0.0, 1e-5, 1e-3, 0.5][trial % 4]
        masked = np.where(mask.T, E, -np.inf)
        near = masked >= masked.max(0) - threshold
        ambiguous = np.flatnonzero(near.sum(0) > 1)
        hint = int(rng.integers(-1, S))
        act = np.full(S, -1, np.int64)
        got = _vikernel._ambiguous_state(E, penalty, threshold, hint, act)
        if hint in ambiguous:
            assert got == hint
        elif len(ambiguous):
            assert got == ambiguous[0]
        else:
            assert got == -1
            np.testing.assert_array_equal(act, near.argmax(0))


def _vikernel_uniform(model):
    from multipower.envs.policies import uniform_policy

    return uniform_policy(model.action_mask_A)
