"""POWER results: per-state arrays with state labels, configuration and timings; saved as CSV + JSON.

One ``PowerResult`` type serves the exact solver, the learned estimator and the plots, so any saved
result can be reloaded and drawn. A directory holds ``power.csv`` (one row per state),
``summary.json`` (kind, configuration, how many of the requested samples are done, scalar statistics such as
``alpha``, timings) and ``manifest.json`` (``multipower.runs.rundir``: written last, with every file's hash).
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Union

import numpy as np

from multipower.envs.layouts import Layout, parse_layout
from multipower.envs.serialization import jsonable  # noqa: F401  (re-exported: results are saved through it)
from multipower.runs import rundir

#: Keys of summary.json that say how far the run got (read back into ``config``).
PROGRESS_KEYS = ("samples_done", "samples_requested", "complete")

JOINT_LABELS = ("h_row", "h_col", "a_row", "a_col")
SINGLE_LABELS = ("row", "col")
GRAPH_LABELS = ("state",)
#: Label columns of each kind of result: integer cell coordinates, or a state's name in an MDP graph.
LABELS = {"joint": JOINT_LABELS, "single": SINGLE_LABELS, "graph": GRAPH_LABELS, "joint_graph": GRAPH_LABELS}
#: Kinds labelled by state names (strings), not cell coordinates.
NAMED = ("graph", "joint_graph")


def _listed_files(directory: Path) -> set:
    """Plain file names the folder's manifest lists (none without a readable manifest)."""
    try:
        manifest = rundir.read_manifest(directory)
    except ValueError:
        return set()
    names = (manifest or {}).get("files", {})
    return {name for name in names if isinstance(name, str) and Path(name).name == name and not name.startswith(".")}


@dataclass
class PowerResult:
    """POWER per state.

    Attributes:
        kind: ``"joint"`` (labels ``h_row, h_col, a_row, a_col``), ``"single"`` (``row, col``), ``"graph"``
            (``state``: the state's name in an MDP graph) or ``"joint_graph"`` (the joint state's name in a joint
            MDP graph, with the two agents' columns of ``"joint"``).
        labels: ``(n_states, 4)`` or ``(n_states, 2)`` integer cell coordinates of each state, or ``(n_states, 1)``
            state names (strings) for ``"graph"``.
        arrays: Column name to ``(n_states,)`` values, in CSV column order (e.g. ``power_H``,
            ``power_H_se``, ``power_A``, ``power_A_se``; ``power``, ``power_se`` for single-agent).
        config: The full configuration, including ``layout_text`` so the world can be rebuilt.
        stats: Scalar results, e.g. ``alpha``.
        timings: Seconds per stage.
    """

    kind: str
    labels: np.ndarray
    arrays: dict
    config: dict
    stats: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in LABELS:
            raise ValueError(f"kind must be one of {tuple(LABELS)}, got {self.kind!r}")
        self.labels = np.asarray(self.labels, dtype=object if self.kind in NAMED else np.int64)
        n_labels = len(self.label_names)
        if self.labels.ndim != 2 or self.labels.shape[1] != n_labels:
            raise ValueError(f"labels of a {self.kind} result must have shape (n_states, {n_labels})")
        self.arrays = {name: np.asarray(values, dtype=np.float64) for name, values in self.arrays.items()}
        for name, values in self.arrays.items():
            if values.shape != (self.n_states,):
                raise ValueError(f"array {name!r} must have shape ({self.n_states},), got {values.shape}")

    @property
    def label_names(self) -> tuple:
        return LABELS[self.kind]

    @property
    def n_states(self) -> int:
        return len(self.labels)

    @property
    def layout(self) -> Layout:
        if self.config.get("drawing_grid"):  # a joint graph's cells on a grid for drawing: none need be connected
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*open cells are not all connected")
                return parse_layout(self.config["layout_text"], name=self.config.get("layout", "custom"))
        return parse_layout(self.config["layout_text"], name=self.config.get("layout", "custom"))

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def __getattr__(self, name: str):
        arrays = self.__dict__.get("arrays", {})
        if name in arrays:
            return arrays[name]
        raise AttributeError(name)

    def value_at(self, name: str, *cells: tuple) -> float:
        """Value of column ``name`` at the state whose cells are ``cells``, e.g. ``((0, 3), (0, 2))``."""
        key = np.concatenate([np.asarray(c) for c in cells])
        match = np.flatnonzero((self.labels == key).all(axis=1))
        if len(match) != 1:
            raise ValueError(f"no state with cells {cells} in this result")
        return float(self.arrays[name][match[0]])

    @property
    def samples_done(self) -> Optional[int]:
        done = self.config.get("samples_done", self.config.get("n_samples"))
        return None if done is None else int(done)

    @property
    def complete(self) -> bool:
        """False for a partial result (a run stopped before all its requested samples)."""
        return bool(self.config.get("complete", not self.config.get("interrupted", False)))

    def save(self, directory: Union[str, Path], run_kind: Optional[str] = None, key: Optional[Mapping] = None,
             files: Optional[Mapping[str, Union[str, bytes]]] = None) -> Path:
        """Write ``power.csv``, ``summary.json`` and ``files`` (name to contents) to ``directory`` (created if
        needed), each atomically, then ``manifest.json`` listing them (``multipower.runs.rundir.write_manifest``).
        Files the folder's previous manifest listed and this save does not write (a figure not drawn this time)
        are removed after it, so the folder holds one run's files.

        Args:
            run_kind: The manifest's kind of run (default: ``config["kind"]``, else the result's kind).
            key: What the numbers depend on, hashed into the manifest (default: ``config`` without its
                ``"timings"``, which a learned comparison's config carries from its training run).
        """
        directory = Path(directory)
        files = rundir.check_extra_files(files or {})  # plain names inside the folder, before anything is written
        directory.mkdir(parents=True, exist_ok=True)
        run_kind = run_kind or self.config.get("kind") or self.kind
        key = {k: v for k, v in self.config.items() if k != "timings"} if key is None else key
        done = self.samples_done or 0
        requested = int(self.config.get("samples_requested", self.config.get("n_samples", done)))
        stale = _listed_files(directory)
        rundir.begin(directory, run_kind, key, requested, done)
        text = io.StringIO(newline="")
        writer = csv.writer(text)
        writer.writerow([*self.label_names, *self.arrays])
        columns = [self.labels[:, i] for i in range(self.labels.shape[1])] + list(self.arrays.values())
        n_labels = len(self.label_names)
        for row in zip(*columns):
            writer.writerow([_label_text(self.kind, v) for v in row[:n_labels]] + [repr(float(v)) for v in row[n_labels:]])
        rundir.atomic_write(directory / "power.csv", text.getvalue())
        counted = "n_samples" in self.config or "samples_done" in self.config
        progress = {"samples_done": done, "samples_requested": requested, "complete": self.complete} if counted else {}
        summary = {"kind": self.kind, "config": self.config, **progress, **self.stats, "timings": self.timings}
        rundir.atomic_write(directory / "summary.json", json.dumps(jsonable(summary), indent=2) + "\n")
        for name, data in (files or {}).items():
            rundir.atomic_write(directory / name, data)
        written = ["power.csv", "summary.json", *(files or {})]
        rundir.write_manifest(directory, run_kind, key, written, requested, done, rows={"power.csv": self.n_states},
                              extra={"complete": self.complete})
        for name in stale - set(written):
            (directory / name).unlink(missing_ok=True)
        return directory

    @classmethod
    def load(cls, directory: Union[str, Path]) -> "PowerResult":
        directory = Path(directory)
        summary = json.loads((directory / "summary.json").read_text())
        kind = summary.pop("kind")
        config, timings = summary.pop("config"), summary.pop("timings", {})
        for name in PROGRESS_KEYS:
            if name in summary:
                config.setdefault(name, summary.pop(name))
        with open(directory / "power.csv", newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        n_labels = len(LABELS[kind])
        header, n = rows[0], len(rows) - 1
        body = np.array([row[n_labels:] for row in rows[1:]], dtype=np.float64).reshape(n, len(header) - n_labels)
        labels = np.array([row[:n_labels] for row in rows[1:]], dtype=object if kind in NAMED else np.float64)
        arrays = {name: body[:, i] for i, name in enumerate(header[n_labels:])}
        return cls(kind, labels.reshape(n, n_labels), arrays, config, summary, timings)


def _label_text(kind: str, value):
    """A label as written to ``power.csv``: a state name for ``"graph"``, else an integer coordinate."""
    return str(value) if kind in NAMED else int(value)


class MeanAccumulator:
    """Running mean and standard error over chunks of samples (Chan's parallel update, float64)."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: Optional[np.ndarray] = None
        self.m2: Optional[np.ndarray] = None

    def add(self, samples: np.ndarray) -> None:
        """Add ``(k, ...)`` samples along axis 0."""
        x = np.asarray(samples, dtype=np.float64)
        k = x.shape[0]
        if k == 0:
            return
        mean_b = x.mean(0)
        m2_b = ((x - mean_b) ** 2).sum(0)
        if self.count == 0:
            self.count, self.mean, self.m2 = k, mean_b, m2_b
            return
        n = self.count + k
        d = mean_b - self.mean
        self.mean = self.mean + d * (k / n)
        self.m2 = self.m2 + m2_b + d * d * (self.count * k / n)
        self.count = n

    @property
    def se(self) -> np.ndarray:
        if self.count < 2:
            return np.zeros_like(self.mean)
        return np.sqrt(self.m2 / (self.count - 1) / self.count)


def standard_error(samples: np.ndarray, axis: int = 0) -> np.ndarray:
    """Standard error of the mean along ``axis`` (zero for a single sample)."""
    n = samples.shape[axis]
    if n < 2:
        return np.zeros(np.delete(samples.shape, axis))
    return samples.std(axis=axis, ddof=1) / np.sqrt(n)


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation; ``nan`` when either input is constant."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    dx, dy = x - x.mean(), y - y.mean()
    denominator = np.sqrt((dx * dx).sum() * (dy * dy).sum())
    return float((dx * dy).sum() / denominator) if denominator > 0 else float("nan")


def zero_crossing(x: np.ndarray, y: np.ndarray) -> Optional[float]:
    """The first ``x`` where ``y`` (sorted by ``x``) crosses from negative to non-negative, interpolated."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(y)
    x, y = x[ok], y[ok]
    up = np.flatnonzero((y[:-1] < 0) & (y[1:] >= 0))
    if len(up) == 0:
        return None
    i = up[0]
    return float(x[i] + (0 - y[i]) * (x[i + 1] - x[i]) / (y[i + 1] - y[i]))


def alpha_text(stats: Mapping) -> str:
    """``α`` with its jackknife standard error and 95 % interval when a result has them (``-0.4590 ± 0.0123,
    95 % CI [-0.4831, -0.4349]``), else ``α`` alone."""
    text = f"{stats['alpha']:.4f}"
    if stats.get("alpha_se") is not None:
        text += (f" ± {stats['alpha_se']:.4f}, 95 % CI [{stats['alpha_ci_low']:.4f}, "
                 f"{stats['alpha_ci_high']:.4f}]")
    return text
