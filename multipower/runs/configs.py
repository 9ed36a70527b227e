"""Experiment configs: the YAML schema of a reproduction or sweep, validated once on loading.

A config (shipped in ``multipower/configs/NAME.yaml``) names one published figure set or an experiment beyond
the posts; ``multipower.repro.experiments`` runs it. The keys are described in that module's docstring.
``validate_config`` checks every key and fills in defaults; ``ConfigError`` names the config and the
key that is wrong.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Mapping, Optional, Union

import yaml

from multipower.envs.layouts import BUILTIN_LAYOUTS, load_layout, parse_layout
from multipower.envs.serialization import read_bounded, read_json_object, require_keys
from multipower.envs.model import single_agent_model
from multipower.runs.results import PowerResult, jsonable
from multipower.runs.spec import RunSpec, SpecError, check_correlation, check_count, check_discount

KINDS = ("joint", "single", "sweep")
SWEEP_PARAMETERS = ("correlation", "gamma", "seed")
#: The run keys of a config (the YAML spelling of ``RunSpec``'s), with their defaults.
RUN_DEFAULTS = {"layout": None, "collision": "none", "slip": 0.0, "gamma": None, "gamma_A": None, "n_samples": None,
                "correlation": 0.0, "distribution": "uniform", "seed_policy": "uniform", "seed": 0,
                "redraw_constant": False}
CELL_CLASSES = {"dead_ends": (1, 1), "corridors": (2, 2), "junctions": (3, 4)}
ALLOWED_KEYS = (
    "name", "title", "source", "description", "kind", "layout", "gamma", "gamma_A", "n_samples", "collision", "slip",
    "correlation", "distribution", "seed_policy", "seed", "redraw_constant", "sweep", "analysis", "published",
)
REQUIRED_KEYS = ("name", "title", "kind", "layout", "gamma", "n_samples")
#: A config's ``name`` (its results folder) and the point folders of a saved sweep: one path component.
PLAIN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
#: A sweep's point folder: ``points/<parameter>=<value>``, each component plain (``=`` and ``+`` allowed).
POINT_PART = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9._=+-]*")
ENTRY_KEYS = ("quantity", "value", "label", "state", "tolerance", "compare", "extreme", "top", "expect", "cells", "at", "note")

PathLike = Union[str, Path]


class ConfigError(ValueError):
    """A config that does not validate; the message names the config and the key."""


# --------------------------------------------------------------------------------------------- configs
def config_dir() -> Path:
    """Where the shipped configs live (``multipower/configs``)."""
    return Path(str(resources.files("multipower").joinpath("configs")))


def list_configs() -> list:
    """``(name, title)`` of every shipped config, sorted by name."""
    out = []
    for path in sorted(config_dir().glob("*.yaml")):
        data = yaml.safe_load(path.read_text()) or {}
        out.append((path.stem, data.get("title", "")))
    return out


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_config(name_or_path: PathLike, overrides: Optional[Mapping] = None) -> dict:
    """Load and validate a config by shipped name or YAML path; ``overrides`` replace top-level keys."""
    path = Path(name_or_path)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        path = config_dir() / f"{name_or_path}.yaml"
        if not path.is_file():
            names = ", ".join(n for n, _ in list_configs())
            raise ConfigError(f"no config named {str(name_or_path)!r}; shipped configs: {names}")
    try:
        data = yaml.load(read_bounded(path, "config").decode("utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506  (safe)
    except UnicodeDecodeError:
        raise ConfigError(f"config {path}: not UTF-8 text") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"config {path.name}: not valid YAML: {' '.join(str(error).split())}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config {path.name}: must be a mapping of keys to values")
    data = {**_resolve_files(data, path), **(overrides or {})}
    return validate_config(data, source=path.name)


def _resolve_files(data: dict, path: Path) -> dict:
    """``layout`` and a ``seed_policy`` file named relative to the config resolve against the config's folder
    (a built-in layout name, layout text and ``uniform``/``stay`` stay as they are); a file that is not there
    is a ``ConfigError`` naming the config and the key."""
    data = dict(data)
    where = f"config {path.name}"
    layout = data.get("layout")
    if isinstance(layout, str) and layout not in BUILTIN_LAYOUTS and "\n" not in layout and not set(layout) <= {".", "#"}:
        data["layout"] = _beside(path, layout, "layout", where)
    policy = data.get("seed_policy")
    if isinstance(policy, str) and policy.endswith(".npy"):
        data["seed_policy"] = _beside(path, policy, "seed_policy", where)
    return data


def _beside(config_path: Path, name: str, key: str, where: str) -> str:
    """The file ``name`` relative to the config's folder (an absolute ``name`` as is), as an absolute path."""
    file = (config_path.parent / Path(name).expanduser()).resolve()
    if not file.is_file():
        what = "a directory" if file.is_dir() else "no file"
        raise ConfigError(f"{where}: key {key!r}: {name!r} is {what} (looked for {file}; relative paths are read "
                          f"from the config's folder)")
    return str(file)


def validate_config(config: Mapping, source: str = "config") -> dict:
    """Check every key of a config; return it with defaults filled in. Raises ``ConfigError``."""
    cfg = dict(config)
    where = f"config {cfg.get('name', source)!r}"
    name = cfg.get("name")
    if name is not None and not (isinstance(name, str) and PLAIN_NAME.fullmatch(name)):
        where = f"config {source}"
        raise ConfigError(f"{where}: key 'name' must be a plain name (letters, digits, '-', '_', '.'; not starting "
                          f"with '.'), it names the results folder; got {name!r}")
    unknown = sorted(set(cfg) - set(ALLOWED_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; allowed keys: {', '.join(ALLOWED_KEYS)}")
    for key in REQUIRED_KEYS:
        if key not in cfg or cfg[key] is None:
            raise ConfigError(f"{where}: missing required key {key!r}")
    if cfg["kind"] not in KINDS:
        raise ConfigError(f"{where}: key 'kind' must be one of {KINDS}, got {cfg['kind']!r}")
    try:  # the run keys are the run specification's, validated by it
        spec = RunSpec.from_dict({key: cfg.get(key, default) for key, default in RUN_DEFAULTS.items()})
    except SpecError as error:
        raise ConfigError(f"{where}: key {error}") from None
    # Normalised values, filled in in this order so that a saved config.yaml keeps its layout.
    cfg.update(gamma=spec.gamma_H, gamma_A=spec.gamma_A, n_samples=spec.n_samples)
    cfg.setdefault("collision", spec.collision)
    cfg["slip"] = spec.slip
    cfg["correlation"] = spec.correlation
    cfg.setdefault("distribution", spec.distribution)
    cfg.setdefault("seed_policy", spec.seed_policy)
    cfg.update(seed=spec.seed, redraw_constant=spec.redraw_constant)
    for key in ("title", "source", "description"):
        if key in cfg and not isinstance(cfg[key], str):
            raise ConfigError(f"{where}: key {key!r} must be text")
    if cfg["kind"] == "sweep":
        cfg["sweep"] = _validate_sweep(cfg.get("sweep"), where)
    elif cfg.get("sweep") is not None:
        raise ConfigError(f"{where}: key 'sweep' is only for kind 'sweep' (kind is {cfg['kind']!r})")
    analysis = cfg.get("analysis") or {}
    if not isinstance(analysis, dict) or set(analysis) - {"corridor"}:
        raise ConfigError(f"{where}: key 'analysis' may only hold 'corridor' (a list of [row, col] cells)")
    if "corridor" in analysis:
        analysis["corridor"] = _cells(analysis["corridor"], "analysis.corridor", where, cfg["layout"])
    cfg["analysis"] = analysis
    cfg["published"] = [_validate_entry(e, i, cfg, where) for i, e in enumerate(cfg.get("published") or [])]
    return cfg


def _number(value, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}: key {key!r} must be a number, got {value!r}")
    return float(value)


def _positive_int(value, key: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}: key {key!r} must be a positive integer, got {value!r}")
    return value


def _cells(value, key: str, where: str, layout) -> list:
    grid = load_layout(layout)
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: key {key!r} must be a non-empty list of [row, col] cells")
    cells = []
    for cell in value:
        if not (isinstance(cell, list) and len(cell) == 2 and all(isinstance(v, int) for v in cell)):
            raise ConfigError(f"{where}: key {key!r}: {cell!r} is not a [row, col] cell")
        try:
            grid.cell_index(*cell)
        except ValueError as error:
            raise ConfigError(f"{where}: key {key!r}: {error}") from None
        cells.append([int(cell[0]), int(cell[1])])
    return cells


#: Most points a sweep may have (each point is a full run; more is a typo such as ``step: 1e-12``).
MAX_SWEEP_POINTS = 10_000


def sweep_point_count(spec) -> int:
    """Points of a ``{start, stop, step}`` sweep (inclusive of ``stop``), computed without listing them."""
    start, stop, step = float(spec["start"]), float(spec["stop"]), float(spec["step"])
    count = (stop - start) / step
    if not count < MAX_SWEEP_POINTS:  # also catches nan and inf
        return MAX_SWEEP_POINTS + 1 if count != count else int(min(count, 1e300)) + 1
    return int(round(count)) + 1


def sweep_values(spec) -> list:
    """The swept values of ``{start, stop, step}`` (inclusive of ``stop``) or an explicit list.

    Raises ``ValueError`` for more than ``MAX_SWEEP_POINTS`` points, before listing any.
    """
    if isinstance(spec, dict):
        start, step = float(spec["start"]), float(spec["step"])
        count = sweep_point_count(spec)
        if count > MAX_SWEEP_POINTS:
            raise ValueError(
                f"sweep.values: {{start: {spec['start']}, stop: {spec['stop']}, step: {spec['step']}}} gives "
                f"{count:.3g} points; at most {MAX_SWEEP_POINTS:,} are allowed (use a larger step)"
            )
        return [round(start + i * step, 10) for i in range(count)]
    return list(spec)


def _validate_sweep(sweep, where: str) -> dict:
    if not isinstance(sweep, dict):
        raise ConfigError(f"{where}: kind 'sweep' needs key 'sweep' with 'parameter' and 'values'")
    unknown = sorted(set(sweep) - {"parameter", "values"})
    if unknown:
        raise ConfigError(f"{where}: unknown key 'sweep.{unknown[0]}'; allowed: parameter, values")
    parameter = sweep.get("parameter")
    if parameter not in SWEEP_PARAMETERS:
        raise ConfigError(f"{where}: key 'sweep.parameter' must be one of {SWEEP_PARAMETERS}, got {parameter!r}")
    spec = sweep.get("values")
    if isinstance(spec, dict):
        missing = [k for k in ("start", "stop", "step") if not isinstance(spec.get(k), (int, float))]
        if missing or spec["step"] <= 0 or spec["stop"] < spec["start"]:
            raise ConfigError(f"{where}: key 'sweep.values' needs numbers start <= stop and step > 0")
        count = sweep_point_count(spec)
        if count > MAX_SWEEP_POINTS:
            raise ConfigError(
                f"{where}: key 'sweep.values' gives {count:.3g} points (start {spec['start']}, stop {spec['stop']}, "
                f"step {spec['step']}); at most {MAX_SWEEP_POINTS:,} are allowed: use a larger step"
            )
    elif not isinstance(spec, list) or not spec:
        raise ConfigError(f"{where}: key 'sweep.values' must be a non-empty list or {{start, stop, step}}")
    values = sweep_values(spec)
    check = {"seed": lambda key, value: check_count(key, value, minimum=0), "gamma": check_discount,
             "correlation": check_correlation}[parameter]
    for value in values:
        try:
            check("sweep.values", value)
        except SpecError as error:
            raise ConfigError(f"{where}: key {error}") from None
    if len(set(values)) != len(values):
        raise ConfigError(f"{where}: key 'sweep.values' has repeated values")
    return {"parameter": parameter, "values": values}


def _validate_entry(entry, i: int, cfg: dict, where: str) -> dict:
    key = f"published[{i}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: key {key!r} must be a mapping")
    unknown = sorted(set(entry) - set(ENTRY_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key '{key}.{unknown[0]}'; allowed: {', '.join(ENTRY_KEYS)}")
    quantity = entry.get("quantity")
    single = cfg["kind"] == "single"
    allowed = ("power",) if single else ("alpha", "power_H", "power_A", "power_H_seed", "power_A_seed")
    if quantity not in allowed:
        raise ConfigError(f"{where}: key '{key}.quantity' must be one of {allowed}, got {quantity!r}")
    out = dict(entry)
    modes = [m for m in ("value", "extreme") if m in entry]
    if len(modes) != 1:
        raise ConfigError(f"{where}: key {key!r} needs exactly one of 'value' or 'extreme'")
    if "value" in entry:
        out["value"] = _number(entry["value"], f"{key}.value", where)
    if "compare" in entry and entry["compare"] not in ("<", ">"):
        raise ConfigError(f"{where}: key '{key}.compare' must be '<' or '>', got {entry['compare']!r}")
    if "tolerance" in entry:
        out["tolerance"] = _number(entry["tolerance"], f"{key}.tolerance", where)
    if "extreme" in entry:
        if entry["extreme"] not in ("max", "min"):
            raise ConfigError(f"{where}: key '{key}.extreme' must be 'max' or 'min', got {entry['extreme']!r}")
        expect = entry.get("expect")
        if not isinstance(expect, dict) or not expect or set(expect) - {"H", "A"}:
            raise ConfigError(f"{where}: key '{key}.expect' must map 'H' and/or 'A' to lists of cells")
        out["expect"] = {agent: _cells(cells, f"{key}.expect.{agent}", where, cfg["layout"]) for agent, cells in expect.items()}
        out["top"] = _positive_int(entry.get("top", 1), f"{key}.top", where)
    if "state" in entry:
        state = entry["state"]
        agents = ("H", "A")
        if not isinstance(state, dict) or set(state) != set(agents):
            raise ConfigError(f"{where}: key '{key}.state' must be {{H: [row, col], A: [row, col]}}")
        out["state"] = {a: _cells([state[a]], f"{key}.state.{a}", where, cfg["layout"])[0] for a in agents}
    if "cells" in entry:
        cells = entry["cells"]
        if isinstance(cells, str):
            if cells not in CELL_CLASSES:
                raise ConfigError(f"{where}: key '{key}.cells' must be one of {tuple(CELL_CLASSES)} or a list of cells")
        else:
            out["cells"] = _cells(cells, f"{key}.cells", where, cfg["layout"])
    if quantity != "alpha" and "value" in entry and not ("state" in entry or "cells" in entry):
        raise ConfigError(f"{where}: key {key!r}: a POWER value needs 'state' (joint) or 'cells' (single)")
    if "at" in entry:
        if cfg["kind"] != "sweep":
            raise ConfigError(f"{where}: key '{key}.at' is only for sweeps")
        if entry["at"] not in cfg["sweep"]["values"]:
            raise ConfigError(f"{where}: key '{key}.at' = {entry['at']!r} is not one of the swept values")
    elif cfg["kind"] == "sweep":
        raise ConfigError(f"{where}: key '{key}.at' (the swept value it refers to) is required in a sweep")
    return out


def parameter_symbol(parameter: str) -> str:
    """The symbol of a swept parameter in labels: ``β`` for correlation, ``γ`` for gamma."""
    return {"correlation": "β", "gamma": "γ"}.get(parameter, parameter)


def dump_config(config: Mapping) -> str:
    return yaml.safe_dump(jsonable(dict(config)), sort_keys=False, allow_unicode=True)


def cell_class(layout, name: str) -> list:
    """Cells ``[row, col]`` of a class: ``dead_ends`` (1 move), ``corridors`` (2), ``junctions`` (3+)."""
    model = single_agent_model(layout)
    moves = model.moves_per_cell()
    lo, hi = CELL_CLASSES[name]
    return model.layout.cells[(moves >= lo) & (moves <= hi)].tolist()


def load_sweep(directory: PathLike) -> tuple:
    """``(summary, results)`` of a saved sweep folder (``sweep.json`` + ``points/*``).

    The point folders ``sweep.json`` names must be relative paths of plain names inside the sweep's folder
    (as ``multipower.repro.experiments`` writes them); anything else, or a missing key, is a ``ValueError`` naming
    the file and the key, before any point is read.
    """
    directory = Path(directory)
    path = directory / "sweep.json"
    summary = read_json_object(path)
    require_keys(summary, ("values", "points"), path)
    values, points = summary["values"], summary["points"]
    if not (isinstance(values, list) and isinstance(points, list) and len(values) == len(points) and points):
        raise ValueError(f"{path}: keys 'values' and 'points' must be lists of the same, non-zero length")
    folders = [_point_folder(directory, point, path) for point in points]
    results = {v: load_result(folder) for v, folder in zip(values, folders)}
    return summary, results


def _point_folder(directory: Path, point, path: Path) -> Path:
    """The folder of one sweep point: plain names below ``directory``, never outside it (links included)."""
    parts = Path(point).parts if isinstance(point, str) else ()
    if not parts or not all(POINT_PART.fullmatch(part) for part in parts):
        raise ValueError(f"{path}: key 'points': {point!r} is not a folder inside the sweep (plain names such as "
                         f"'points/gamma=0.5' only)")
    folder = directory / Path(*parts)
    if not folder.resolve().is_relative_to(directory.resolve()):
        raise ValueError(f"{path}: key 'points': {point!r} leads outside the sweep's folder")
    if not (folder / "summary.json").is_file():
        raise ValueError(f"{path}: key 'points': {point!r} holds no saved result (summary.json)")
    return folder


#: Columns a saved result of each kind must have to be drawn.
REQUIRED_COLUMNS = {"joint": ("power_H", "power_A"), "single": ("power",), "graph": ("power",),
                    "joint_graph": ("power_H", "power_A")}


def load_result(directory: PathLike, columns: Optional[tuple] = None) -> PowerResult:
    """A saved ``PowerResult``, its files checked first: a damaged ``summary.json`` or ``power.csv`` is a
    ``ValueError`` naming the file and the key or column, not an exception from deep in the drawing.
    ``columns``: those ``power.csv`` must have (default: the POWER columns of the result's kind)."""
    directory = Path(directory)
    summary_path, table_path = directory / "summary.json", directory / "power.csv"
    summary = read_json_object(summary_path)
    require_keys(summary, ("kind", "config"), summary_path)
    if summary["kind"] not in REQUIRED_COLUMNS:
        raise ValueError(f"{summary_path}: key 'kind' must be one of {tuple(REQUIRED_COLUMNS)}, got {summary['kind']!r}")
    config = summary["config"]
    graph = summary["kind"] in ("graph", "joint_graph")
    if graph:  # a graph's world is its DOT source (config.mdp_text), checked on drawing; a comparison on a joint
        # graph names it by its digest (config.mdp_sha256), its joint states being drawn from their names
        keys = ("mdp_text",) if summary["kind"] == "graph" else ("mdp_text", "mdp_sha256")
        if not isinstance(config, Mapping) or not any(isinstance(config.get(key), str) for key in keys):
            raise ValueError(f"{summary_path}: key 'config.mdp_text' must be the graph's DOT text")
    elif not isinstance(config, Mapping) or not isinstance(config.get("layout_text"), str):
        raise ValueError(f"{summary_path}: key 'config.layout_text' must be the layout's text")
    try:
        if not graph:
            parse_layout(config["layout_text"])
    except ValueError as error:
        raise ValueError(f"{summary_path}: key 'config.layout_text': {error}") from None
    if not table_path.is_file():
        raise ValueError(f"{table_path}: missing (a saved result is summary.json with power.csv)")
    try:
        result = PowerResult.load(directory)
    except (ValueError, IndexError, UnicodeDecodeError) as error:
        raise ValueError(f"{table_path}: not a table of numbers with a header row ({' '.join(str(error).split())})") from None
    require_keys(result.arrays, REQUIRED_COLUMNS[summary["kind"]] if columns is None else columns, table_path)
    return result
