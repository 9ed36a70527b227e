"""Slip (docs/concepts.md#slip) in the exact solvers, against an independent dense computation.

The brute force builds the full transition tensor ``T[s, aH, aA, s']`` over joint states (plus the crash terminal)
from the slip rule written out here (``1 − p + p/k`` for the chosen move, ``p/k`` for each other available one),
finds optimal values by value iteration run to float64 convergence, breaks ties by the rule of
docs/concepts.md#optimal-policies-and-ties, and evaluates policies with ``numpy.linalg.solve``.
"""

import json
import math

import numpy as np
import pytest

from multipower.envs.layouts import parse_layout
from multipower.envs.model import joint_model, single_agent_model
from multipower.envs.policies import uniform_policy
from multipower.exact.power import exact_power
from multipower.exact.single import single_agent_power
from multipower.exact.solver import POWER_TOL, evaluate_policies, optimal_response, solve_pairs, solve_single
from multipower.runs.spec import RunSpec, SpecError, load_spec, save_spec
from multipower.envs.problem import TwoStageProblem
from multipower.runs.execution import Execution
from multipower.envs.rewards import RewardDraws

#: A small layout with a dead end, corridors and a junction: (1, 0) and (1, 2) hang below the top row.
LAYOUT = parse_layout("....\n.#.#", name="small")
GAMMA_H, GAMMA_A = 0.9, 0.6  # H runs the Anderson-accelerated path, A the plain one
K = 4


def slip_probs(mask, p):
    """``(S, 5, 5)`` chosen -> effective move probabilities from the rule itself (unavailable chosen: stay)."""
    S = len(mask)
    k = mask.sum(1)
    P = np.zeros((S, 5, 5))
    for s in range(S):
        for a in range(5):
            chosen = a if mask[s, a] else 0
            for e in range(5):
                if mask[s, e]:
                    P[s, a, e] = (1 - p) * (e == chosen) + p / k[s]
    return P


def joint_tensor(model, p):
    """Dense ``T[s, aH, aA, s']`` over ``S + 1`` states (the last one the crash terminal, absorbing at 0)."""
    S = model.n_states
    PH, PA = slip_probs(model.action_mask_H, p), slip_probs(model.action_mask_A, p)
    T = np.zeros((S, 5, 5, S + 1))
    for s in range(S):
        for eH in range(5):
            for eA in range(5):
                T[s, :, :, model.next_state[s, eH, eA]] += PH[s, :, eH, None] * PA[s, None, :, eA]
    return T[..., :S]  # the terminal's value is 0: its column drops out


def optimal(T_own, R, gamma, mask):
    """Value iteration on ``T_own`` ``(S, 5, S)`` to float64 convergence; the policy uniform over near-ties."""
    V = R.copy()
    for _ in range(int(math.log(1e-17) / math.log(gamma)) + 10):
        V = R + gamma * np.where(mask, T_own @ V, -np.inf).max(1)
    E = np.where(mask, T_own @ V, -np.inf)
    ties = E >= E.max(1, keepdims=True) - 1e-9 * np.abs(R).max() / (1 - gamma)
    return V, ties / ties.sum(1, keepdims=True)


def evaluate(T, pol_H, pol_A, R, gamma):
    P = np.einsum("sabt,sa,sb->st", T, pol_H, pol_A)
    return np.linalg.solve(np.eye(len(R)) - gamma * P, R)


def brute_pairs(model, p, R_H, R_A, seed, gammas=(GAMMA_H, GAMMA_A)):
    GAMMA_H, GAMMA_A = gammas  # noqa: N806  (the module's discounts unless given)
    T = joint_tensor(model, p)
    out = {key: [] for key in ("policy_H", "policy_A", "power_H", "power_A", "power_H_seed", "power_A_seed")}
    power = lambda V, R, g: (1 - g) / g * (V - R)  # noqa: E731
    for rh, ra in zip(R_H, R_A):
        V_H_seed, pol_H = optimal(np.einsum("sabt,sb->sat", T, seed), rh, GAMMA_H, model.action_mask_H)
        _, pol_A = optimal(np.einsum("sabt,sa->sbt", T, pol_H), ra, GAMMA_A, model.action_mask_A)
        out["policy_H"].append(pol_H)
        out["policy_A"].append(pol_A)
        out["power_H"].append(power(evaluate(T, pol_H, pol_A, rh, GAMMA_H), rh, GAMMA_H))
        out["power_A"].append(power(evaluate(T, pol_H, pol_A, ra, GAMMA_A), ra, GAMMA_A))
        out["power_H_seed"].append(power(V_H_seed, rh, GAMMA_H))
        out["power_A_seed"].append(power(evaluate(T, pol_H, seed, ra, GAMMA_A), ra, GAMMA_A))
    return {key: np.array(value) for key, value in out.items()}


def rewards(n_states, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((K, n_states)), rng.random((K, n_states))


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "torch"])
@pytest.mark.parametrize("p", [0.1, 0.5, 1.0])
@pytest.mark.parametrize("collision", ["none", "crash", "bounce"])
def test_joint_power_matches_brute_force(collision, p, compiled):
    model = joint_model(LAYOUT, collision, p)
    R_H, R_A = rewards(model.n_states)
    seed = uniform_policy(model.action_mask_A)
    sol = solve_pairs(TwoStageProblem(model, R_H, R_A, GAMMA_H, GAMMA_A), compiled=compiled)
    brute = brute_pairs(model, p, R_H, R_A, seed)
    np.testing.assert_array_equal(sol.policy_H, brute["policy_H"])
    np.testing.assert_array_equal(sol.policy_A, brute["policy_A"])
    for name, W, g in (("power_H", sol.W_H, GAMMA_H), ("power_A", sol.W_A, GAMMA_A),
                       ("power_H_seed", sol.W_H_seed, GAMMA_H), ("power_A_seed", sol.W_A_seed, GAMMA_A)):
        np.testing.assert_allclose((1 - g) * W, brute[name], atol=POWER_TOL + 1e-12, rtol=0, err_msg=name)


@pytest.mark.parametrize("collision", ["none", "crash"])
def test_preconditioned_stages_match_brute_force_at_high_discount(collision):
    """At γ = 0.99 the compiled stages 2 and 3 iterate preconditioned by the chain of most likely moves
    (multipower.exact._vikernel) with Anderson acceleration: still the brute force's policies and POWER."""
    model = joint_model("grid3x3", collision, 0.1)
    R_H, R_A = rewards(model.n_states, seed=5)
    sol = solve_pairs(TwoStageProblem(model, R_H, R_A, 0.99, 0.99), compiled=True)
    brute = brute_pairs(model, 0.1, R_H, R_A, uniform_policy(model.action_mask_A), gammas=(0.99, 0.99))
    np.testing.assert_array_equal(sol.policy_H, brute["policy_H"])
    np.testing.assert_array_equal(sol.policy_A, brute["policy_A"])
    for name, W in (("power_H", sol.W_H), ("power_A", sol.W_A), ("power_H_seed", sol.W_H_seed),
                    ("power_A_seed", sol.W_A_seed)):
        np.testing.assert_allclose(0.01 * W, brute[name], atol=POWER_TOL + 1e-12, rtol=0, err_msg=name)


@pytest.mark.parametrize("gamma", [0.6, 0.99])  # plain preconditioned steps, and with Anderson acceleration
def test_optimal_response_with_slip_is_stage_two(gamma):
    """``optimal_response`` (preconditioned like stage 2) to frozen H is the two-stage solve's A, and its action
    values are the brute force's backup of the brute force's values."""
    model = joint_model("grid3x3", "crash", 0.2)
    R_H, R_A = rewards(model.n_states, seed=7)
    sol = solve_pairs(TwoStageProblem(model, R_H, R_A, gamma, gamma))
    V, Q = optimal_response(model, R_A, gamma, "A", sol.policy_H)
    bound = gamma / (1 - gamma) * POWER_TOL
    np.testing.assert_allclose(V, sol.V_A, atol=2 * bound, rtol=0)
    T = joint_tensor(model, 0.2)
    for k in range(K):
        V_brute, _ = optimal(np.einsum("sabt,sa->sbt", T, sol.policy_H[k]), R_A[k], gamma, model.action_mask_A)
        np.testing.assert_allclose(V[k], V_brute, atol=bound + 1e-9, rtol=0)
        backup = R_A[k][:, None] + gamma * np.einsum("sabt,sa,t->sb", T, sol.policy_H[k], V_brute)
        mask = model.action_mask_A
        np.testing.assert_allclose(Q[k][mask], backup[mask], atol=2 * bound + 1e-9, rtol=0)


@pytest.mark.parametrize("p", [0.1, 0.5, 1.0])
def test_slip_split_is_the_rule_and_refuses_other_matrices(p):
    """The compiled kernels' two weights per state rebuild every available row of the rule written out here."""
    from multipower.exact.solver import _slip_split

    model = joint_model("maze7x7", "crash", p)
    for agent in ("H", "A"):
        mask = model.action_mask(agent)
        split = _slip_split(model.slip_of(agent), mask)
        rows = split[:, :1, None] * np.eye(5) + split[:, 1:, None] * mask[:, None, :]
        np.testing.assert_allclose(np.where(mask[:, :, None], rows, 0.0),
                                   np.where(mask[:, :, None], slip_probs(mask, p), 0.0), rtol=0, atol=1e-15)
    P = model.slip_of("H").copy()
    P[:, 1:, :] = np.roll(P[:, 1:, :], 1, axis=2)  # a different noise rule on the moves
    with pytest.raises(ValueError, match="slip matrices"):
        _slip_split(P, model.action_mask_H)


@pytest.mark.parametrize("seed_policy", ["stay", "table"])
def test_other_seed_policies_match_brute_force(seed_policy):
    """The stay seed (factored path) and a table over joint states (plain gather) slip like any policy."""
    model = joint_model(LAYOUT, "crash", 0.3)
    R_H, R_A = rewards(model.n_states, seed=1)
    if seed_policy == "stay":
        seed = np.zeros((model.n_states, 5))
        seed[:, 0] = 1.0
    else:
        seed = np.random.default_rng(2).random((model.n_states, 5)) * model.action_mask_A
        seed /= seed.sum(1, keepdims=True)
    sol = solve_pairs(
        TwoStageProblem(model, R_H, R_A, GAMMA_H, GAMMA_A, seed_policy=seed_policy if seed_policy == "stay" else seed)
    )
    brute = brute_pairs(model, 0.3, R_H, R_A, seed)
    np.testing.assert_array_equal(sol.policy_A, brute["policy_A"])
    np.testing.assert_allclose((1 - GAMMA_A) * sol.W_A_seed, brute["power_A_seed"], atol=POWER_TOL, rtol=0)
    np.testing.assert_allclose((1 - GAMMA_H) * sol.W_H, brute["power_H"], atol=POWER_TOL, rtol=0)


@pytest.mark.parametrize("p", [0.2, 1.0])
def test_single_agent_power_matches_brute_force(p):
    model = single_agent_model(LAYOUT, p)
    R = np.random.default_rng(3).random((K, model.n_states))
    P = slip_probs(model.action_mask, p)
    T = np.zeros((model.n_states, 5, model.n_states))
    for e in range(5):
        T[np.arange(model.n_states), :, model.next_cell[:, e]] += P[:, :, e]
    sol = solve_single(model, R, 0.95)
    for k in range(K):
        V, pol = optimal(T, R[k], 0.95, model.action_mask)
        np.testing.assert_array_equal(sol.policy[k], pol)
        np.testing.assert_allclose(0.05 * sol.W[k], 0.05 / 0.95 * (V - R[k]), atol=POWER_TOL, rtol=0)


def test_policy_evaluation_matches_linear_solve():
    model = joint_model(LAYOUT, "bounce", 0.4)
    R_H, R_A = rewards(model.n_states, seed=4)
    rng = np.random.default_rng(5)
    pol_H = rng.random((model.n_states, 5)) * model.action_mask_H
    pol_A = rng.random((model.n_states, 5)) * model.action_mask_A
    pol_H, pol_A = pol_H / pol_H.sum(1, keepdims=True), pol_A / pol_A.sum(1, keepdims=True)
    V_H, _ = evaluate_policies(TwoStageProblem(model, R_H, R_A, 0.8, 0.8), pol_H, pol_A)
    T = joint_tensor(model, 0.4)
    for k in range(K):
        np.testing.assert_allclose(V_H[k], evaluate(T, pol_H, pol_A, R_H[k], 0.8), atol=POWER_TOL * 4, rtol=0)


def test_slip_one_makes_power_independent_of_the_policy():
    # Hand check: two cells, each with stay and one move. At p = 1 the next cell is uniform over both whatever is
    # chosen, so V0 + V1 = (R0 + R1) / (1 − γ) and POWER(s) = (1 − γ)·(V0 + V1)/2 = (R0 + R1)/2 at both cells.
    model = single_agent_model(parse_layout("..", name="pair"), 1.0)
    R = np.array([[0.2, 0.9], [0.7, 0.1]])
    sol = solve_single(model, R, 0.5)
    np.testing.assert_allclose(0.5 * sol.W, np.repeat(R.mean(1, keepdims=True), 2, 1), atol=POWER_TOL)
    both_tie = np.array([[0.5, 0, 0, 0, 0.5], [0.5, 0, 0, 0.5, 0]])  # stay and the one move, at each cell
    np.testing.assert_array_equal(sol.policy, np.broadcast_to(both_tie, (2, 2, 5)))
    # Joint: what either agent chooses changes nothing, so the optimised values equal the seed values.
    joint = joint_model(LAYOUT, "crash", 1.0)
    R_H, R_A = rewards(joint.n_states, seed=6)
    pairs = solve_pairs(TwoStageProblem(joint, R_H, R_A, GAMMA_H, GAMMA_A))
    np.testing.assert_allclose(pairs.W_H, pairs.W_H_seed, atol=2 * POWER_TOL / (1 - GAMMA_H))
    np.testing.assert_allclose(pairs.W_A, pairs.W_A_seed, atol=2 * POWER_TOL / (1 - GAMMA_A))
    uniform = uniform_policy(joint.action_mask_H)
    np.testing.assert_array_equal(pairs.policy_H, np.broadcast_to(uniform, pairs.policy_H.shape))


@pytest.mark.parametrize("collision", ["none", "crash", "bounce"])
def test_slip_zero_is_the_deterministic_world_bit_for_bit(collision):
    det = exact_power(
        RunSpec(layout="grid3x3", gamma_H=0.95, n_samples=6, collision=collision), execution=Execution(progress=False)
    )
    zero = exact_power(
        RunSpec(layout="grid3x3", gamma_H=0.95, n_samples=6, collision=collision, slip=0.0),
        execution=Execution(progress=False),
    )
    for name in det.arrays:
        np.testing.assert_array_equal(det.arrays[name], zero.arrays[name])
    # A vanishing slip runs the stochastic code path and lands on the deterministic values.
    tiny = exact_power(
        RunSpec(layout="grid3x3", gamma_H=0.95, n_samples=6, collision=collision, slip=1e-12),
        execution=Execution(progress=False),
    )
    for name in ("power_H", "power_A", "power_H_seed", "power_A_seed"):
        np.testing.assert_allclose(tiny.arrays[name], det.arrays[name], atol=2 * POWER_TOL, rtol=0)


def test_single_agent_power_takes_slip():
    det = single_agent_power(LAYOUT, 0.9, rewards=RewardDraws(n_samples=20), execution=Execution(progress=False))
    zero = single_agent_power(
        LAYOUT, 0.9, rewards=RewardDraws(n_samples=20), slip=0.0, execution=Execution(progress=False)
    )
    np.testing.assert_array_equal(det.arrays["power"], zero.arrays["power"])
    slipped = single_agent_power(
        LAYOUT, 0.9, rewards=RewardDraws(n_samples=20), slip=0.5, execution=Execution(progress=False)
    )
    assert slipped.config["slip"] == 0.5
    assert (slipped.arrays["power"] < det.arrays["power"]).all()  # noise only costs an optimal agent


def test_minus_zero_slip_is_zero():
    from multipower.envs.slip import check_slip

    assert math.copysign(1.0, check_slip(-0.0)) == 1.0  # saved as 0, not -0.0


@pytest.mark.parametrize("bad", [-0.1, 1.01, float("nan"), "0.5", None, True])
def test_bad_slip_is_one_clear_error(bad):
    with pytest.raises(ValueError, match=r"slip must be a number in \[0, 1\]"):
        joint_model("grid3x3", "none", bad)
    with pytest.raises(ValueError, match=r"slip must be a number in \[0, 1\]"):
        single_agent_power("grid3x3", 0.6, rewards=RewardDraws(2), slip=bad, execution=Execution(progress=False))
    with pytest.raises(SpecError, match=r"'slip' must be a number in \[0, 1\]"):
        RunSpec(slip=bad)


def test_spec_saves_slip_and_old_specs_load_as_deterministic(tmp_path):
    spec = RunSpec(layout="grid3x3", slip=0.25)
    save_spec(spec, tmp_path)
    assert load_spec(tmp_path).slip == 0.25 and load_spec(tmp_path).model().slip == 0.25
    data = json.loads((tmp_path / "spec.json").read_text())
    del data["slip"]
    (tmp_path / "spec.json").write_text(json.dumps(data))
    assert load_spec(tmp_path).slip == 0.0
