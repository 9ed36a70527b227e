"""One run specification: the world, the discounts, the reward functions, the seed policy and the learner.

A ``RunSpec`` is built once at the edge (the command line, a YAML config, or Python), validated once, and
saved beside every result by ``save_spec`` (``spec.json``, stable keys, a format version); ``load_spec``
reads it back, also from folders written before specs existed (from their ``config.json`` or ``summary.json``).

Errors are ``SpecError`` (a ``ValueError``): one line naming the key as the caller spelled it and what is
allowed, e.g. ``'gamma' must be a number in (0, 1), got 1.5``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

import numpy as np

from multipower.envs.layouts import N_ACTIONS, Layout, load_layout, parse_layout
from multipower.envs.memory import joint_state_count
from multipower.envs.model import COLLISIONS, joint_model
from multipower.envs.policies import SEED_POLICIES, SeedPolicy
from multipower.envs.problem import JointWorld
from multipower.envs.rewards import DISTRIBUTIONS, RewardDraws, RewardSampler, make_distribution
from multipower.envs.slip import check_slip
from multipower.envs.serialization import read_json_object, read_npy
from multipower.envs import validation
from multipower.envs.validation import check_fields
from multipower.runs.rundir import atomic_write

#: Version of the ``spec.json`` format; ``load_spec`` refuses others with one line naming it.
SPEC_VERSION = 1
SPEC_FILE = "spec.json"
LEARNERS = ("qlearning", "ppo", "sb3-ppo")
#: Older spellings of keys, as saved configs and the YAML schema write them.
ALIASES = {"gamma": "gamma_H", "samples": "n_samples"}

PathLike = Union[str, Path]


class SpecError(ValueError):
    """A run specification that does not validate; the message names the key."""


def _number(key: str, value, allowed: str = "a number") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise SpecError(f"{key!r} must be {allowed}, got {value!r}")
    return float(value)


def check_discount(key: str, value) -> float:
    """A discount in the open interval (0, 1)."""
    value = _number(key, value, "a number in (0, 1)")
    if not 0.0 < value < 1.0:
        raise SpecError(f"{key!r} must be in (0, 1), got {value}")
    return value


def check_correlation(key: str, value) -> float:
    """A number in [-1, 1] (``multipower.envs.validation.check_correlation``), as a ``SpecError``."""
    value = _number(key, value, "a number in [-1, 1]")
    try:
        return validation.check_correlation(value, repr(key))
    except ValueError as error:
        raise SpecError(str(error)) from None


def check_count(key: str, value, minimum: int = 1) -> int:
    """An integer ``>= minimum`` (``multipower.envs.validation.check_count``), as a ``SpecError``."""
    try:
        return validation.check_count(value, repr(key), minimum)
    except ValueError as error:
        raise SpecError(str(error)) from None


def check_choice(key: str, value, choices: tuple) -> str:
    if value not in choices:
        raise SpecError(f"{key!r} must be one of {choices}, got {value!r}")
    return value


def check_seed_policy(key: str, value) -> str:
    """``uniform``, ``stay``, or the path of an existing ``.npy`` table over joint states or policy graph (``.gv``,
    for a joint graph)."""
    if isinstance(value, str) and (value in SEED_POLICIES or (value.endswith((".npy", ".gv", ".dot"))
                                                              and Path(value).is_file())):
        return value
    raise SpecError(f"{key!r} must be one of {SEED_POLICIES}, an existing .npy file or (with a joint graph) an "
                    f"existing policy graph .gv file, got {value!r}")


def check_seed_policy_file(key: str, path: str, n_states: int, n_actions: int = N_ACTIONS) -> None:
    """A ``.npy`` seed policy: a numeric ``(n_states, n_actions)`` array (read without pickle: a file can run no code)."""
    try:
        table = read_npy(path, repr(key))
    except ValueError as error:
        raise SpecError(str(error)) from None
    if not isinstance(table, np.ndarray) or table.dtype.kind not in "biuf" or table.shape != (n_states, n_actions):
        what = f"{table.dtype} array of shape {table.shape}" if isinstance(table, np.ndarray) else type(table).__name__
        raise SpecError(f"{key!r}: {path} must hold a numeric ({n_states}, {n_actions}) table (joint states x moves), "
                        f"got a {what}")


def check_distribution(key: str, value) -> Union[str, dict]:
    """A distribution name or ``{name: ..., parameters}``, as the reward sampler takes it."""
    try:
        make_distribution(dict(value) if isinstance(value, Mapping) else value)
    except (ValueError, TypeError) as error:
        raise SpecError(f"{key!r}: {error}") from None
    return dict(value) if isinstance(value, Mapping) else value


def check_layout(key: str, value) -> Layout:
    try:
        return load_layout(value)
    except (ValueError, TypeError) as error:
        raise SpecError(f"{key!r}: {error}") from None


@dataclass(frozen=True)
class RunSpec:
    """Everything that fixes a run's numbers (timings and worker counts aside).

    Attributes:
        layout: Built-in name, layout file or layout text (a ``Layout`` is kept as its text, named by its name);
            ``None`` with ``mdp``.
        layout_name: The layout's label in results (default: the built-in name, file stem, or ``"custom"``).
        mdp: A joint MDP graph (docs/graphs.md#joint-graphs) instead of a layout: a built-in graph's name, a
            ``.gv`` file or DOT source, kept as its source (``layout`` is then ``None``; ``collision`` and ``slip``
            must stay ``"none"`` and 0: the graph's transitions are its own).
        mdp_name: The graph's label in results (default: the graph's own name in its DOT source, else the built-in
            name or the file's stem).
        collision: ``"none"``, ``"crash"`` or ``"bounce"``.
        slip: Slip probability in [0, 1] (docs/concepts.md#slip); 0 is the deterministic world.
        gamma_H: H's discount in (0, 1).
        gamma_A: A's discount (``None``: ``gamma_H``; ``discount_A`` resolves it).
        distribution: Reward distribution name or ``{name, parameters}``.
        correlation: ``β`` in [-1, 1] between ``R_H`` and ``R_A``.
        seed: Fixes the reward draws (and the learners' draws).
        n_samples: Reward samples.
        seed_policy: A's seed policy: ``uniform``, ``stay``, a ``.npy`` table, or with ``mdp`` a policy graph
            (``.gv``, docs/graphs.md#joint-graphs).
        redraw_constant: Redraw reward functions whose values are all equal.
        learner: ``None`` (exact solver only), ``"qlearning"``, ``"ppo"`` (batched) or ``"sb3-ppo"``.
        learner_options: Hyperparameter overrides of the learner (``QLearningConfig``, ``PPOConfig`` or
            ``SB3PPOConfig`` fields).
    """

    layout: Union[str, Layout] = "grid3x3"
    layout_name: Optional[str] = None
    collision: str = "none"
    slip: float = 0.0
    gamma_H: float = 0.6
    gamma_A: Optional[float] = None
    distribution: Union[str, dict] = "uniform"
    correlation: float = 0.0
    seed: int = 0
    n_samples: int = 100
    seed_policy: str = "uniform"
    redraw_constant: bool = False
    learner: Optional[str] = None
    learner_options: dict = field(default_factory=dict)
    mdp: Optional[str] = None
    mdp_name: Optional[str] = None

    def __post_init__(self) -> None:
        if self.mdp is not None:
            self._take_graph()
        if isinstance(self.layout, Layout):  # a layout object is kept as its text, named by its name
            if self.layout_name is None:
                object.__setattr__(self, "layout_name", self.layout.name)
            object.__setattr__(self, "layout", self.layout.to_text())
        for name, check in CHECKS.items():
            object.__setattr__(self, name, check(name, getattr(self, name)))
        if self.layout_name is None and self.mdp is None:
            object.__setattr__(self, "layout_name", load_layout(self.layout).name)
        check_learner_options(self.learner, self.learner_options)
        if self.seed_policy.endswith(".npy"):
            if self.mdp is not None:  # over the graph's states and A's action slots
                check_seed_policy_file("seed_policy", self.seed_policy, *self.model().action_mask_A.shape)
            else:
                check_seed_policy_file("seed_policy", self.seed_policy, joint_state_count(self.layout, self.collision))
        elif self.seed_policy.endswith(GRAPH_SUFFIXES):
            if self.mdp is None:
                raise SpecError(f"'seed_policy' {self.seed_policy!r}: a policy graph is A's seed policy on a joint MDP "
                                "graph ('mdp'); on a layout give uniform, stay or an .npy table")
            self.seed_policy_value()  # a policy graph that does not fit the MDP is refused here, naming the node

    def _take_graph(self) -> None:
        """``mdp`` read as its DOT source and checked as a joint graph; the layout fields cleared."""
        text, name = _graph_source(self.mdp)
        for key, value, default in (("collision", self.collision, "none"), ("slip", self.slip, 0.0)):
            if value != default:
                raise SpecError(f"{key!r} does not apply to a joint MDP graph ('mdp'): its transitions are its own; "
                                f"got {value!r}")
        graph = _graph_world(text, name)  # refused here, in one line, if it is not a joint graph
        object.__setattr__(self, "mdp", text)
        # the graph's own name (its DOT title, else the file's stem), as the graph's results and figures name it
        object.__setattr__(self, "mdp_name", _text("mdp_name", self.mdp_name) if self.mdp_name is not None
                           else graph.name)
        object.__setattr__(self, "layout", None)
        object.__setattr__(self, "layout_name", None)

    @property
    def discount_A(self) -> float:
        return self.gamma_H if self.gamma_A is None else self.gamma_A

    def seed_policy_value(self) -> SeedPolicy:
        """The seed policy as the solver and learners take it: a name, or the ``(S, 5)`` table of the file (an
        ``.npy`` table, or a policy graph over ``mdp``)."""
        if self.seed_policy.endswith(".npy"):
            return read_npy(self.seed_policy, "seed_policy")
        if self.seed_policy.endswith(GRAPH_SUFFIXES):
            from multipower.envs.joint_graph import load_policy_graph

            try:
                return load_policy_graph(self.seed_policy, self.model())
            except ValueError as error:
                raise SpecError(str(error)) from None
        return self.seed_policy

    def layout_object(self) -> Layout:
        """The layout, named ``layout_name``."""
        layout = load_layout(self.layout)
        return layout if layout.name == self.layout_name else Layout(self.layout_name, layout.grid)

    def model(self) -> JointWorld:
        """The world: the layout's ``JointModel``, or the joint graph with one action-slot count for both agents
        (``multipower.envs.joint_graph.JointGraph.with_slots``: what the learners step by; the exact solver
        reads it as the graph itself)."""
        if self.mdp is not None:
            return _graph_world(self.mdp, self.mdp_name)
        return joint_model(self.layout_object(), self.collision, self.slip)

    def draws(self) -> RewardDraws:
        """The reward draws: ``n_samples``, ``distribution``, ``correlation``, ``seed``, ``redraw_constant``."""
        return RewardDraws(self.n_samples, self.distribution, self.correlation, self.seed, self.redraw_constant)

    def sampler(self, n_states: int) -> RewardSampler:
        return RewardSampler(n_states, self.distribution, self.correlation, self.seed, self.redraw_constant)

    def rewards(self, model: JointWorld) -> tuple[np.ndarray, np.ndarray]:
        """``R_H, R_A`` ``(n_samples, S)``: the reward tables every learner and the solver share."""
        return self.sampler(model.n_states).pairs(0, self.n_samples)

    def to_dict(self) -> dict:
        """Stable keys, plain JSON values; the layout is saved as its text too (a graph is its source already),
        so the world can be rebuilt."""
        if self.mdp is not None:
            return asdict(self)
        # A layout's spec has no graph keys: its saved specs and chunk keys are those of runs made before graphs
        data = {k: v for k, v in asdict(self).items() if k not in ("mdp", "mdp_name")}
        return {**data, "layout_text": load_layout(self.layout).to_text()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunSpec":
        """A spec from a mapping that may use older key spellings (``gamma``, ``samples``); unknown keys are
        refused. Errors name the key as spelled in ``data``."""
        data = dict(data)
        text = data.pop("layout_text", None)
        if text:  # a saved spec: rebuild the world from its text, whatever files exist now
            data["layout"] = _named_text(text, data.get("layout"), data.get("layout_name"))
        known = {f.name for f in fields(cls)}
        values, spelled = {}, {}
        for key, value in data.items():
            target = ALIASES.get(key, key)
            if target not in known:
                raise SpecError(f"unknown key {key!r}; allowed: {', '.join(sorted(known))}")
            values[target], spelled[target] = value, key
        for target, value in values.items():
            if target in CHECKS:
                values[target] = CHECKS[target](spelled[target], value)
        return cls(**values)


GRAPH_SUFFIXES = (".gv", ".dot")


def _graph_source(source: str) -> tuple[str, str]:
    """``(DOT source, name)`` of ``mdp``: DOT source as it is, else a built-in graph or a file, read."""
    from multipower.envs.graph_mdp import read_graph_text

    if not isinstance(source, str) or not source.strip():
        raise SpecError(f"'mdp' must be a joint graph: a built-in name, a .gv file or DOT source, got {source!r}")
    if "{" in source:  # DOT source (a file name or a built-in name has no brace)
        return source, "graph"
    try:
        text, name, _ = read_graph_text(source)
    except ValueError as error:
        raise SpecError(str(error)) from None
    return text, name


@lru_cache(maxsize=4)
def _graph_world(text: str, name: str):
    """The joint graph of DOT source ``text`` with one action-slot count for both agents (``JointGraph.with_slots``),
    parsed once per source (a graph of POWERplay's maze is megabytes); ``SpecError`` in one line when it is not a
    joint graph."""
    from multipower.envs.graph_mdp import parse_graph_mdp
    from multipower.envs.joint_graph import is_joint_graph, joint_graph_from

    where = f"graph {name!r}"
    try:
        mdp = parse_graph_mdp(text, name, where)
        if not is_joint_graph(mdp):
            raise SpecError(f"mdp: {where} is a single-agent graph (no action is [ACTION_H^ACTION_A]); a single agent "
                            "learns on it with compare --single --mdp")
        return joint_graph_from(mdp, where).with_slots()
    except SpecError:
        raise
    except ValueError as error:
        raise SpecError(str(error)) from None


def _named_text(text: str, *names: Optional[str]) -> str:
    """The first of ``names`` (a built-in or a file) that still loads to ``text``, else ``text`` itself."""
    for name in names:
        try:
            if name and load_layout(name).to_text() == parse_layout(text).to_text():
                return name
        except (ValueError, TypeError):
            pass
    return text


def _optional(check: Callable) -> Callable:
    return lambda key, value: None if value is None else check(key, value)


def _learner_options(key: str, value) -> dict:
    if not isinstance(value, Mapping):
        raise SpecError(f"{key!r} must be a mapping of hyperparameter names to values, got {value!r}")
    return dict(value)


def _slip(key: str, value) -> float:
    try:
        return check_slip(value, repr(key))
    except ValueError as error:
        raise SpecError(str(error)) from None


def check_learner_options(learner: Optional[str], options: Mapping, key: str = "learner_options") -> dict:
    """Hyperparameter overrides of ``learner``: known names, values of the right type and range (the learner's
    config is built from them once, so nothing trains on a bad value). ``SpecError`` ``"<key> NAME: ..."``."""
    if not options:
        return dict(options)
    if learner is None:
        raise SpecError(f"{key} {', '.join(options)}: hyperparameters need a learner")
    if learner == "qlearning":
        from multipower.agents.qlearning_config import QLearningConfig as config
    elif learner == "ppo":
        from multipower.agents.ppo import PPOConfig as config
    else:
        from multipower.agents.sb3_ppo import SB3PPOConfig as config
    try:
        check_fields(config, options, {"qlearning": "Q-learning", "ppo": "PPO", "sb3-ppo": "SB3 PPO"}[learner])
        config(**{k: tuple(v) if isinstance(v, list) and learner == "ppo" else v for k, v in options.items()})
    except ValueError as error:
        raise SpecError(f"{key} {error}") from None
    return dict(options)


def _flag(key: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise SpecError(f"{key!r} must be true or false, got {value!r}")
    return bool(value)


def _text(key: str, value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{key!r} must be a name (text), got {value!r}")
    return value


def _layout_key(key: str, value) -> str:
    check_layout(key, value)
    return str(value)


#: The check of each field: ``check(key as spelled, value) -> value``; raises ``SpecError``.
CHECKS: dict[str, Callable] = {
    "layout": _optional(_layout_key),
    "layout_name": _optional(lambda key, value: _text(key, value)),
    "collision": lambda key, value: check_choice(key, value, COLLISIONS),
    "slip": _slip,
    "gamma_H": check_discount,
    "gamma_A": _optional(check_discount),
    "distribution": check_distribution,
    "correlation": check_correlation,
    "seed": lambda key, value: check_count(key, value, minimum=0),
    "n_samples": check_count,
    "seed_policy": check_seed_policy,
    "redraw_constant": lambda key, value: _flag(key, value),
    "learner": _optional(lambda key, value: check_choice(key, value, LEARNERS)),
    "learner_options": _learner_options,
    "mdp": _optional(lambda key, value: _text(key, value)),
    "mdp_name": _optional(lambda key, value: _text(key, value)),
}


def spec_json(spec: RunSpec) -> str:
    """The text of ``spec.json`` for ``spec``."""
    return json.dumps({"format_version": SPEC_VERSION, **spec.to_dict()}, indent=2, sort_keys=True) + "\n"


def save_spec(spec: RunSpec, directory: PathLike) -> Path:
    """Write ``directory/spec.json`` (created if needed); returns its path."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    return atomic_write(path / SPEC_FILE, spec_json(spec))


def load_spec(directory: PathLike) -> RunSpec:
    """The spec of a result folder: its ``spec.json``, or for a folder written before specs existed, the run
    keys of its ``config.json`` (saved agents) or ``summary.json`` (saved POWER results)."""
    path = Path(directory)
    if not path.is_dir():
        raise SpecError(f"{path} is not a directory (give the folder a multipower run wrote)")
    if (path / SPEC_FILE).is_file():
        data = read_json_object(path / SPEC_FILE)
        version = data.pop("format_version", None)
        if version != SPEC_VERSION:
            raise SpecError(f"{path / SPEC_FILE}: format version {version!r}; this multipower reads version {SPEC_VERSION}")
        return _in_file(path / SPEC_FILE, RunSpec.from_dict, data)
    for name, config_of in (("config.json", lambda d: d), ("summary.json", lambda d: d.get("config", {}))):
        if (path / name).is_file():
            config = config_of(read_json_object(path / name))
            if not isinstance(config, Mapping):
                raise SpecError(f"{path / name}: key 'config' must be an object, got {type(config).__name__}")
            return _in_file(path / name, spec_from_config, config)
    raise SpecError(f"{path} holds no {SPEC_FILE}, config.json or summary.json")


def _in_file(path: Path, build: Callable, data) -> "RunSpec":
    """``build(data)``, its ``SpecError`` prefixed with the file it came from."""
    try:
        return build(data)
    except SpecError as error:
        raise SpecError(f"{path}: {error}") from None


def learner_of(config: Mapping[str, Any]) -> Optional[str]:
    """The learner that produced a saved configuration: its ``trainer`` key, else its ``algo``, where ``"ppo"``
    without a ``trainer`` key is a run of the SB3 trainer saved before the batched one existed (``"sb3-ppo"``)."""
    if "trainer" in config:
        return config["trainer"]
    algo = config.get("algo")
    return "sb3-ppo" if algo == "ppo" else algo


def spec_from_config(config: Mapping[str, Any]) -> RunSpec:
    """The spec behind a saved configuration (agents' ``config.json`` or a result's ``config``): its run keys,
    in either spelling; other keys (timings, metrics, ...) are ignored."""
    keys = {f.name for f in fields(RunSpec)} | set(ALIASES) | {"layout_text", "mdp_text"}
    data = {k: v for k, v in config.items() if k in keys and v is not None}
    if "mdp_text" in data:  # a joint graph's run: its source, named as saved
        data["mdp_name"], data["mdp"] = data.get("mdp"), data.pop("mdp_text")
    if not {"gamma", "gamma_H"} & set(data):
        raise SpecError("the saved configuration names no discount ('gamma' or 'gamma_H')")
    if "layout_text" in data:
        data["layout_name"] = data.pop("layout", None)
    if "n_samples" in data:
        data.pop("samples", None)  # "samples" is then what was done; the spec keeps what was asked for
    if "algo" in config:
        data["learner"] = learner_of(config)
    if isinstance(data.get("distribution"), Mapping) and data["distribution"].get("name") not in DISTRIBUTIONS:
        data.pop("distribution")  # a custom sampler: not reproducible from its name
    if data.get("seed_policy") not in SEED_POLICIES:
        data.pop("seed_policy", None)  # a custom table, not saved with the result
    return RunSpec.from_dict(data)
