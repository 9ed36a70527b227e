"""Reward distributions and correlated reward pairs (docs/concepts.md#rewards).

A reward function assigns a number to every state. :class:`RewardSampler` draws the pair
``(R_H, R_A)`` of sample ``i`` from a generator seeded by ``(seed, i // BLOCK)``, so the same seed gives
the same reward functions however a run is chunked, and the exact and learned estimators can share them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

import numpy as np

from envs.model import JointModel

BLOCK = 1024  # samples drawn per generator; fixed so that chunking never changes the draws

Sampler = Callable[[np.random.Generator, tuple], np.ndarray]


@dataclass(frozen=True)
class RewardDistribution:
    """An iid distribution of reward values.

    Attributes:
        name: Label saved with results.
        sampler: ``sampler(rng, shape) -> array`` of iid values.
        bounds: ``(lo, hi)`` if the distribution is symmetric on ``[lo, hi]`` (needed for ``β < 0``).
        params: Parameters, saved with results.
    """

    name: str
    sampler: Sampler = field(repr=False)
    bounds: Optional[tuple[float, float]] = None
    params: dict = field(default_factory=dict)

    def sample(self, rng: np.random.Generator, shape: tuple) -> np.ndarray:
        return np.asarray(self.sampler(rng, shape), dtype=np.float64)

    def mirror(self, values: np.ndarray) -> np.ndarray:
        """``lo + hi - values``: the anti-correlated draw used for ``β < 0``."""
        if self.bounds is None:
            raise ValueError(
                f"correlation < 0 needs a distribution symmetric on [lo, hi]; {self.name!r} is not"
            )
        lo, hi = self.bounds
        return lo + hi - values

    def to_config(self) -> dict:
        return {"name": self.name, **self.params}


@dataclass(frozen=True)
class _BuiltinSampler:
    """``sampler(rng, shape)`` of a built-in distribution: a plain object (not a closure), so distributions, and
    the environments that hold them, pickle and compare equal when their parameters are equal."""

    kind: str
    a: float
    b: float = 0.0

    def __call__(self, rng: np.random.Generator, shape: tuple) -> np.ndarray:
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b, shape)
        if self.kind == "beta":
            return rng.beta(self.a, self.b, shape)
        if self.kind == "bernoulli":
            return (rng.random(shape) < self.a).astype(np.float64)
        if self.kind == "pareto":
            return self.b * (1.0 + rng.pareto(self.a, shape))
        raise ValueError(f"unknown built-in sampler {self.kind!r}")


def uniform(low: float = 0.0, high: float = 1.0) -> RewardDistribution:
    if not high > low:
        raise ValueError(f"uniform rewards need high > low, got low={low}, high={high}")
    return RewardDistribution("uniform", _BuiltinSampler("uniform", low, high), (low, high), {"low": low, "high": high})


def beta(a: float = 1.0, b: float = 1.0) -> RewardDistribution:
    if a <= 0 or b <= 0:
        raise ValueError(f"beta rewards need a > 0 and b > 0, got a={a}, b={b}")
    bounds = (0.0, 1.0) if a == b else None
    return RewardDistribution("beta", _BuiltinSampler("beta", a, b), bounds, {"a": a, "b": b})


def bernoulli(p: float = 0.1) -> RewardDistribution:
    if not 0 <= p <= 1:
        raise ValueError(f"bernoulli rewards need p in [0, 1], got p={p}")
    bounds = (0.0, 1.0) if p == 0.5 else None
    return RewardDistribution("bernoulli", _BuiltinSampler("bernoulli", p), bounds, {"p": p})


def pareto(alpha: float = 2.0, scale: float = 1.0) -> RewardDistribution:
    """Pareto (power-law) values ``scale * (1 + Lomax(alpha))``, support ``[scale, inf)``."""
    if alpha <= 0 or scale <= 0:
        raise ValueError(f"pareto rewards need alpha > 0 and scale > 0, got alpha={alpha}, scale={scale}")
    return RewardDistribution("pareto", _BuiltinSampler("pareto", alpha, scale), None, {"alpha": alpha, "scale": scale})


def custom(sampler: Sampler, name: str = "custom", bounds: Optional[tuple[float, float]] = None) -> RewardDistribution:
    """A user-supplied sampler ``sampler(rng, shape)``; give ``bounds`` if it is symmetric on them.

    To send an environment that uses it to another process (``pickle``), make ``sampler`` a module-level function
    or an instance of a module-level class, not a lambda or a nested function.
    """
    return RewardDistribution(name, sampler, bounds)


DISTRIBUTIONS = {"uniform": uniform, "beta": beta, "bernoulli": bernoulli, "pareto": pareto}


def make_distribution(spec: "str | dict | RewardDistribution | None" = None) -> RewardDistribution:
    """A distribution from a name, a config dict ``{"name": ..., **params}``, or a distribution."""
    if spec is None:
        return uniform()
    if isinstance(spec, RewardDistribution):
        return spec
    params = {"name": spec} if isinstance(spec, str) else dict(spec)
    name = params.pop("name", None)
    if name not in DISTRIBUTIONS:
        raise ValueError(f"reward distribution must be one of {tuple(DISTRIBUTIONS)}, got {name!r}")
    return DISTRIBUTIONS[name](**params)


def check_correlation(correlation: float, distribution: RewardDistribution) -> float:
    if not -1.0 <= correlation <= 1.0:
        raise ValueError(f"correlation (beta) must be in [-1, 1], got {correlation}")
    if correlation < 0:
        distribution.mirror(np.zeros(1))  # raises for an asymmetric distribution
    return float(correlation)


class RewardSampler:
    """Reward pairs ``(R_H, R_A)`` over ``n_states`` states, reproducible per sample index.

    Args:
        n_states: States per reward function.
        distribution: A :class:`RewardDistribution`, a name, or a config dict (uniform [0, 1] by default).
        correlation: ``β`` in ``[-1, 1]``: per state, with probability ``|β|`` ``R_A = R_H``
            (mirrored for ``β < 0``), otherwise drawn afresh.
        seed: Fixes every draw.
        redraw_constant: Redraw a reward function whose values are all equal.
    """

    def __init__(
        self,
        n_states: int,
        distribution=None,
        correlation: float = 0.0,
        seed: int = 0,
        redraw_constant: bool = False,
    ) -> None:
        self.n_states = int(n_states)
        self.distribution = make_distribution(distribution)
        self.correlation = check_correlation(correlation, self.distribution)
        self.seed = int(seed)
        self.redraw_constant = bool(redraw_constant)
        self._last_block: tuple[int, tuple[np.ndarray, np.ndarray]] = (-1, ())  # chunks smaller than BLOCK share one draw

    def pairs(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """``R_H, R_A`` of samples ``start .. stop - 1``, each ``(stop - start, n_states)``."""
        if not 0 <= start <= stop:
            raise ValueError(f"need 0 <= start <= stop, got start={start}, stop={stop}")
        blocks = [self._block(b) for b in range(start // BLOCK, -(-stop // BLOCK))]
        offset = (start // BLOCK) * BLOCK
        r_h = np.concatenate([b[0] for b in blocks])[start - offset : stop - offset]
        r_a = np.concatenate([b[1] for b in blocks])[start - offset : stop - offset]
        return r_h, r_a

    def _block(self, block: int) -> tuple[np.ndarray, np.ndarray]:
        if self._last_block[0] != block:
            self._last_block = (block, self.draw(np.random.default_rng([self.seed, block]), BLOCK))
        return self._last_block[1]

    def draw(self, rng: np.random.Generator, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """``R_H, R_A`` ``(n_samples, n_states)`` drawn from ``rng`` (not indexed by sample; ``pairs`` is).

        The same scheme as :meth:`pairs` without drawing a whole block: for one reward pair of a big world.
        """
        shape = (int(n_samples), self.n_states)
        r_h = self._draw(rng, shape)
        fresh = self._draw(rng, shape)
        tied = rng.random(shape) < abs(self.correlation)
        copied = self.distribution.mirror(r_h) if self.correlation < 0 else r_h
        return r_h, np.where(tied, copied, fresh)

    def _draw(self, rng: np.random.Generator, shape: tuple) -> np.ndarray:
        values = self.distribution.sample(rng, shape)
        for _ in range(100):
            constant = np.ptp(values, axis=1) == 0 if self.redraw_constant else np.zeros(len(values), bool)
            if not constant.any() or values.shape[1] < 2:
                return values
            values[constant] = self.distribution.sample(rng, (int(constant.sum()), shape[1]))
        raise ValueError(f"could not draw a non-constant reward function from {self.distribution.name!r}")

    def to_config(self) -> dict:
        return {
            "distribution": self.distribution.to_config(),
            "correlation": self.correlation,
            "seed": self.seed,
            "redraw_constant": self.redraw_constant,
        }


#: One agent's rewards for :func:`joint_rewards`: a number, per-cell values, an ``(h, a)`` table or a function.
CellRewards = Union[float, np.ndarray, Callable[[tuple, tuple], float]]


def joint_rewards(model: Any, H: CellRewards, A: CellRewards) -> dict[str, np.ndarray]:
    """Both agents' reward tables ``{"H": (n_states,), "A": (n_states,)}`` over the joint states of ``model``.

    The joint states, and so the length of the tables, depend on the collision rule (81 on grid3x3 under
    ``"none"``, 72 under ``"crash"``); this builds the tables from values that do not, ready for
    ``maze_v1.parallel_env(rewards=...)`` or ``reset(options={"rewards": ...})``.

    Args:
        model: A :class:`~envs.model.JointModel`, or an environment that has one as ``.model``.
        H, A: Each agent's reward, in any of these forms:

            * a number: the same in every joint state;
            * ``(n_cells,)`` values per cell (in the layout's cell order): the agent's reward for the cell it is
              on (``R_H(h, a) = H[h]``, ``R_A(h, a) = A[a]``);
            * ``(n_cells, n_cells)`` values indexed ``[h_cell, a_cell]`` (both agents' cells, for either agent);
            * a function ``f(h, a) -> float`` of H's and A's cells as ``(row, col)`` tuples.

    Returns:
        ``{"H": R_H, "A": R_A}``, float64 arrays of shape ``(model.n_states,)``.
    """
    model = getattr(model, "model", model)
    if not isinstance(model, JointModel):
        raise ValueError(f"model must be a JointModel or an environment with .model, got {type(model).__name__}")
    h, a = model.joint_cells[:, 0], model.joint_cells[:, 1]
    n = model.n_cells
    cells = [tuple(int(x) for x in cell) for cell in model.layout.cells]

    def table(value: CellRewards, agent: str) -> np.ndarray:
        if callable(value):
            out = np.array([float(value(cells[i], cells[j])) for i, j in zip(h, a)], dtype=np.float64)
        else:
            array = np.asarray(value, dtype=np.float64)
            if array.ndim == 0:
                out = np.full(model.n_states, float(array))
            elif array.shape == (n,):
                out = array[h if agent == "H" else a]
            elif array.shape == (n, n):
                out = array[h, a]
            else:
                raise ValueError(
                    f"{agent} must be a number, ({n},) per-cell values, ({n}, {n}) values indexed [h_cell, a_cell] "
                    f"or a function f(h, a); got shape {array.shape}"
                )
        if not np.isfinite(out).all():
            raise ValueError(f"{agent}'s rewards must be finite")
        return out

    return {"H": table(H, "H"), "A": table(A, "A")}
