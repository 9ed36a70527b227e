"""Every stepper follows the env's episode rules: from every joint state, for every joint action and every
collision rule, the state reached, both rewards, termination (a crash) and truncation equal ``maze_v1``'s.

A stepper is a function ``stepper(model, R_H, R_A, max_cycles) -> dict`` of ``(S, 5, 5)`` arrays indexed by
``[state, action_H, action_A]`` for one step taken at ``t = 0``, with any of the keys ``reached``,
``reward_H``, ``reward_A``, ``terminated``, ``truncated`` (a stepper that has no such notion leaves it out).
Add a stepper by writing one such function and listing it in ``STEPPERS``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from multipower.agents.qlearning import _ChunkLearner
from multipower.agents.qlearning_config import UNAVAILABLE, QLearningConfig
from multipower.envs import maze_v1
from multipower.envs.dynamics import joint_step, padded_rewards
from multipower.envs.layouts import N_ACTIONS, parse_layout
from multipower.envs.model import COLLISIONS, JointModel
from multipower.learned.estimator import PolicyRollout
from multipower.learned.estimator import Rollouts
from multipower.envs.problem import TwoStageProblem

#: A world with walls inside as well as around it, so masks differ between cells.
LAYOUTS = {"grid3x3": "...\n...\n...", "walls": "..#\n...\n#.."}
KEYS = ("reached", "reward_H", "reward_A", "terminated", "truncated")


def _grids(model: JointModel):
    """``state, action_H, action_A`` broadcast to ``(S, 5, 5)``."""
    s, h, a = np.meshgrid(np.arange(model.n_states), np.arange(N_ACTIONS), np.arange(N_ACTIONS), indexing="ij")
    return s, h, a


def _effective(mask: np.ndarray, state: np.ndarray, action: np.ndarray) -> np.ndarray:
    """The action as a policy may take it: an unavailable move is ``stay`` (where the model sends it anyway)."""
    return np.where(mask[state, action], action, 0)


def _from_reward(reward: np.ndarray, R: np.ndarray) -> np.ndarray:
    """The state whose (distinct, non-zero) reward was earned; the terminal sentinel ``S`` for zero."""
    padded = padded_rewards(R)
    return np.abs(padded[None, :] - reward.reshape(-1, 1)).argmin(axis=1).reshape(reward.shape)


def env_stepper(model, R_H, R_A, max_cycles):
    """The reference: ``maze_v1`` reset to each joint state and stepped once."""
    env = maze_v1.parallel_env(model=model, rewards={"H": R_H, "A": R_A}, max_cycles=max_cycles)
    out = {key: np.zeros((model.n_states, N_ACTIONS, N_ACTIONS)) for key in KEYS}
    for s, h, a in zip(*(g.ravel() for g in _grids(model))):
        env.reset(options={"joint_state": int(s)})
        _, rewards, terminations, truncations, infos = env.step({"H": int(h), "A": int(a)})
        values = (infos["H"]["joint_state"], rewards["H"], rewards["A"], terminations["H"], truncations["H"])
        for key, value in zip(KEYS, values):
            out[key][s, h, a] = value
    return out


def dynamics_stepper(model, R_H, R_A, max_cycles, array=np.asarray):
    """:mod:`multipower.envs.dynamics` on numpy arrays (``array=torch.as_tensor`` runs the same code on tensors)."""
    s, h, a = (array(g) for g in _grids(model))
    reached, terminated, truncated = joint_step(array(model.next_state), model.terminal_state, s, h, a, s * 0, max_cycles)
    reward_H, reward_A = padded_rewards(array(R_H))[reached], padded_rewards(array(R_A))[reached]
    return {key: np.asarray(v) for key, v in zip(KEYS, (reached, reward_H, reward_A, terminated, truncated))}


def dynamics_torch_stepper(model, R_H, R_A, max_cycles):
    return dynamics_stepper(model, R_H, R_A, max_cycles, array=torch.as_tensor)


def estimator_stepper(model, R_H, R_A, max_cycles):
    """One-step rollouts (``horizon=1``) of deterministic policies playing each joint action everywhere:
    POWER is then ``(1 - γ) R(s')``, from which ``s'`` is read back (zero: the crash terminal)."""
    gamma = 0.5
    s, h, a = _grids(model)
    out = {"reward_H": np.zeros(s.shape), "reward_A": np.zeros(s.shape)}
    states = np.arange(model.n_states)
    eye = np.eye(N_ACTIONS)
    for action_H in range(N_ACTIONS):
        for action_A in range(N_ACTIONS):
            policy_H = eye[_effective(model.action_mask_H, states, np.full_like(states, action_H))]
            policy_A = eye[_effective(model.action_mask_A, states, np.full_like(states, action_A))]
            rollout = PolicyRollout(
                TwoStageProblem(model, R_H[None], R_A[None], gamma), policy_H, policy_A, rollouts=Rollouts(horizon=1)
            )
            power_H, power_A = rollout.per_sample()
            out["reward_H"][:, action_H, action_A] = power_H[0] / (1 - gamma)
            out["reward_A"][:, action_H, action_A] = power_A[0] / (1 - gamma)
    out["reached"] = _from_reward(out["reward_H"], R_H)
    return out


def _kernel_step(model, R, learner_agent, max_cycles):
    """One compiled Q-learning step (:func:`multipower.agents._qkernel.run_steps`) from every state for every joint action.

    Sample ``k`` starts at state ``k``; the learner's greedy action and the other agent's fixed action are set
    per call; with a first step size of 1 the updated ``Q(s, a)`` is exactly the target ``R(s')`` (a zero
    value function), and the walker's clock tells whether the episode ended.
    """
    S = model.n_states
    s, h, a = _grids(model)
    reward, reached, ended = (np.zeros(s.shape) for _ in range(3))
    own_mask = model.action_mask(learner_agent)
    other_agent = "A" if learner_agent == "H" else "H"
    config = QLearningConfig(epsilon_start=0.0, epsilon_end=0.0, all_actions=False, episode_length=max_cycles,
                             lr_scale=1.0, max_steps=10)
    states = np.arange(S)
    for own in range(N_ACTIONS):
        for other in range(N_ACTIONS):
            other_policy = np.eye(N_ACTIONS)[_effective(model.action_mask(other_agent), states, np.full(S, other))]
            learner = _ChunkLearner(model, np.tile(R, (S, 1)), 0.5, learner_agent, other_policy, config, 1,
                                    np.random.SeedSequence(0))
            chosen = _effective(own_mask, states, np.full(S, own))
            q = np.where(np.concatenate([own_mask, np.zeros((1, N_ACTIONS), bool)]), -1.0, UNAVAILABLE)
            learner.q[:] = q[None]
            learner.q[states, states, chosen] = 0.0  # the greedy action of sample k at its state k
            learner.backup[:] = learner.rewards  # zero values: the target is the reward on arrival
            learner._state[:, 0] = states
            index = (slice(None), own, other) if learner_agent == "H" else (slice(None), other, own)
            learner.run(1)
            reward[index] = learner.q[states, states, chosen]
            ended[index] = learner._t[:, 0] == 0
    reached = _from_reward(reward, R)
    return reward, reached, ended.astype(bool)


def qkernel_stepper(model, R_H, R_A, max_cycles):
    """The Q-learning kernel as H learns (``reward_H``, the step's outcome) and as A learns (``reward_A``)."""
    reward_H, reached, ended = _kernel_step(model, R_H, "H", max_cycles)
    reward_A, reached_A, _ = _kernel_step(model, R_A, "A", max_cycles)
    np.testing.assert_array_equal(reached_A, reached)
    crashed = reached == model.terminal_state
    return {"reached": reached, "reward_H": reward_H, "reward_A": reward_A, "terminated": ended & crashed,
            "truncated": ended & ~crashed}


STEPPERS = [dynamics_stepper, dynamics_torch_stepper, estimator_stepper, qkernel_stepper]


@pytest.mark.parametrize("max_cycles", [1, 2])
@pytest.mark.parametrize("collision", COLLISIONS)
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("stepper", STEPPERS, ids=lambda f: f.__name__)
def test_stepper_matches_env(stepper, layout, collision, max_cycles):
    model = JointModel(parse_layout(LAYOUTS[layout], name=layout), collision)
    rng = np.random.default_rng(0)
    R_H, R_A = 1.0 + rng.random(model.n_states), 1.0 + rng.random(model.n_states)  # distinct and non-zero
    expected = env_stepper(model, R_H, R_A, max_cycles)
    got = stepper(model, R_H, R_A, max_cycles)
    assert set(got) <= set(KEYS) and "reached" in got
    for key, value in got.items():
        np.testing.assert_allclose(np.asarray(value, dtype=float), expected[key], rtol=1e-12, atol=1e-12,
                                   err_msg=f"{stepper.__name__}: {key}")
