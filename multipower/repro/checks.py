"""Published numbers next to reproduced ones: each entry of a config's ``published`` list evaluated on a result
(a value with its tolerance or standard error, a comparison, a class of cells, or the states where a POWER is
largest or smallest)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np

from multipower.runs.configs import cell_class
from multipower.runs.results import PowerResult, pearson

SIGMA = 3.0  # a per-state POWER agrees with the published value within this many standard errors


@dataclass
class Check:
    """One published number next to its reproduction."""

    label: str
    published: str
    reproduced: str
    verdict: str
    value: Optional[float] = None
    se: Optional[float] = None

    def row(self) -> list:
        return [self.label, self.published, self.reproduced, self.verdict]


def _state_mask(result: PowerResult, agent: str, cells: Sequence) -> np.ndarray:
    columns = slice(0, 2) if agent == "H" or result.kind == "single" else slice(2, 4)
    return (result.labels[:, None, columns] == np.asarray(cells)[None, :, :]).all(axis=2).any(axis=1)


def _cell_text(labels: np.ndarray) -> str:
    if len(labels) == 4:
        return f"H ({labels[0]},{labels[1]}), A ({labels[2]},{labels[3]})"
    return f"({labels[0]},{labels[1]})"


def evaluate_entry(entry: Mapping, result: PowerResult) -> Check:
    """Compare one published entry with a result."""
    quantity = entry["quantity"]
    label = entry.get("label") or quantity
    if quantity == "alpha":
        alpha = pearson(result["power_H"], result["power_A"])
        check = _check_value(entry, f"α_HA{_at(entry)}", alpha, None)
        if result.stats.get("alpha_se") is not None:  # shown, not judged: the published α is itself a sample's
            check.se = float(result.stats["alpha_se"])
            check.reproduced += f" ± {check.se:.4f}"
        return check
    if "extreme" in entry:
        values = result[quantity]
        order = np.argsort(values)
        top = order[::-1][: entry["top"]] if entry["extreme"] == "max" else order[: entry["top"]]
        ok = np.ones(len(top), bool)
        for agent, cells in entry["expect"].items():
            ok &= _state_mask(result, agent, cells)[top]
        where = "; ".join(f"{_cell_text(result.labels[i])}: {values[i]:.4f}" for i in top[:3])
        more = f" (+{len(top) - 3} more)" if len(top) > 3 else ""
        expect = ", ".join(f"{a} in {[tuple(c) for c in cells]}" for a, cells in entry["expect"].items())
        kind = "largest" if entry["extreme"] == "max" else "smallest"
        name = f"{quantity}: {'the ' + str(entry['top']) + ' ' + kind if entry['top'] > 1 else kind}"
        return Check(entry.get("label") or name + _at(entry), expect, where + more,
                     "agrees" if ok.all() else f"differs ({int(ok.sum())}/{len(top)} as published)")
    if "cells" in entry:
        cells = cell_class(result.layout, entry["cells"]) if isinstance(entry["cells"], str) else entry["cells"]
        chosen = _state_mask(result, "H", cells)
        values, ses = result[quantity][chosen], result[f"{quantity}_se"][chosen]
        name = entry["cells"] if isinstance(entry["cells"], str) else f"{len(cells)} cells"
        check = _check_value(entry, f"{quantity}, {name}", float(values.mean()), float(ses.max()))
        check.reproduced += f" (range {values.min():.4f}–{values.max():.4f})"
        return check
    index = np.flatnonzero(_state_mask(result, "H", [entry["state"]["H"]]) & _state_mask(result, "A", [entry["state"]["A"]]))
    if len(index) != 1:
        raise ValueError(f"published state {entry['state']} does not exist in this result")
    i = int(index[0])
    se_column = f"{quantity}_se"
    se = float(result[se_column][i]) if se_column in result.arrays else None
    name = f"{quantity} at {_cell_text(result.labels[i])}" + (f" ({label})" if entry.get("label") else "")
    return _check_value(entry, name, float(result[quantity][i]), se)


def _at(entry: Mapping) -> str:
    return f" at {entry['at']}" if "at" in entry else ""


def _check_value(entry: Mapping, name: str, value: float, se: Optional[float]) -> Check:
    reproduced = f"{value:.4f}" + (f" ± {se:.4f}" if se is not None else "")
    if "compare" in entry:
        ok = value < entry["value"] if entry["compare"] == "<" else value > entry["value"]
        return Check(name, f"{entry['compare']} {entry['value']:g}", reproduced, "agrees" if ok else "differs", value, se)
    target = entry["value"]
    published = f"{target:g}" if "tolerance" not in entry else f"{target:g} (tol. {entry['tolerance']:g})"
    if "tolerance" in entry:
        ok = abs(value - target) <= entry["tolerance"]
        verdict = f"{'agrees' if ok else 'differs'} (Δ = {value - target:+.4f})"
    elif se is not None and se > 0:
        z = (value - target) / se
        verdict = f"{'agrees' if abs(z) <= SIGMA else 'differs'} ({z:+.1f} SE)"
    else:
        ok = abs(value - target) <= 5e-4
        verdict = f"{'agrees' if ok else 'differs'} (Δ = {value - target:+.4f})"
    return Check(name, published, reproduced, verdict, value, se)


