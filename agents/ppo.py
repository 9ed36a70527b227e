"""Batched PPO: the agents of K reward samples trained at once, as one torch computation on CPU or CUDA.

The algorithm is sb3-contrib's ``MaskablePPO`` (clipped surrogate, GAE(λ), optional value clipping, entropy
bonus, per-minibatch advantage normalisation, gradient clipping, Adam, masked categorical policy, linear
learning-rate decay), with the two-stage scheme of the research: H learns against the seed policy of A; H is
frozen at its greedy policy; A learns against frozen H (docs/concepts.md#two-stage-training).
``multipower.agents.sb3_ppo`` trains the same agents one SB3 model per sample and is the reference this trainer is
checked against.

**What is batched.** K actor-critic networks are held as stacked parameters (leading axis K) and evaluated
with batched matmuls; K × ``n_envs`` environments step together on the joint model's tables
(``multipower.envs.dynamics``): next state, action masks and the crash sentinel. The only Python loops run over
rollout steps, epochs and minibatches. The first layer reads the observation as an embedding lookup (the
``"index"`` observation is a one-hot of the joint state, ``"vector"`` the one-hots of both agents' cells), which
is the matmul SB3 does with the one-hot, without the zeros.

**Independence.** Every random draw (network initialisation, starts, both agents' actions, minibatch order)
comes from a counter-based hash of the sample's key, derived from ``(seed, sample index, agent)``, and the loss
is a sum over samples, so sample k's gradients, Adam state and clipping see only sample k. Sample k therefore
trains the same alone or in any batch: on the CPU its parameters agree to float rounding (tested), and its
greedy policy is the same. On CUDA the same holds up to the nondeterminism of cuBLAS and of atomic-add
reductions, which can change the last bits and, rarely, a sampled action.

**Long horizons.** From γ = 0.99, in a world whose every joint move has one outcome, the value network and GAE give
way to a joint-action critic (``JointCritic``, ``PPOConfig.joint_critic``): a table ``Q(s, a, o)`` over both
agents' moves whose targets carry no noise, giving the actor advantages that separate H's near-tied moves.

**Episode rules**: reward ``R(s')`` on arrival; a crash (``s' = terminal``) ends the episode with no bootstrap;
truncation after ``max_cycles`` steps bootstraps from the critic's value of the state reached (as SB3 does
with ``terminal_observation``); every episode starts at a uniformly random joint state (exploring starts).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from typing import Callable, NamedTuple, Optional, Sequence

import numpy as np

from multipower.agents.chunk import ChunkTask, Progress, per_sample_seconds
from multipower.agents.logging import optimal_mask
from multipower.envs.dynamics import joint_step, outcome_step, padded_rewards, slip_step
from multipower.envs.layouts import N_ACTIONS
from multipower.envs.memory import check_budget, default_budget
from multipower.envs.model import AGENTS, JointModel, check_agent
from multipower.envs.policies import check_policy_batch, uniform_policy
from multipower.envs.problem import JointWorld, StageProblem, TwoStageProblem

OBSERVATIONS = ("index", "vector")
DEVICES = ("auto", "cpu", "cuda")
_LOGIT_MASK = -1e8  # sb3-contrib's masked logit: exp underflows to 0 and p·log p stays finite (no NaN gradients)


@dataclass(frozen=True)
class PPOConfig:
    """Hyperparameters of the batched PPO learner; names and meanings are SB3's.

    Defaults were tuned on maze7x7 against the exact solver, with POWER as the measure
    (docs/learning.md#ppo-defaults): the joint-state index observation read by a table (``net_arch=()``: one
    logit per state and action, the one-hot matmul of a linear policy), a learning rate of 0.03, GAE λ = 0.95,
    5-step episodes from uniformly random joint states, and updates whose data grows with the horizon.

    The fields left ``None`` (``total_timesteps``, ``n_envs``, ``batch_size``) follow each agent's discount: ``for_gamma`` fills them for the agent being trained, so that H's come from
    ``γ_H`` and A's from ``γ_A``; a value given (``--option n_envs=64``) holds for both agents.
    """

    total_timesteps: Optional[int] = None
    """Environment steps per agent per reward sample; default ``2**20 · m`` (``for_gamma``)."""
    n_envs: Optional[int] = None
    """Environments per sample, stepped together; default ``32 · m`` (``for_gamma``)."""
    n_steps: int = 64
    """Rollout length per environment; one update uses ``n_envs * n_steps`` transitions per sample."""
    batch_size: Optional[int] = None
    """Minibatch size per sample, at most ``n_envs * n_steps``; default a quarter of it (four minibatches per
    epoch: ``512 · m`` with the default ``n_envs``)."""
    n_epochs: Optional[int] = None
    """Passes over each rollout; default 4, or 1 with the joint critic (``for_gamma``)."""
    learning_rate: float = 0.03
    """Adam step size (decays linearly to 0 when ``anneal_lr``)."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over training, as SB3's linear schedule."""
    ent_coef: float = 0.1
    """Entropy bonus weight (decays linearly to 0 when ``anneal_ent``)."""
    anneal_ent: bool = True
    """Decay the entropy bonus linearly to 0, so early exploration does not cost the final policy accuracy."""
    gae_lambda: float = 0.95
    """GAE λ; 0 gives one-step advantages ``r + γ V(s') − V(s)`` (value information then crosses one step per
    update: far too slow at long horizons)."""
    gae_lambda_end: Optional[float] = None
    """GAE λ at the end of training: λ goes linearly from ``gae_lambda`` to it over the updates (lower-variance
    advantages once the critic has learned); default ``gae_lambda`` (constant). docs/learning.md#ppo-long-horizons
    measures 0.5 at γ = 0.99."""
    clip_range: float = 0.2
    """PPO's probability-ratio clip ε."""
    clip_range_vf: Optional[float] = None
    """Clip the value prediction to ``± clip_range_vf`` around the rollout's (``None``: no clipping, SB3's default)."""
    vf_coef: float = 0.5
    """Value loss weight."""
    max_grad_norm: float = 0.5
    """Each sample's gradient is rescaled to at most this global norm."""
    normalize_advantage: bool = True
    """Normalise advantages per minibatch (and per sample)."""
    net_arch: tuple = ()
    """Hidden layer sizes of the policy and of the value network (separate networks, tanh); ``()`` is tabular."""
    max_cycles: int = 5
    """Episode length: truncation after this many steps (episodes start at uniformly random joint states, so short
    episodes cover every state evenly; the truncation bootstraps from the critic)."""
    observation: str = "index"
    """``"index"``: one-hot joint state; ``"vector"``: one-hot cells of both agents (shares across states)."""
    adam_eps: float = 1e-5
    """Adam's ε (SB3's PPO value)."""
    joint_critic: Optional[bool] = None
    """Replace the value network and GAE by a joint-action critic, a table ``Q(s, a, o)`` over the learner's and the
    other agent's moves with noise-free targets (``JointCritic``); needs a world where every joint move has one
    outcome. Default (``for_gamma``): on at ``γ ≥ 0.99`` in such a world, off otherwise
    (docs/learning.md#ppo-joint-critic)."""

    def __post_init__(self) -> None:
        if self.joint_critic is not None and not isinstance(self.joint_critic, (bool, np.bool_)):
            raise ValueError(f"joint_critic: must be true or false, got {self.joint_critic!r}")
        for name in ("total_timesteps", "n_envs", "n_steps", "batch_size", "n_epochs", "max_cycles"):
            value = getattr(self, name)
            if value is None and name in _FOR_GAMMA:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name}: must be a positive integer, got {value!r}")
        if None not in (self.n_envs, self.batch_size) and self.batch_size > self.n_envs * self.n_steps:
            raise ValueError(
                f"batch_size: must be at most n_envs * n_steps = {self.n_envs * self.n_steps}, got {self.batch_size}"
            )
        for name in ("learning_rate", "clip_range", "adam_eps"):
            _check_real(name, getattr(self, name), low=0.0, low_open=True)
        for name in ("ent_coef", "vf_coef"):
            _check_real(name, getattr(self, name), low=0.0)
        _check_real("max_grad_norm", self.max_grad_norm, low=0.0, low_open=True)
        _check_real("gae_lambda", self.gae_lambda, low=0.0, high=1.0)
        if self.gae_lambda_end is not None:
            _check_real("gae_lambda_end", self.gae_lambda_end, low=0.0, high=1.0)
        if self.clip_range_vf is not None:
            _check_real("clip_range_vf", self.clip_range_vf, low=0.0, low_open=True)
        arch = tuple(self.net_arch) if isinstance(self.net_arch, (list, tuple)) else None
        if arch is None or not all(isinstance(h, (int, np.integer)) and not isinstance(h, bool) and h >= 1 for h in arch):
            raise ValueError(f"net_arch: must be a list of positive layer sizes, got {self.net_arch!r}")
        object.__setattr__(self, "net_arch", tuple(int(h) for h in arch))
        if self.observation not in OBSERVATIONS:
            raise ValueError(f"observation: must be one of {OBSERVATIONS}, got {self.observation!r}")

    @property
    def resolved(self) -> bool:
        """Whether every field has its value (none left to ``for_gamma``)."""
        return all(getattr(self, name) is not None for name in _FOR_GAMMA)

    def for_gamma(self, gamma: float, deterministic_moves: bool = True) -> "PPOConfig":
        """This config with the fields left ``None`` filled for an agent of discount ``γ``.

        With ``m = 2**round(log2 √(1/(1 − γ)))`` (1 at γ = 0.1, 2 at 0.6, 4 at 0.9, 8 at 0.99), ``n_envs = 32·m``,
        ``total_timesteps = 2**20·m`` and ``batch_size`` a quarter of a rollout (``512·m``): the same 512 updates of
        the 64-step rollouts at every discount, with ``m`` times the data per update at a horizon ``1/(1 − γ)`` of
        about ``m²`` steps. More data per update cost far less than more updates for the same accuracy
        (docs/learning.md#ppo-defaults). ``joint_critic`` is on at ``γ ≥ 0.99`` when ``deterministic_moves`` (every
        joint move has one outcome: no slip, a deterministic joint graph), where GAE's noisy advantages cannot
        separate H's near-tied moves (docs/learning.md#ppo-joint-critic).

        Raises:
            ValueError: naming the field, when the filled config is invalid (e.g. a ``batch_size`` above the
                rollout), or ``joint_critic`` is asked for where moves have several outcomes.
        """
        if self.joint_critic and not deterministic_moves:
            raise ValueError("joint_critic: needs a world where every joint move has one outcome (no slip, a "
                             "deterministic joint graph); give joint_critic=false here")
        m = ppo_scale(gamma)
        joint = self.joint_critic
        if joint is None:
            joint = gamma >= JOINT_CRITIC_GAMMA and deterministic_moves
        n_envs = 32 * m if self.n_envs is None else self.n_envs
        filled = {"n_envs": n_envs, "total_timesteps": 1_048_576 * m * (3 if joint else 1),
                  "batch_size": max(1, n_envs * self.n_steps // 4), "n_epochs": 1 if joint else 4,
                  "joint_critic": bool(joint)}
        return replace(self, **{name: filled[name] for name in _FOR_GAMMA if getattr(self, name) is None})

    def gae_lambda_at(self, update: int) -> float:
        """GAE λ of update ``update`` (from 0): linear from ``gae_lambda`` to ``gae_lambda_end`` over the updates
        (``gae_lambda`` throughout when ``gae_lambda_end`` is ``None``)."""
        self._require_resolved("gae_lambda_at")
        if self.gae_lambda_end is None:
            return self.gae_lambda
        fraction = update / max(1, self.n_updates - 1)
        return self.gae_lambda + (self.gae_lambda_end - self.gae_lambda) * min(1.0, fraction)

    @property
    def rollout_size(self) -> int:
        self._require_resolved("rollout_size")
        return self.n_envs * self.n_steps

    @property
    def n_updates(self) -> int:
        """Updates per agent, as SB3 counts them: rollouts until ``total_timesteps`` is reached."""
        self._require_resolved("n_updates")
        return math.ceil(self.total_timesteps / self.rollout_size)

    def _require_resolved(self, what: str) -> None:
        if not self.resolved:
            raise ValueError(f"{what} depends on the agent's discount: call for_gamma(gamma) first")

    def to_dict(self) -> dict:
        out = asdict(self)
        out["net_arch"] = list(self.net_arch)
        if self.gae_lambda_end is None:  # constant λ: the settings of runs saved before the field existed
            del out["gae_lambda_end"]
        if not self.joint_critic:  # the value network: likewise
            del out["joint_critic"]
        return out


#: The fields that ``PPOConfig.for_gamma`` fills from the discount when they are left ``None``.
_FOR_GAMMA = ("total_timesteps", "n_envs", "batch_size", "n_epochs", "joint_critic")

#: The discount from which ``PPOConfig.for_gamma`` turns the joint critic on (docs/learning.md#ppo-joint-critic).
JOINT_CRITIC_GAMMA = 0.99


def ppo_scale(gamma: float) -> int:
    """``m = 2**round(log2 √(1/(1 − γ)))``: how many times the γ = 0.1 data per update an agent of discount ``γ``
    gets (``PPOConfig.for_gamma``)."""
    return 2 ** max(0, round(math.log2(math.sqrt(1.0 / (1.0 - float(gamma))))))


def _check_real(name: str, value, low: float, high: float = math.inf, low_open: bool = False) -> None:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    ok = ok and math.isfinite(value) and (value > low if low_open else value >= low) and value <= high
    if not ok:
        bound = f"{'>' if low_open else '>='} {low}" + (f" and <= {high}" if high < math.inf else "")
        raise ValueError(f"{name}: must be a finite number {bound}, got {value!r}")


#: Bytes per environment step held in a rollout, per sample: observation index, action, reward, value, log
#: probability, advantage, return, done flag and the action mask, with the stepper's state.
ROLLOUT_BYTES_PER_STEP = 96
#: What a joint critic adds per rollout step: the other's move, the state reached, ``R(s')`` and the crash flag
#: (24 bytes), and the ``5 × 5`` float32 table entries its advantages gather (100).
JOINT_ROLLOUT_BYTES_PER_STEP = 128


def training_bytes(n_samples: int, n_inputs: int, config: "PPOConfig", n_states: int = 0) -> int:
    """Peak bytes of training ``n_samples`` samples at once with a filled ``config`` (``PPOConfig.for_gamma``):
    the networks' parameters, gradients and Adam state (float32, four copies) and one rollout; with
    ``joint_critic``, its ``(n_states, 5, 5)`` float32 table and a copy of it for each sweep's targets."""
    sizes = [n_inputs, *config.net_arch]
    per_sample = sum(a * b + b for a, b in zip(sizes, sizes[1:]))  # hidden layers, one network
    per_sample = 2 * per_sample + (sizes[-1] + 1) * (N_ACTIONS + 1)  # policy and value networks, their heads
    step_bytes = ROLLOUT_BYTES_PER_STEP + (JOINT_ROLLOUT_BYTES_PER_STEP if config.joint_critic else 0)
    rollout = config.n_envs * config.n_steps * step_bytes
    critic = 2 * 4 * n_states * N_ACTIONS * N_ACTIONS if config.joint_critic else 0
    return n_samples * (16 * per_sample + rollout + critic)


def check_network_memory(n_samples: int, n_inputs: int, net_arch: tuple, n_states: int,
                         config: Optional["PPOConfig"] = None, budget: Optional[int] = None) -> None:
    """Refuse (``ValueError("max_memory: ...")``) networks (and, with a filled ``config``, the rollout and any joint
    critic) of ``n_samples`` samples at once that do not fit ``budget`` (default: the default budget), before any
    is made."""
    config = config or PPOConfig(net_arch=tuple(net_arch), n_envs=1, total_timesteps=1, batch_size=1)
    config = replace(config, net_arch=tuple(net_arch))
    check_budget(training_bytes(n_samples, n_inputs, config, n_states), default_budget() if budget is None else budget,
                 f"PPO training (net_arch={list(net_arch)}, n_envs={config.n_envs}, n_steps={config.n_steps}) of "
                 f"{n_samples} samples at once", n_states)


def resolve_device(device: str = "auto"):
    """``torch.device`` for ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``; ``ValueError`` otherwise."""
    import torch

    if device not in DEVICES:
        raise ValueError(f"device: must be one of {DEVICES}, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' was asked for but torch sees no CUDA GPU here; use 'cpu' or 'auto'")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


# ----------------------------------------------------------------------------------------------------------
# Counter-based random numbers: a draw is a hash of (sample key, counters), so it depends on nothing else.
# Multipliers below 2**31 keep every product of 32-bit words inside int64 (no overflow on any device).

_MASK32 = 0xFFFFFFFF


def _hash32(x):
    """A 32-bit integer mix (Wellons' ``lowbias32`` shape) of an int64 tensor holding values in ``[0, 2**32)``."""
    x = x ^ (x >> 16)
    x = (x * 0x21F0AAAD) & _MASK32
    x = x ^ (x >> 15)
    x = (x * 0x735A2D97) & _MASK32
    return x ^ (x >> 15)


def _mix(key, *words):
    """Fold counters (ints or int64 tensors broadcasting against ``key``) into a key, one hash per word."""
    for word in words:
        key = _hash32(key ^ (word & _MASK32))
    return key


def _uniform(bits):
    """Float32 uniform in ``[0, 1)`` from 32 random bits (24 significant)."""
    return (bits >> 8).float() * (1.0 / (1 << 24))


def sample_keys(seed: int, sample_indices: Sequence[int], agent: str):
    """``(K,)`` int64 keys of the samples' random streams: a function of ``(seed, index, agent)`` only."""
    import torch

    seed = int(seed)
    index = torch.as_tensor(np.asarray(sample_indices, dtype=np.int64))
    key = torch.full_like(index, 0x9E3779B9)
    return _mix(key, seed & _MASK32, (seed >> 32) & _MASK32, index, index >> 32, 1 if agent == "H" else 2)


# Stream tags: one per kind of draw, so no two draws share a counter.
_INIT, _START, _ACTION, _OTHER, _SHUFFLE, _SLIP_H, _SLIP_A, _OUTCOME = 1, 2, 3, 4, 5, 6, 7, 8


# ----------------------------------------------------------------------------------------------------------
# Stacked actor-critic networks.


@dataclass
class Networks:
    """K policy and K value MLPs as stacked parameters.

    ``pi[i]``, ``vf[i]`` are ``(weight, bias)`` of layer ``i``, biases ``(K, fan_out)``. Layer 0's weight is
    ``(K, n_inputs, fan_out)``, read by rows (an embedding of the one-hot inputs); later weights are
    ``(K, fan_out, fan_in)`` and multiply activations held features-first, ``(K, features, B)``, so that the
    softmax over the actions runs along a long contiguous axis (measured 4x faster than along the last).
    """

    pi: list
    vf: list
    critic: Optional["JointCritic"] = None
    """The joint-action critic when ``PPOConfig.joint_critic`` (then ``vf`` is not trained)."""

    def parameters(self) -> list:
        """The trained parameters: both networks', or the policy's alone beside a joint critic."""
        layers = self.pi if self.critic is not None else self.pi + self.vf
        return [p for layer in layers for p in layer]


def init_networks(keys, n_inputs: int, net_arch: tuple, device, n_actions: int = N_ACTIONS):
    """SB3's initialisation: orthogonal weights (gain √2 hidden, 0.01 policy head, 1 value head), zero biases;
    ``n_actions`` policy outputs (the learner's action slots: 5 on a layout).

    The Gaussian draws come from each sample's key, and the orthogonalisation is a batched QR, so sample k's
    network does not depend on the other samples.
    """
    import torch

    keys = keys.cpu()  # initialised on the CPU, so both devices start from the same networks

    def stack(sizes, head_gain, tag):
        layers = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            gain = head_gain if i == len(sizes) - 2 else math.sqrt(2.0)
            weight = _orthogonal(keys, tag * 64 + i, fan_in, fan_out, gain)
            weight = (weight if i == 0 else weight.transpose(1, 2)).contiguous().to(device)
            bias = torch.zeros(len(keys), fan_out, device=device)
            layers.append((weight.requires_grad_(), bias.requires_grad_()))
        return layers

    sizes = (n_inputs, *net_arch)
    return Networks(pi=stack((*sizes, n_actions), 0.01, 1), vf=stack((*sizes, 1), 1.0, 2))


def _orthogonal(keys, tag: int, rows: int, cols: int, gain: float):
    """``(K, rows, cols)`` scaled orthogonal matrices (as ``torch.nn.init.orthogonal_`` makes them)."""
    import torch

    flat = torch.arange(rows * cols, dtype=torch.int64)
    bits = _mix(keys[:, None], _INIT, tag, flat)
    u1 = 1.0 - _uniform(bits).double()  # (0, 1]
    u2 = _uniform(_hash32(bits ^ 0x5BD1E995)).double()
    normal = torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2.0 * math.pi * u2)
    tall = normal.reshape(len(keys), max(rows, cols), min(rows, cols))
    q, r = torch.linalg.qr(tall)
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None, :]  # unique QR: positive diagonal of R
    q = q if rows >= cols else q.transpose(1, 2)
    return (gain * q).float().contiguous()


def _mlp(layers, first_rows):
    """Evaluate stacked MLPs: ``first_rows`` ``(K, B)`` index arrays of the inputs that are one (layer 0 is a
    row lookup into the flattened weight, whose backward is an index-add); returns ``(K, fan_out, B)``."""
    import torch

    weight, bias = layers[0]
    K, n_rows, width = weight.shape
    table = weight.reshape(K * n_rows, width)
    offset = torch.arange(K, device=weight.device)[:, None] * n_rows
    rows = sum(table.index_select(0, (r + offset).reshape(-1)) for r in first_rows)
    x = (rows.reshape(K, -1, width) + bias[:, None, :]).transpose(1, 2)
    for weight, bias in layers[1:]:
        x = torch.baddbmm(bias[:, :, None], weight, torch.tanh(x))
    return x


# ----------------------------------------------------------------------------------------------------------
# The world as tensors.


class Batch:
    """The joint model and one agent's task, as tensors on one device, for K samples.

    Args:
        model: The joint model (its tables are the dynamics), or a joint graph with one action-slot count for both
            agents (``multipower.envs.joint_graph.JointGraph.with_slots``; ``observation="index"``).
        rewards: ``(K, S)`` the learner's reward of each joint state.
        agent: ``"H"`` or ``"A"``: which agent learns.
        other_policy: ``(S, n)`` or ``(K, S, n)`` the other agent's fixed policy (any valid table: rows
            sum to 1, no mass on unavailable moves); ``None``: uniform over its available moves.
        observation: ``"index"`` or ``"vector"``.
        device: A ``torch.device``.

    Tables over actions have ``n`` slots (``n_actions``): the five moves of a layout, a joint graph's own slots.
    """

    def __init__(self, model: JointWorld, rewards, agent: str, other_policy, observation: str, device):
        import torch

        self.agent = check_agent(agent)
        self.n_states, self.terminal_state = model.n_states, model.terminal_state
        rewards = np.atleast_2d(np.asarray(rewards, dtype=np.float64))
        if rewards.shape[1:] != (model.n_states,):
            raise ValueError(f"rewards: must have shape (K, {model.n_states}), got {rewards.shape}")
        other_mask = model.action_mask("A" if self.agent == "H" else "H")
        other = uniform_policy(other_mask) if other_policy is None else other_policy
        other = check_policy_batch(other, other_mask, len(rewards), "other_policy")
        as_tensor = lambda a, dtype: torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)  # noqa: E731
        self.device = device
        self.K = len(rewards)
        next_state, outcome_cdf = model.step_tables()
        self.next_state = as_tensor(next_state, torch.int64)
        # A joint graph's outcomes are drawn (multipower.envs.dynamics.outcome_step); None: one outcome each.
        self.outcome_cdf = None if outcome_cdf is None else as_tensor(outcome_cdf, torch.float64)
        self.rewards = as_tensor(padded_rewards(rewards), torch.float32)
        self.mask = as_tensor(model.action_mask(self.agent), torch.bool)
        self.n_actions = self.mask.shape[1]  # 5 on a layout; a joint graph's slots otherwise
        self.other_probs = torch.tensor(other, dtype=torch.float32, device=device)  # (K, S, n_other): a joint critic's
        other_cdf = np.cumsum(other, axis=-1)
        self.other_cdf = as_tensor(other_cdf / other_cdf[..., -1:], torch.float32)
        self.mask_t = self.mask.T.contiguous()  # (5, S): gathers by state along a contiguous axis
        # Slip (docs/concepts.md#slip): both agents' effective moves are drawn after their chosen ones.
        self.slip = model.slip > 0.0
        self.slip_cdf = tuple(as_tensor(model.slip_cdf(x), torch.float64) for x in AGENTS) if self.slip else None
        if observation == "index":
            self.n_inputs, self.obs_rows = model.n_states, None  # the one-hot's position is the state itself
        elif not isinstance(model, JointModel):
            raise ValueError("observation: a joint graph's states are observed by index; give observation='index'")
        else:  # one-hot H cell then one-hot A cell: two rows of the first layer
            n = model.n_cells
            self.n_inputs = 2 * n
            self.obs_rows = [as_tensor(r, torch.int64) for r in (model.joint_cells[:, 0], n + model.joint_cells[:, 1])]

    def inputs(self, states):
        """Layer-0 input rows of joint states ``(K, B)``."""
        if self.obs_rows is None:
            return [states]
        return [rows[states] for rows in self.obs_rows]

    def masks(self, states):
        """``(K, n, B)`` availability of each action at joint states ``(K, B)``."""
        K, B = states.shape
        return self.mask_t.index_select(1, states.reshape(-1)).reshape(self.n_actions, K, B).transpose(0, 1)

    def all_states(self):
        import torch

        return torch.arange(self.n_states, device=self.device).expand(self.K, -1)

    def step(self, states, actions, other_actions, t, max_cycles: int, u_H=None, u_A=None, u_outcome=None):
        """One step of every environment: ``(next_state, reward, terminated, truncated)``, each ``(K, E)``.
        With slip, ``u_H``, ``u_A`` ``(K, E)`` are the uniform draws of each agent's effective move; on a joint graph
        with several outcomes per joint action, ``u_outcome`` ``(K, E)`` draws the outcome."""
        a_H, a_A = (actions, other_actions) if self.agent == "H" else (other_actions, actions)
        if self.outcome_cdf is not None:
            reached, terminated, truncated = outcome_step(self.next_state, self.outcome_cdf, self.terminal_state,
                                                          states, (a_H, a_A), u_outcome, t, max_cycles)
            return reached, self.rewards.gather(1, reached), terminated, truncated
        if self.slip:
            reached, terminated, truncated, _, _ = slip_step(self.next_state, self.terminal_state, self.slip_cdf,
                                                             states, (a_H, a_A), (u_H, u_A), t, max_cycles)
            return reached, self.rewards.gather(1, reached), terminated, truncated
        reached, terminated, truncated = joint_step(self.next_state, self.terminal_state, states, a_H, a_A, t, max_cycles)
        return reached, self.rewards.gather(1, reached), terminated, truncated


def _rows(table, states):
    """``table[k, states[k]]`` for every sample: ``table`` ``(K, S, ...)``, ``states`` ``(K, E)`` ->
    ``(K, E, ...)`` (one flat row lookup: measured 4x faster than advanced indexing on the CPU)."""
    import torch

    K, S = table.shape[:2]
    flat = (states + torch.arange(K, device=states.device)[:, None] * S).reshape(-1)
    return table.reshape(K * S, *table.shape[2:]).index_select(0, flat).reshape(*states.shape, *table.shape[2:])


def _categorical(cdf, bits):
    """Inverse-CDF draws: ``cdf`` ``(..., n)`` (non-decreasing), ``bits`` ``(...)``; a zero-probability action
    is never drawn (it would need ``u`` to fall in an empty interval)."""
    u = _uniform(bits)[..., None] * cdf[..., -1:]
    return (cdf <= u).sum(dim=-1).clamp_(max=cdf.shape[-1] - 1)


def _log_probs(nets: Networks, inputs, mask):
    """``(K, n, B)`` log-probabilities of the masked categorical: unavailable moves get probability 0."""
    import torch

    return torch.log_softmax(torch.where(mask, _mlp(nets.pi, inputs), _LOGIT_MASK), dim=1)


def _policy_tables(nets: Networks, batch: Batch):
    """Masked log-probabilities ``(K, S, n)`` and values ``(K, S)`` at every joint state."""
    states = batch.all_states()
    inputs = batch.inputs(states)
    log_probs = _log_probs(nets, inputs, batch.masks(states)).transpose(1, 2).contiguous()
    if nets.critic is not None:
        return log_probs, nets.critic.state_values()
    return log_probs, _mlp(nets.vf, inputs)[:, 0, :]


# ----------------------------------------------------------------------------------------------------------
# Rollouts, advantages and the PPO update.


@dataclass
class Rollout:
    """One rollout of every sample, ``(T, K, E)`` each (``values`` bootstraps include truncations)."""

    states: object
    actions: object
    log_probs: object
    values: object
    rewards: object
    dones: object  # episode ended after this step (terminated or truncated)
    # For a joint critic only (``None`` otherwise):
    others: object = None  # the other agent's move
    arrivals: object = None  # the joint state reached (a crash's sentinel clamped to a state: see ``terminated``)
    arrival_rewards: object = None  # R(s') alone (``rewards`` adds the truncation bootstrap)
    terminated: object = None  # a crash


class Envs:
    """K × E environments' running state: joint state, step count, and the draw counter."""

    def __init__(self, batch: Batch, keys, n_envs: int):
        import torch

        self.batch, self.keys = batch, keys
        self.env = _hash32(torch.arange(n_envs, device=batch.device))
        self.t = torch.zeros(batch.K, n_envs, dtype=torch.int64, device=batch.device)
        self.counter = 0
        self.states = self._starts()

    def _bits(self, tag: int):
        """``(K, E)`` random words of this step and kind of draw: one hash per environment."""
        return _hash32(_mix(self.keys, tag, self.counter)[:, None] ^ self.env)

    def _starts(self):
        return self._bits(_START) % self.batch.n_states

    def rollout(self, log_probs, values, n_steps: int, gamma: float, max_cycles: int, joint: bool = False) -> Rollout:
        """Step all environments ``n_steps`` times under the tabulated policy; ``values`` ``(K, S)``. ``joint``
        also keeps what a joint critic learns from: the other's moves, the states reached, ``R(s')`` alone and
        the crashes."""
        import torch

        batch, probs_cdf = self.batch, torch.cumsum(log_probs.exp(), dim=-1)
        columns = {name: [] for name in ("states", "actions", "log_probs", "values", "rewards", "dones", "others",
                                         "arrivals", "arrival_rewards", "terminated")}
        for _ in range(n_steps):
            s = self.states
            action = _categorical(_rows(probs_cdf, s), self._bits(_ACTION))
            other = _categorical(_rows(batch.other_cdf, s), self._bits(_OTHER))
            slips = (_uniform(self._bits(_SLIP_H)), _uniform(self._bits(_SLIP_A))) if batch.slip else (None, None)
            outcome = _uniform(self._bits(_OUTCOME)).double() if batch.outcome_cdf is not None else None
            reached, reward, terminated, truncated = batch.step(s, action, other, self.t, max_cycles, *slips, outcome)
            # Truncation bootstraps from the value of the state reached (no value after a crash).
            live = reached.clamp(max=batch.n_states - 1)
            bootstrapped = reward + gamma * torch.where(truncated, values.gather(1, live), 0.0)
            done = terminated | truncated
            self.counter += 1
            self.states = torch.where(done, self._starts(), reached)
            self.t = torch.where(done, 0, self.t + 1)
            log_prob = _rows(log_probs, s).gather(-1, action[..., None])[..., 0]
            row = (s, action, log_prob, values.gather(1, s), bootstrapped, done, other, live, reward, terminated)
            for name, value in zip(columns, row if joint else row[:6]):
                columns[name].append(value)
        return Rollout(**{name: torch.stack(column) if column else None for name, column in columns.items()})


def advantages(rollout: Rollout, last_values, gamma: float, gae_lambda: float):
    """GAE(λ) advantages and returns ``(T, K, E)`` (SB3's recursion; ``last_values`` ``(K, E)``)."""
    import torch

    adv = torch.zeros_like(rollout.rewards)
    running = torch.zeros_like(last_values)
    next_values = last_values
    for step in reversed(range(len(rollout.rewards))):
        live = (~rollout.dones[step]).float()
        delta = rollout.rewards[step] + gamma * next_values * live - rollout.values[step]
        running = delta + gamma * gae_lambda * live * running
        adv[step] = running
        next_values = rollout.values[step]
    return adv, adv + rollout.values


def _per_sample(x):
    """``(T, K, E)`` rollout columns as ``(K, T·E)``: each sample's transitions in one row."""
    return x.permute(1, 0, 2).reshape(x.shape[1], -1)


class JointCritic:
    """A joint-action critic: a table ``Q(s, a, o)`` ``(K, S, n, n_other)`` over the learner's move ``a`` and the other
    agent's ``o``, for worlds where every joint move has one outcome (``PPOConfig.joint_critic``).

    The other agent's policy ``π_o`` is a given of the stage (the seed policy, or frozen H), and the learner sees
    the other's move, as a joint-action learner does (Claus & Boutilier 1998). A transition ``(s, a, o, s')`` has
    the target ``R(s') + γ max_a' Q̄(s', a')`` with ``Q̄(s, a) = Σ_o π_o(o|s) Q(s, a, o)`` (no bootstrap after a
    crash), which carries no noise from either agent's moves: the table takes it outright, as Q-learning with step
    size 1 does. The actor's advantage is then conditioned on the other's move,
    ``Q(s, a, o) − Σ_a' π(a'|s) Q(s, a', o)``, whose mean over ``o`` is ``Q̄(s, a) − Σ_a' π(a'|s) Q̄(s, a')``.
    docs/learning.md#ppo-joint-critic gives the measurements behind each choice.
    """

    def __init__(self, batch: Batch):
        import torch

        self.other, self.mask = batch.other_probs, batch.mask[None]
        K, S, n_other = self.other.shape
        self.q = torch.zeros(K, S, batch.n_actions, n_other, device=batch.device)
        self.started = False

    def joint_values(self):
        """``Q̄`` ``(K, S, n)``: the other's move averaged out under its policy."""
        return (self.q * self.other[:, :, None, :]).sum(dim=-1)

    def state_values(self):
        """``max_a Q̄(s, a)`` over available moves, ``(K, S)``: the value of acting greedily from ``s``."""
        return self.joint_values().masked_fill(~self.mask, -math.inf).max(dim=-1).values

    def fit(self, rollout: Rollout, gamma: float, sweeps: int) -> None:
        """``sweeps`` passes of ``Q(s, a, o) ← R(s') + γ max_a' Q̄(s', a')`` over the rollout's transitions (each
        pass carries values one step further back). One outcome per joint move makes every copy of a
        transition's target equal, so assignment needs no averaging. The first rollout sets the whole table to
        its mean reward times ``1/(1 − γ)``, the level of the values (a start at 0 measured the same within the
        spread of runs: docs/learning.md#ppo-joint-critic)."""
        K, _, n, n_other = self.q.shape
        index = _per_sample((rollout.states * n + rollout.actions) * n_other + rollout.others)
        arrivals, rewards = _per_sample(rollout.arrivals), _per_sample(rollout.arrival_rewards)
        live = (~_per_sample(rollout.terminated)).float()
        if not self.started:
            self.q += (rewards.mean(dim=1) / (1.0 - gamma))[:, None, None, None]
            self.started = True
        table = self.q.view(K, -1)
        for _ in range(sweeps):
            table.scatter_(1, index, rewards + gamma * live * self.state_values().gather(1, arrivals))

    def advantages(self, rollout: Rollout, log_probs):
        """``Q(s, a, o) − Σ_a' π(a'|s) Q(s, a', o)`` ``(T, K, E)`` of the rollout's transitions, ``π`` the rollout's
        policy (``log_probs`` ``(K, S, n)``)."""
        T, K, E = rollout.states.shape
        states, others = _per_sample(rollout.states), _per_sample(rollout.others)
        q = _rows(self.q.transpose(2, 3), states)  # (K, N, n_other, n)
        q = q.gather(2, others[:, :, None, None].expand(-1, -1, 1, q.shape[-1]))[:, :, 0, :]  # (K, N, n): o given
        baseline = (_rows(log_probs.exp(), states) * q).sum(dim=-1)
        adv = q.gather(2, _per_sample(rollout.actions)[..., None])[..., 0] - baseline
        return adv.reshape(K, T, E).permute(1, 0, 2)


class Minibatch(NamedTuple):
    """``(K, B)`` torch tensors of a minibatch: per sample, ``B`` transitions of the rollout."""

    states: object
    actions: object
    old_log_probs: object
    old_values: object
    advantages: object
    returns: object


def ppo_losses(nets: Networks, batch: Batch, minibatch: Minibatch, config: PPOConfig, with_value: bool = True):
    """Per-sample PPO losses ``(K,)`` on a ``Minibatch`` ``(K, B)``: ``(policy, value, entropy)``.

    As SB3's ``PPO.train``: ``policy = −mean(min(A·ρ, A·clip(ρ, 1 ± ε)))`` with ``ρ = π(a|s)/π_old(a|s)`` and
    ``A`` normalised per minibatch; ``value = mean((R − V)²)`` with ``V`` optionally clipped around the
    rollout's value; ``entropy = −mean(H(π(·|s)))`` over available actions.
    """
    import torch

    states, actions, old_log_probs, old_values, adv, returns = minibatch
    inputs, mask = batch.inputs(states), batch.masks(states)
    log_probs = _log_probs(nets, inputs, mask)  # (K, n, B)
    new_log_prob = log_probs.gather(1, actions[:, None, :])[:, 0, :]
    if config.normalize_advantage and adv.shape[1] > 1:
        adv = (adv - adv.mean(dim=1, keepdim=True)) / (adv.std(dim=1, keepdim=True) + 1e-8)
    ratio = torch.exp(new_log_prob - old_log_probs)
    clipped = torch.clamp(ratio, 1.0 - config.clip_range, 1.0 + config.clip_range)
    policy_loss = -torch.min(adv * ratio, adv * clipped).mean(dim=1)
    if with_value:
        values = _mlp(nets.vf, inputs)[:, 0, :]
        if config.clip_range_vf is not None:
            values = old_values + torch.clamp(values - old_values, -config.clip_range_vf, config.clip_range_vf)
        value_loss = ((returns - values) ** 2).mean(dim=1)
    else:  # the joint critic is a table fitted outside the loss (``JointCritic.fit``)
        value_loss = torch.zeros_like(policy_loss)
    p_log_p = torch.where(mask, log_probs.exp() * log_probs, 0.0)
    entropy_loss = p_log_p.sum(dim=1).mean(dim=1)  # = −mean entropy
    return policy_loss, value_loss, entropy_loss


def _clip_grad_norms(params: list, max_norm: float) -> None:
    """Rescale each sample's gradient (leading axis) to at most ``max_norm`` (SB3's ``clip_grad_norm_``)."""
    import torch

    sq = sum(p.grad.reshape(p.shape[0], -1).pow(2).sum(dim=1) for p in params)
    scale = torch.clamp(max_norm / (sq.sqrt() + 1e-6), max=1.0)
    for p in params:
        p.grad.mul_(scale.reshape(-1, *([1] * (p.dim() - 1))))


def _schedule(update: int, config: PPOConfig) -> float:
    """Fraction of training left after update ``update``'s rollout (SB3's ``progress_remaining``), at least 0."""
    return max(0.0, 1.0 - (update + 1) * config.rollout_size / config.total_timesteps)


@dataclass
class UpdateStats:
    """Per-sample losses ``(K,)`` of one update, averaged over its minibatches, and the update's schedule."""

    policy_loss: np.ndarray
    value_loss: np.ndarray
    entropy_loss: np.ndarray
    learning_rate: float
    ent_coef: float


def train_agents(
    problem: StageProblem,
    keys,
    config: PPOConfig,
    device="cpu",
    callback: Optional[Callable[[int, "Networks", UpdateStats], None]] = None,
) -> Networks:
    """Train one agent's PPO networks for K reward samples at once; returns the trained ``Networks``.

    Args:
        problem: The stage (``multipower.envs.problem.StageProblem``): the joint model, the learner's ``(K, S)``
            rewards (one row per sample) and discount, the learner ``"H"`` or ``"A"``, and the other agent's
            ``(S, n)`` (shared, e.g. the seed policy) or ``(K, S, n)`` (e.g. frozen H per sample) fixed policy.
        keys: ``(K,)`` random-stream keys from ``sample_keys``.
        config: Hyperparameters; the fields left to the discount are filled for ``gamma``
            (``PPOConfig.for_gamma``).
        device: ``"cpu"``, ``"cuda"`` or a ``torch.device``.
        callback: Called after every update with ``(update, networks, stats)``.
    """
    import torch

    model, gamma = problem.model, problem.gamma
    config = config.for_gamma(gamma, model.deterministic)
    device = torch.device(device)
    batch = Batch(model, problem.rewards, problem.agent, problem.other_policy, config.observation, device)
    keys = keys.to(device)
    check_network_memory(batch.K, batch.n_inputs, config.net_arch, model.n_states, config)
    nets = init_networks(keys, batch.n_inputs, config.net_arch, device, batch.n_actions)
    nets.critic = JointCritic(batch) if config.joint_critic else None
    critic = nets.critic
    params = nets.parameters()
    optimizer = torch.optim.Adam(params, lr=config.learning_rate, eps=config.adam_eps)
    envs = Envs(batch, keys, config.n_envs)
    n = config.rollout_size
    positions = _hash32(torch.arange(n, device=device))
    for update in range(config.n_updates):
        progress = _schedule(update, config)
        lr = config.learning_rate * (progress if config.anneal_lr else 1.0)
        ent_coef = config.ent_coef * (progress if config.anneal_ent else 1.0)
        with torch.no_grad():
            log_probs, values = _policy_tables(nets, batch)
            joint = critic is not None
            rollout = envs.rollout(log_probs, values, config.n_steps, gamma, config.max_cycles, joint=joint)
            if critic is None:
                adv, returns = advantages(rollout, values.gather(1, envs.states), gamma, config.gae_lambda_at(update))
            else:  # as many sweeps as the actor takes gradient steps
                critic.fit(rollout, gamma, config.n_epochs * math.ceil(n / config.batch_size))
                adv, returns = critic.advantages(rollout, log_probs), None
        columns = (rollout.states, rollout.actions, rollout.log_probs, rollout.values, adv,
                   adv if returns is None else returns)
        data = [_per_sample(x) for x in columns]
        for group in optimizer.param_groups:
            group["lr"] = lr
        totals = torch.zeros(3, batch.K, device=device)
        n_minibatches = 0
        for epoch in range(config.n_epochs):
            order = torch.argsort(_hash32(_mix(keys, _SHUFFLE, update, epoch)[:, None] ^ positions), dim=1, stable=True)
            for start in range(0, n, config.batch_size):
                idx = order[:, start : start + config.batch_size]
                mb = [x.gather(1, idx) for x in data]
                policy_loss, value_loss, entropy_loss = ppo_losses(nets, batch, Minibatch(*mb), config,
                                                                   with_value=critic is None)
                loss = policy_loss + ent_coef * entropy_loss + config.vf_coef * value_loss
                optimizer.zero_grad(set_to_none=False)
                loss.sum().backward()  # a sum: sample k's gradient is its own loss's
                _clip_grad_norms(params, config.max_grad_norm)
                optimizer.step()
                totals += torch.stack([policy_loss, value_loss, entropy_loss]).detach()
                n_minibatches += 1
        if callback is not None:
            stats = (totals / n_minibatches).cpu().numpy()
            callback(update, nets, UpdateStats(*stats, learning_rate=lr, ent_coef=ent_coef))
    return nets


def greedy_tables(nets: Networks, model: JointWorld, agent: str, observation: str, device="cpu") -> np.ndarray:
    """``(K, S, n)`` one-hot greedy policies: the most probable available action at every joint state."""
    return _one_hot_argmax(_tables(nets, model, agent, observation, device)[0])


def _one_hot_argmax(log_probs) -> np.ndarray:
    """``(K, S, n)`` one-hot tables of the most probable action of ``log_probs`` (a torch tensor)."""
    table = np.zeros(tuple(log_probs.shape))
    np.put_along_axis(table, log_probs.argmax(dim=-1).cpu().numpy()[..., None], 1.0, axis=-1)
    return table


def _tables(nets: Networks, model: JointWorld, agent: str, observation: str, device):
    """The networks' log-probabilities ``(K, S, n)`` and critic values ``(K, S)`` at every joint state."""
    import torch

    K = nets.pi[0][0].shape[0]
    batch = Batch(model, np.zeros((K, model.n_states)), agent, None, observation, torch.device(device))
    with torch.no_grad():
        return _policy_tables(nets, batch)


@dataclass
class TwoStagePPO:
    """Greedy policies ``(K, S, n)`` of both agents and the seconds each stage took."""

    policy_H: np.ndarray
    policy_A: np.ndarray
    seconds_H: float
    seconds_A: float


def train_two_stage(
    problem: TwoStageProblem,
    config: PPOConfig,
    seed: int,
    sample_indices: Sequence[int],
    device="cpu",
    callback: Optional[Callable[[str, int, "Networks", UpdateStats], None]] = None,
    before_A: Optional[Callable[[np.ndarray], None]] = None,
) -> TwoStagePPO:
    """H learns against ``seed_policy``; its greedy policy is frozen; A learns against it. Batched over samples.

    Args:
        problem: The joint model, the samples' ``(K, S)`` reward functions, the discounts and A's policy while H
            learns (``multipower.envs.problem.TwoStageProblem``).
        config: The hyperparameters (filled per agent's discount by ``train_agents``).
        seed: The run's seed; with ``sample_indices`` ``(K,)`` it fixes every draw of each sample.
        callback: Called after every update with ``(agent, update, networks, stats)``.
        before_A: Called with H's frozen greedy policy ``(K, S, n)`` before A starts learning.
    """
    out, model = {}, problem.model
    other = problem.seed_table()
    for agent, rewards, gamma in (("H", problem.R_H, problem.gamma_H), ("A", problem.R_A, problem.gamma_A)):
        if agent == "A" and before_A is not None:
            before_A(other)
        start = time.perf_counter()
        keys = sample_keys(seed, sample_indices, agent)
        hook = None if callback is None else (lambda u, n, s, agent=agent: callback(agent, u, n, s))
        nets = train_agents(StageProblem(model, rewards, gamma, agent, other), keys, config, device, hook)
        out[agent] = greedy_tables(nets, model, agent, config.observation, device)
        out[f"seconds_{agent}"] = time.perf_counter() - start
        other = out[agent]
    return TwoStagePPO(out["H"], out["A"], out["seconds_H"], out["seconds_A"])


# ----------------------------------------------------------------------------------------------------------
# One chunk of samples (the training driver, ``multipower.learned.training``, runs the chunks), and TensorBoard.


def train_chunk(task: ChunkTask, progress: Optional[Progress] = None) -> dict[str, np.ndarray]:
    """Both stages of the chunk's samples as one batched computation (``train_two_stage``).

    Args:
        task: The chunk; ``task.settings`` is a ``PPOConfig``, ``task.device`` the torch device. With
            ``task.tensorboard``, one TensorBoard run per agent (``TENSORBOARD/H``, ``TENSORBOARD/A``) gets, per
            update, the mean and the 10 % / 90 % quantiles across the chunk's samples of the policy, value and
            entropy losses, and, with ``task.reference``, of the fraction of states where the greedy action is
            optimal and of the critic's error in POWER units.
        progress: Called with ``k`` (the chunk's samples) after every update of either agent: the unit is one
            update of one sample's agent (``updates_per_sample`` per sample).

    Returns:
        ``policy_H``, ``policy_A`` ``(k, S, n)`` greedy policies and ``seconds`` ``(k, 2)`` per stage.
    """
    board = None if task.tensorboard is None else _ChunkBoard(task)
    k = task.stop - task.start

    def callback(agent, update, nets, stats):
        if progress is not None:
            progress(k)
        if board is not None:
            board.record(agent, update, nets, stats)

    try:
        if board is not None:
            board.open("H", task.R_H, task.gamma_H, task.seed_policy)
        hook = callback if (progress is not None or board is not None) else None
        run = train_two_stage(
            task.problem, task.settings, task.seed, task.samples, task.device, hook,
            before_A=None if board is None else (lambda policy_H: board.open("A", task.R_A, task.gamma_A, policy_H)),
        )
    finally:
        if board is not None:
            board.close()
    return {"policy_H": run.policy_H, "policy_A": run.policy_A,
            "seconds": per_sample_seconds(k, run.seconds_H, run.seconds_A)}


def updates_per_sample(config: PPOConfig, gamma_H: float, gamma_A: float) -> int:
    """Updates of both agents of one sample: H's at ``γ_H`` plus A's at ``γ_A`` (``PPOConfig.for_gamma``)."""
    return config.for_gamma(gamma_H).n_updates + config.for_gamma(gamma_A).n_updates


class _ChunkBoard:
    """Per-update TensorBoard scalars of one chunk: a run per agent (see ``train_chunk``)."""

    def __init__(self, task: ChunkTask) -> None:
        self.task = task
        self.writers, self.exact_q, self.gamma = {}, {}, {}

    def open(self, agent: str, rewards: np.ndarray, gamma: float, other: np.ndarray) -> None:
        """Start ``agent``'s run; with a reference, find its exact optimal actions against ``other``."""
        from torch.utils.tensorboard import SummaryWriter

        self.writers[agent], self.gamma[agent] = SummaryWriter(f"{self.task.tensorboard}/{agent}"), gamma
        if self.task.reference is not None:
            self.exact_q[agent] = self.task.reference(self.task.model, rewards, gamma, agent, other)

    def record(self, agent: str, update: int, nets: Networks, stats: UpdateStats) -> None:
        gamma, config, model = self.gamma[agent], self.task.settings, self.task.model
        writer, step = self.writers[agent], (update + 1) * config.for_gamma(gamma).rollout_size
        scalars = {f"train/{name}": getattr(stats, name) for name in ("policy_loss", "value_loss", "entropy_loss")}
        if agent in self.exact_q:
            log_probs, values = _tables(nets, model, agent, config.observation, nets.pi[0][0].device)
            greedy, mask = _one_hot_argmax(log_probs), model.action_mask(agent)
            scalars["accuracy/greedy_optimal_fraction"] = optimal_mask(greedy, self.exact_q[agent], mask).mean(axis=1)
            # The critic against the optimal value, in POWER units ((1 − γ)·V): large values are learned slowly
            optimum = np.where(mask, self.exact_q[agent], -np.inf).max(axis=-1)
            scalars["accuracy/value_error"] = (1 - gamma) * np.abs(values.cpu().numpy() - optimum).mean(axis=1)
        for tag, values in scalars.items():  # per sample: the mean and the 10 % / 90 % quantiles
            writer.add_scalar(tag, float(np.mean(values)), step)
            writer.add_scalar(f"{tag}_p10", float(np.quantile(values, 0.1)), step)
            writer.add_scalar(f"{tag}_p90", float(np.quantile(values, 0.9)), step)
        writer.add_scalar("train/learning_rate", stats.learning_rate, step)
        writer.add_scalar("train/ent_coef", stats.ent_coef, step)

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
