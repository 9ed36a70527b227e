"""PPO agents (sb3-contrib ``MaskablePPO``) trained with the two-stage scheme, one model per reward sample.

Stage 1: H learns with PPO in a ``multipower.envs.single_agent.SingleAgentView`` in which A follows the seed policy.
Its policy is then *read off the model* by querying it at every joint state (``policy_table``) and frozen
as a ``multipower.envs.policies.TabularPolicy``. Stage 2: A learns with PPO against that frozen H. Observations are
``SB3PPOConfig.observation``: ``"index"`` (the default: the joint-state index, which SB3 one-hot encodes, a
tabular-like input) or ``"vector"`` (one-hot cells of both agents: a smaller input that shares what is learned
between states, and measured less accurate); action masks come from the view's ``action_masks()``;
the network is a small MLP on CPU. Episodes start at uniformly random joint states (the env's default) and
are truncated after ``max_cycles`` steps (SB3 bootstraps truncated episodes from the value of the final
observation; crashes terminate).

The frozen policy is the *greedy* (most probable available) action of the trained policy at every state, so
it is deterministic like the Q-learning policies and comparable with the exact optimum.

``train_chunk`` trains a chunk of samples one after another, with one torch thread; the training driver
(``multipower.learned.training``) runs chunks side by side in worker processes.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np

from multipower.agents.chunk import ChunkTask, Progress
from multipower.agents.logging import greedy_optimal_fraction
from multipower.envs import maze_v1
from multipower.envs.maze_v1 import OBS_TYPES
from multipower.envs.model import JointModel, check_agent
from multipower.envs.policies import TabularPolicy, uniform_policy
from multipower.envs.problem import StageProblem
from multipower.envs.single_agent import SingleAgentView


@dataclass
class SB3PPOConfig:
    """Hyperparameters of one MaskablePPO learner (SB3 names).

    Defaults measured on grid3x3, γ = 0.6 (H against the seed, 4 samples, ``experiments/ppo_tuning.py``):
    the joint-state index observation and one-step advantages (``gae_lambda=0``) took H's greedy-optimal
    fraction from 76 % (one-hot cells, λ = 0.95, 20-step episodes) to 91 %. H then commits early to a wrong
    action in about one state in nine and almost never samples the better one again (the exact ``Q^π`` of the
    trained policy picks an optimal action in 98 % of states, the policy follows its own ``Q^π`` in 89 %): an
    entropy bonus of 0.1 decayed to 0 (``anneal_ent``) took samples 4-7 from 89 to 92 %, and 4× the data
    per update and in all (64 envs × 64 steps, batch 1024, 480,000 steps) to 96 %, for 1.6× the time.

    Attributes:
        total_timesteps: Environment steps per agent per reward sample.
        n_envs: Parallel environments per model (``DummyVecEnv``).
        n_steps: Rollout length per environment.
        batch_size, n_epochs, learning_rate, ent_coef, gae_lambda, clip_range: PPO's usual parameters.
        net_arch: Hidden layer sizes of the policy and value MLPs.
        max_cycles: Episode length (truncation).
        eval_every: Steps between accuracy evaluations logged to TensorBoard (0: never).
        observation: The env's ``obs_type``: ``"vector"`` (one-hot cells of both agents) or ``"index"``
            (joint-state index, one-hot encoded by SB3).
        anneal_lr: Decay the learning rate linearly to 0 over training (CleanRL's ``anneal_lr``).
        anneal_ent: Decay the entropy coefficient linearly from ``ent_coef`` to 0 over training (an SB3
            callback), so that early exploration does not cost the final policy its accuracy.
        vf_coef, max_grad_norm: Weight of the value loss, and the norm gradients are clipped to (SB3's).
    """

    total_timesteps: int = 480_000
    n_envs: int = 64
    n_steps: int = 64
    batch_size: int = 1024
    n_epochs: int = 10
    learning_rate: float = 1e-3
    ent_coef: float = 0.1
    gae_lambda: float = 0.0
    clip_range: float = 0.2
    net_arch: list = field(default_factory=lambda: [64, 64])
    max_cycles: int = 10
    eval_every: int = 5_000
    observation: str = "index"
    anneal_lr: bool = True
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    anneal_ent: bool = True

    def __post_init__(self) -> None:
        for name in ("total_timesteps", "n_envs", "n_steps", "batch_size", "n_epochs", "max_cycles"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if self.eval_every < 0:
            raise ValueError(f"eval_every must be >= 0, got {self.eval_every!r}")
        if self.observation not in OBS_TYPES:
            raise ValueError(f"observation must be one of {OBS_TYPES}, got {self.observation!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def state_observations(model: JointModel, observation: str = "vector") -> np.ndarray:
    """The observation of every joint state, as the env gives it: ``"vector"`` ``(S, 2·n_cells)`` float32
    (one-hot H cell, one-hot A cell) or ``"index"`` ``(S,)`` int64 joint-state indices."""
    if observation == "index":
        return np.arange(model.n_states, dtype=np.int64)
    n = model.n_cells
    obs = np.zeros((model.n_states, 2 * n), dtype=np.float32)
    rows = np.arange(model.n_states)
    obs[rows, model.joint_cells[:, 0]] = 1.0
    obs[rows, n + model.joint_cells[:, 1]] = 1.0
    return obs


def action_probabilities(ppo_model, model: JointModel, agent: str) -> np.ndarray:
    """``(S, 5)`` the masked action probabilities of a trained (Maskable)PPO model at every joint state."""
    import torch

    agent = check_agent(agent)
    mask = model.action_mask(agent)
    obs = torch.as_tensor(state_observations(model, _observation(ppo_model)), device=ppo_model.device)
    with torch.no_grad():
        try:
            dist = ppo_model.policy.get_distribution(obs, action_masks=mask)
        except TypeError:  # a plain (non-maskable) SB3 policy
            dist = ppo_model.policy.get_distribution(obs)
        probs = dist.distribution.probs.cpu().numpy().astype(np.float64)
    probs = np.where(mask, probs, 0.0)
    return probs / probs.sum(axis=1, keepdims=True)


def policy_values(ppo_model, model: JointModel) -> np.ndarray:
    """``(S,)`` the critic's value at every joint state (environment convention: return after ``s``)."""
    import torch

    obs = torch.as_tensor(state_observations(model, _observation(ppo_model)), device=ppo_model.device)
    with torch.no_grad():
        return ppo_model.policy.predict_values(obs).cpu().numpy()[:, 0].astype(np.float64)


def _observation(ppo_model) -> str:
    """The encoding a trained model was built for (its observation space)."""
    from gymnasium import spaces

    return "index" if isinstance(ppo_model.observation_space, spaces.Discrete) else "vector"


def policy_table(ppo_model, model: JointModel, agent: str) -> np.ndarray:
    """``(S, 5)`` frozen greedy policy read off a trained model: one-hot on the most probable available action."""
    probs = action_probabilities(ppo_model, model, agent)
    table = np.zeros_like(probs)
    table[np.arange(len(probs)), probs.argmax(axis=1)] = 1.0
    return table


def frozen_policy(ppo_model, model: JointModel, agent: str) -> TabularPolicy:
    """``policy_table`` as a ``TabularPolicy`` (plugs into ``SingleAgentView(other_policy=...)``)."""
    return TabularPolicy(policy_table(ppo_model, model, agent), model.action_mask(agent))


def _make_vec_env(model: JointModel, rewards: dict, agent: str, other_policy, config: SB3PPOConfig, seed: int):
    from stable_baselines3.common.vec_env import DummyVecEnv

    def make(i: int):
        def thunk():
            env = maze_v1.parallel_env(model=model, obs_type=config.observation, rewards=rewards, max_cycles=config.max_cycles)
            return SingleAgentView(env, agent=agent, other_policy=other_policy)

        return thunk

    vec = DummyVecEnv([make(i) for i in range(config.n_envs)])
    vec.seed(seed)
    return vec


def _accuracy_callback(model: JointModel, agent: str, exact_q: np.ndarray, every: int):
    """An SB3 callback recording the greedy-optimal fraction and value gap against ``exact_q`` ``(S, 5)``."""
    from stable_baselines3.common.callbacks import BaseCallback

    mask = model.action_mask(agent)

    class AccuracyCallback(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self._next = 0

        def _on_step(self) -> bool:
            if self.num_timesteps >= self._next:
                self._next = self.num_timesteps + every
                probs = action_probabilities(self.model, model, agent)
                learned = np.where(mask, np.log(np.maximum(probs, 1e-30)), -np.inf)[None]
                self.logger.record("accuracy/greedy_optimal_fraction", greedy_optimal_fraction(learned, exact_q[None], mask))
                values = policy_values(self.model, model)
                exact_v = np.where(mask, exact_q, -np.inf).max(axis=1)
                self.logger.record("accuracy/value_gap", float(np.abs(values - exact_v).mean()))
            return True

    return AccuracyCallback()


def train_sb3_ppo(
    problem: StageProblem,
    config: Optional[SB3PPOConfig] = None,
    seed: int = 0,
    tensorboard_log: Optional[str] = None,
    exact_q: Optional[np.ndarray] = None,
    run_name: Optional[str] = None,
):
    """Train one MaskablePPO agent for one reward function; returns the SB3 model.

    Args:
        problem: The stage of one sample (``multipower.envs.problem.StageProblem``): the joint model, the learner's
            ``(S,)`` rewards and discount, the learner ``"H"`` or ``"A"``, and the other agent's ``(S, 5)`` fixed
            policy (default the uniform seed). The other agent's rewards do not enter learning: its env rewards
            are 0.
        config: Hyperparameters.
        seed: Fixes the network initialisation, the env and the other agent's draws.
        tensorboard_log: SB3 TensorBoard directory (``None``: no logging).
        exact_q: ``(S, 5)`` exact ``Q_env`` to log accuracy as training proceeds.
        run_name: TensorBoard run name.
    """
    import torch
    from sb3_contrib import MaskablePPO

    config = config or SB3PPOConfig()
    if not isinstance(problem, StageProblem) or problem.n_samples != 1:
        raise ValueError("problem: must be a multipower.envs.problem.StageProblem of one reward function")
    model, agent, gamma = problem.model, problem.agent, problem.gamma
    rewards = {agent: problem.rewards[0], problem.other: np.zeros(model.n_states)}
    vec = _make_vec_env(model, rewards, agent, problem.other_policy, config, seed)
    ppo = MaskablePPO(
        "MlpPolicy",
        vec,
        learning_rate=_learning_rate(config),
        n_steps=config.n_steps,
        batch_size=config.batch_size,
        n_epochs=config.n_epochs,
        gamma=gamma,
        gae_lambda=config.gae_lambda,
        clip_range=config.clip_range,
        ent_coef=config.ent_coef,
        vf_coef=config.vf_coef,
        max_grad_norm=config.max_grad_norm,
        policy_kwargs={"net_arch": list(config.net_arch), "activation_fn": torch.nn.Tanh},
        tensorboard_log=tensorboard_log,
        seed=seed,
        device="cpu",
        verbose=0,
    )
    if tensorboard_log is None:  # SB3's default logger would create an empty SB3-<date> folder in /tmp
        from stable_baselines3.common.logger import Logger

        ppo.set_logger(Logger(folder=None, output_formats=[]))
    callbacks = []
    if config.anneal_ent:
        callbacks.append(_entropy_schedule(config.ent_coef, config.total_timesteps))
    if tensorboard_log is not None and exact_q is not None and config.eval_every > 0:
        callbacks.append(_accuracy_callback(model, agent, exact_q, config.eval_every))
    callback = callbacks or None
    ppo.learn(total_timesteps=config.total_timesteps, callback=callback, tb_log_name=run_name or f"ppo_{agent}")
    vec.close()
    return ppo


def _entropy_schedule(ent_coef: float, total_timesteps: int):
    """An SB3 callback setting the entropy coefficient of each update to ``ent_coef`` times the fraction of
    training left (SB3 reads ``ent_coef`` at every update; the learning rate's schedule uses the same fraction)."""
    from stable_baselines3.common.callbacks import BaseCallback

    class EntropySchedule(BaseCallback):
        def _on_rollout_end(self) -> None:
            self.model.ent_coef = ent_coef * max(0.0, 1.0 - self.num_timesteps / total_timesteps)
            self.logger.record("train/ent_coef", self.model.ent_coef)

        def _on_step(self) -> bool:
            return True

    return EntropySchedule()


def _learning_rate(config: SB3PPOConfig):
    """SB3's learning rate: a constant, or a linear decay to 0 (SB3 passes the fraction of training left)."""
    if not config.anneal_lr:
        return config.learning_rate
    from stable_baselines3.common.utils import LinearSchedule

    return LinearSchedule(config.learning_rate, 0.0, 1.0)


def train_chunk(task: ChunkTask, progress: Optional[Progress] = None) -> dict[str, np.ndarray]:
    """Both stages of the chunk's samples, one MaskablePPO model per sample and agent, for the training driver.

    Sample ``k`` (its index in the whole run) seeds H's learner ``seed * 100003 + 2k`` and A's one more, so its
    agents do not depend on which samples train with it. With ``task.tensorboard``, SB3 logs each sample's run
    there (``sample<k>_H``, ``sample<k>_A``), with the accuracy against ``task.reference`` when given.

    Args:
        task: The chunk; ``task.settings`` is an ``SB3PPOConfig``; A's seed policy must be uniform.
        progress: Called with 1 after each sample's two stages.

    Returns:
        ``policy_H``, ``policy_A`` ``(k, S, 5)`` greedy policies and ``seconds`` ``(k, 2)`` per stage.
    """
    import torch

    torch.set_num_threads(1)
    rows = []
    for k, r_h, r_a in zip(task.samples, task.R_H, task.R_A):
        rows.append(_train_sample(task, k, r_h, r_a, int(task.seed) * 100_003 + 2 * k))
        if progress is not None:
            progress(1)
    policy_H, policy_A, seconds_H, seconds_A = (np.array(column) for column in zip(*rows))
    return {"policy_H": policy_H, "policy_A": policy_A, "seconds": np.stack([seconds_H, seconds_A], axis=1)}


def _train_sample(task: ChunkTask, k: int, r_h: np.ndarray, r_a: np.ndarray, seed: int) -> tuple:
    """Both stages of sample ``k``: ``(policy_H, policy_A, seconds_H, seconds_A)``."""
    model, reference = task.model, task.reference
    log_exact = task.tensorboard is not None and reference is not None
    seed_policy = uniform_policy(model.action_mask_A)
    exact_H = reference(model, r_h[None], task.gamma_H, "H", seed_policy)[0] if log_exact else None
    start = time.perf_counter()
    ppo_H = train_sb3_ppo(StageProblem(model, r_h, task.gamma_H, "H"), task.settings, seed, task.tensorboard,
                          exact_H, f"sample{k}_H")
    policy_H = policy_table(ppo_H, model, "H")
    seconds_H = time.perf_counter() - start
    exact_A = reference(model, r_a[None], task.gamma_A, "A", policy_H)[0] if log_exact else None
    start = time.perf_counter()
    ppo_A = train_sb3_ppo(StageProblem(model, r_a, task.gamma_A, "A", policy_H), task.settings, seed + 1,
                          task.tensorboard, exact_A, f"sample{k}_A")
    return policy_H, policy_table(ppo_A, model, "A"), seconds_H, time.perf_counter() - start
