"""Reward distributions and correlated reward pairs (docs/concepts.md#rewards).

A reward function assigns a number to every state. ``RewardSampler`` draws the pair
``(R_H, R_A)`` of sample ``i`` from its own random stream, a Philox counter-based generator keyed by
``(seed, i)``: the draws depend on the run's specification (seed, distribution, correlation, state count)
alone, never on how many samples are drawn at once, the chunk size, the number of jobs or the memory budget,
and drawing ``k`` samples holds ``O(k · n_states)`` numbers, whatever ``k`` is.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Union

import numpy as np

from multipower.envs.model import JointModel
from multipower.envs import validation
from multipower.envs.validation import as_numbers, check_seed

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
    #: ``values = from_doubles(u)`` where ``sampler(rng, shape)`` is exactly that function of
    #: ``u = rng.random(shape)`` (uniform, Bernoulli): lets ``RewardSampler`` draw many samples' streams
    #: in one compiled loop. None: draws go through ``sampler``.
    from_doubles: Optional[Callable[[np.ndarray], np.ndarray]] = field(default=None, repr=False, compare=False)

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

    def from_doubles(self, u: np.ndarray) -> np.ndarray:
        """The same values as ``__call__`` as a function of ``u = rng.random(shape)`` (uniform, Bernoulli:
        numpy's uniform is ``low + (high - low) * next_double``)."""
        if self.kind == "uniform":
            return self.a + (float(self.b) - float(self.a)) * u
        if self.kind == "bernoulli":
            return (u < self.a).astype(np.float64)
        raise ValueError(f"{self.kind!r} values are not a function of one double")


def _finite(*values) -> bool:
    """All ``values`` are real numbers (not bools, not text) and finite."""
    return all(not isinstance(v, bool) and isinstance(v, (int, float, np.integer, np.floating)) and np.isfinite(v)
               for v in values)


def uniform(low: float = 0.0, high: float = 1.0) -> RewardDistribution:
    if not (_finite(low, high) and high > low):
        raise ValueError(f"uniform rewards need finite low < high, got low={low!r}, high={high!r}")
    sampler = _BuiltinSampler("uniform", low, high)
    return RewardDistribution("uniform", sampler, (low, high), {"low": low, "high": high}, sampler.from_doubles)


def beta(a: float = 1.0, b: float = 1.0) -> RewardDistribution:
    if not (_finite(a, b) and a > 0 and b > 0):
        raise ValueError(f"beta rewards need finite a > 0 and b > 0, got a={a!r}, b={b!r}")
    bounds = (0.0, 1.0) if a == b else None
    return RewardDistribution("beta", _BuiltinSampler("beta", a, b), bounds, {"a": a, "b": b})


def bernoulli(p: float = 0.1) -> RewardDistribution:
    if not (_finite(p) and 0 <= p <= 1):
        raise ValueError(f"bernoulli rewards need p in [0, 1], got p={p!r}")
    bounds = (0.0, 1.0) if p == 0.5 else None
    sampler = _BuiltinSampler("bernoulli", p)
    return RewardDistribution("bernoulli", sampler, bounds, {"p": p}, sampler.from_doubles)


def pareto(alpha: float = 2.0, scale: float = 1.0) -> RewardDistribution:
    """Pareto (power-law) values ``scale * (1 + Lomax(alpha))``, support ``[scale, inf)``."""
    if not (_finite(alpha, scale) and alpha > 0 and scale > 0):
        raise ValueError(f"pareto rewards need finite alpha > 0 and scale > 0, got alpha={alpha!r}, scale={scale!r}")
    return RewardDistribution("pareto", _BuiltinSampler("pareto", alpha, scale), None, {"alpha": alpha, "scale": scale})


def custom(sampler: Sampler, name: str = "custom", bounds: Optional[tuple[float, float]] = None) -> RewardDistribution:
    """A user-supplied sampler ``sampler(rng, shape)``; give ``bounds`` if it is symmetric on them.

    To send an environment that uses it to another process (``pickle``), make ``sampler`` a module-level function
    or an instance of a module-level class, not a lambda or a nested function.
    """
    return RewardDistribution(name, sampler, bounds)


DISTRIBUTIONS = {"uniform": uniform, "beta": beta, "bernoulli": bernoulli, "pareto": pareto}


#: Draws of a new distribution checked for finite values (``make_distribution``).
PROBE_DRAWS = 4096


#: Largest reward magnitude a distribution may draw: values and their differences over long horizons (up to
#: ``1e6`` times the reward) must stay far from float64's overflow at ``1.8e308``.
MAX_REWARD = 1e150


def make_distribution(spec: "str | dict | RewardDistribution | None" = None) -> RewardDistribution:
    """A distribution from a name, a config dict ``{"name": ..., **params}``, or a distribution."""
    if spec is None:
        return uniform()
    if isinstance(spec, RewardDistribution):
        return spec
    if not isinstance(spec, (str, Mapping)):
        raise ValueError(f"reward distribution must be a name, a mapping or a RewardDistribution, got {spec!r}")
    params = {"name": spec} if isinstance(spec, str) else dict(spec)
    name = params.pop("name", None)
    if name not in DISTRIBUTIONS:
        raise ValueError(f"reward distribution must be one of {tuple(DISTRIBUTIONS)}, got {name!r}")
    allowed = tuple(inspect.signature(DISTRIBUTIONS[name]).parameters)
    for key, value in params.items():
        if key not in allowed:
            raise ValueError(f"{name} rewards have no parameter {key!r}; allowed: {', '.join(allowed)}")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not np.isfinite(value):
            raise ValueError(f"{name} rewards need {key} to be a finite number, got {value!r}")
    distribution = DISTRIBUTIONS[name](**params)
    # Parameters whose draws overflow (Pareto with a tiny alpha, uniform on ±1e308) are refused here, before any
    # run starts, not when the first non-finite reward reaches the solver.
    shown = ", ".join(f"{k}={v}" for k, v in params.items()) or "these parameters"
    try:
        with np.errstate(all="ignore"):
            probe = distribution.sample(np.random.default_rng(0), (PROBE_DRAWS,))
    except (OverflowError, ValueError) as error:
        raise ValueError(f"{name} rewards with {shown} cannot be drawn ({error}); choose parameters whose rewards "
                         "are finite numbers") from None
    if not np.isfinite(probe).all():
        raise ValueError(f"{name} rewards with {shown} give non-finite values ({int((~np.isfinite(probe)).sum())} "
                         f"of {PROBE_DRAWS:,} test draws); choose parameters whose rewards are finite numbers")
    if np.abs(probe).max() > MAX_REWARD:
        raise ValueError(f"{name} rewards with {shown} reach {np.abs(probe).max():.3g} in magnitude; rewards must stay "
                         f"within ±{MAX_REWARD:g} so that sums of discounted rewards and their differences stay finite "
                         "(POWER scales with the rewards: rescale them)")
    return distribution


def check_correlation(correlation: float, distribution: RewardDistribution) -> float:
    """``β`` as a float in [-1, 1] (``multipower.envs.validation.check_correlation``); negative only for a
    distribution symmetric on ``[lo, hi]``."""
    correlation = validation.check_correlation(correlation)
    if correlation < 0:
        distribution.mirror(np.zeros(1))  # raises for an asymmetric distribution
    return correlation


class RewardSampler:
    """Reward pairs ``(R_H, R_A)`` over ``n_states`` states, reproducible per sample index.

    Args:
        n_states: States per reward function.
        distribution: A ``RewardDistribution``, a name, or a config dict (uniform [0, 1] by default).
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
        self.seed = check_seed(seed)
        self.redraw_constant = bool(redraw_constant)
        self._key = int(np.random.SeedSequence(self.seed).generate_state(1, np.uint64)[0])

    def rng(self, index: int, reuse: Optional[np.random.Generator] = None) -> np.random.Generator:
        """The random stream of sample ``index``: Philox keyed by ``(seed, index)``, counter 0 (independent
        streams). ``reuse``: a Philox generator from an earlier call, reset in place (constructing one costs
        ten times more than resetting it)."""
        state = {
            "bit_generator": "Philox",
            "state": {"counter": np.zeros(4, np.uint64), "key": np.array([self._key, int(index)], np.uint64)},
            "buffer": np.zeros(4, np.uint64),
            "buffer_pos": 4,
            "has_uint32": 0,
            "uinteger": 0,
        }
        if reuse is None:
            reuse = np.random.Generator(np.random.Philox())
        reuse.bit_generator.state = state
        return reuse

    def pairs(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """``R_H, R_A`` of samples ``start .. stop - 1``, each ``(stop - start, n_states)``.

        Sample ``i`` is drawn from ``rng`` ``(i)`` alone, so any split of a run gives the same pairs.
        """
        if not 0 <= start <= stop:
            raise ValueError(f"need 0 <= start <= stop, got start={start}, stop={stop}")
        if stop > 2**64:
            raise ValueError(f"sample indices must be below 2**64, got stop={stop}")
        fast = self.distribution.from_doubles
        if fast is None:
            redo = range(start, stop)
            r_h = np.empty((stop - start, self.n_states))
            r_a = np.empty((stop - start, self.n_states))
        else:  # the same streams, many samples per compiled call
            r_h, r_a, constant = self._pairs_from_doubles(start, stop, fast)
            redo = [start + int(i) for i in np.flatnonzero(constant)]  # redrawn the generator's way
        rng = None
        for index in redo:
            rng = self.rng(index, rng)
            h, a = self.draw(rng, 1)
            r_h[index - start], r_a[index - start] = h[0], a[0]
        return r_h, r_a

    def _pairs_from_doubles(self, start: int, stop: int, values) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``pairs`` for a distribution that is a function of ``rng.random``, bit for bit, and the rows
        (samples) that ``redraw_constant`` must redraw (left to the generator)."""
        from multipower.envs._philox import doubles

        S, beta = self.n_states, abs(self.correlation)
        parts = 1 if beta == 1.0 else (2 if beta == 0.0 else 3)
        r_h = np.empty((stop - start, S))
        r_a = np.empty((stop - start, S))
        constant = np.zeros(stop - start, dtype=bool)
        check = self.redraw_constant and S > 1
        step = max(1, (1 << 22) // max(1, parts * S))  # bounded temporaries: ~32 MB of doubles at a time
        for lo in range(start, stop, step):
            hi = min(stop, lo + step)
            u = doubles(np.uint64(self._key), np.uint64(lo), hi - lo, parts * S)
            h = values(u[:, :S])
            copied = self.distribution.mirror(h) if self.correlation < 0 else h
            fresh = None if parts == 1 else values(u[:, S:2 * S])
            if parts == 1:
                a = copied
            elif parts == 2:
                a = fresh
            else:
                a = np.where(u[:, 2 * S:] < beta, copied, fresh)
            r_h[lo - start:hi - start], r_a[lo - start:hi - start] = h, a
            if check:
                flat = np.ptp(h, 1) == 0
                if fresh is not None:
                    flat |= np.ptp(fresh, 1) == 0
                constant[lo - start:hi - start] = flat
        return r_h, r_a, constant

    def draw(self, rng: np.random.Generator, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """``R_H, R_A`` ``(n_samples, n_states)`` drawn from ``rng`` (not indexed by sample; ``pairs`` is).

        ``pairs`` draws sample ``i`` as ``draw(rng(i), 1)``: ``R_H``, then (unless ``|β| = 1``) a fresh
        function, then (unless ``β = 0`` or ``|β| = 1``) the per-state coin flips of the correlation.
        """
        shape = (int(n_samples), self.n_states)
        r_h = self._draw(rng, shape)
        copied = self.distribution.mirror(r_h) if self.correlation < 0 else r_h
        beta = abs(self.correlation)
        if beta == 1.0:
            return r_h, copied.copy() if copied is r_h else copied
        fresh = self._draw(rng, shape)
        if beta == 0.0:
            return r_h, fresh
        tied = rng.random(shape) < beta
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


#: One agent's rewards for ``joint_rewards``: a number, per-cell values, an ``(h, a)`` table or a function.
CellRewards = Union[float, np.ndarray, Callable[[tuple, tuple], float]]


def joint_rewards(model: Any, H: CellRewards, A: CellRewards) -> dict[str, np.ndarray]:
    """Both agents' reward tables ``{"H": (n_states,), "A": (n_states,)}`` over the joint states of ``model``.

    The joint states, and so the length of the tables, depend on the collision rule (81 on grid3x3 under
    ``"none"``, 72 under ``"crash"``); this builds the tables from values that do not, ready for
    ``maze_v1.parallel_env(rewards=...)`` or ``reset(options={"rewards": ...})``.

    Args:
        model: A ``JointModel``, or an environment that has one as ``.model``.
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
            array = as_numbers(value, agent)
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


@dataclass(frozen=True)
class RewardDraws:
    """Which reward functions a run averages over: how many, from which distribution, with which seed.

    ``RewardDraws(...).sampler(n_states)`` is the ``RewardSampler`` of a world of ``n_states`` states; sample ``k``
    is the same function for any number of samples drawn.

    Attributes:
        n_samples: Reward functions (pairs, for two agents).
        distribution: A ``RewardDistribution``, a name or a config dict; ``None``: uniform on [0, 1].
        correlation: ``β`` in [-1, 1] between ``R_H`` and ``R_A`` (two agents only).
        seed: Fixes every draw.
        redraw_constant: Redraw a reward function whose values are all equal.
    """

    n_samples: int = 10_000
    distribution: Any = None
    correlation: float = 0.0
    seed: int = 0
    redraw_constant: bool = False

    def __post_init__(self) -> None:
        validation.check_count(self.n_samples, "rewards.n_samples")
        check_seed(self.seed, "rewards.seed")
        if not isinstance(self.redraw_constant, bool):
            raise ValueError(f"rewards.redraw_constant: must be True or False, got {self.redraw_constant!r}")
        check_correlation(self.correlation, make_distribution(self.distribution))  # names the distribution's field

    def sampler(self, n_states: int) -> RewardSampler:
        """The sampler over ``n_states`` states (``ValueError`` naming ``correlation``, ``seed`` or the distribution
        for a bad value)."""
        return RewardSampler(n_states, make_distribution(self.distribution), self.correlation, self.seed,
                             self.redraw_constant)

