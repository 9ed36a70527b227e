"""Memory budgets: a run estimates its peak memory before allocating anything and refuses up front.

A budget is a number of bytes (``--max-memory``: ``8G``, ``512M``, ``1.5GB``, ``2e9``) for the whole process, by
default what the process holds plus ``DEFAULT_FRACTION`` of the memory available now. Estimates are added to what
the process already holds (measured, ``process_memory``). Estimates are per joint state and per sample held at
once; the world's joint-state count comes from the layout alone (``joint_state_count``), so a world too
big to model is refused in milliseconds, before its tables are built.
"""

from __future__ import annotations

import os
import re
from typing import Optional, Union

from multipower.envs.layouts import LayoutLike, load_layout

#: Fraction of the machine's physical memory a run may use when no budget is given.
DEFAULT_FRACTION = 0.75
#: Bytes per joint state of the tabular model while it is built (next-state table ``(S, 5, 5)`` int64 plus the
#: temporaries of the collision rule), measured with tracemalloc on maze7x7 and robot_face20x20.
MODEL_BYTES_PER_STATE = {"none": 340, "crash": 540, "bounce": 820}

#: What the first calls of the compiled (numba) kernels add to a process that has imported them: loading their
#: cached machine code brings up LLVM (a two-sample grid3x3 solve grew the process by 59 MB, with torch and both
#: kernel modules already loaded); the solver's and Q-learning's kernels together, with headroom.
COMPILED_RUNTIME_BYTES = 128 << 20

_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
MemoryLike = Union[None, int, float, str]


def machine_memory() -> Optional[int]:
    """Physical memory of the machine in bytes, or None where it cannot be read."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def available_memory() -> Optional[int]:
    """Memory the machine can give now (``MemAvailable`` of ``/proc/meminfo``), or its physical memory where that
    cannot be read, or None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return machine_memory()


def process_memory() -> int:
    """Bytes this process holds now (its resident set: the interpreter, numpy, torch once loaded, ...), the
    baseline every estimate adds to; 0 where it cannot be read."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * int(os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, IndexError, AttributeError):
        return 0


def default_budget() -> Optional[int]:
    """What this process holds plus ``DEFAULT_FRACTION`` of the memory available now (None: no limit, where the
    memory cannot be read)."""
    available = available_memory()
    return None if available is None else process_memory() + int(DEFAULT_FRACTION * available)


def parse_memory(value: MemoryLike, name: str = "max_memory") -> Optional[int]:
    """A budget in bytes from a number of bytes or text such as ``8G``, ``512M``, ``1.5GB``, ``2e9``.

    ``None`` (or ``"auto"``) gives ``default_budget``. Raises ``ValueError("<name>: ...")`` otherwise.
    """
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return default_budget()
    if isinstance(value, bool):
        raise ValueError(f"{name}: must be a size such as 8G, 512M or a number of bytes, got {value!r}")
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*", str(value))
        if match is None:
            raise ValueError(f"{name}: must be a size such as 8G, 512M, 1.5GB or a number of bytes, got {value!r}")
        number, unit = float(match.group(1)), match.group(2).upper()
    size = number * _UNITS[unit]
    if not number > 0 or number != number or not size < 2.0**63:
        raise ValueError(f"{name}: must be a positive size below 8 EiB, got {value!r}")
    return int(size)


def format_bytes(n: float) -> str:
    """``n`` bytes as ``12.5 GB``-style text (powers of 1024)."""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1024 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PB"  # pragma: no cover


def joint_state_count(layout: LayoutLike, collision: str = "none") -> int:
    """Joint states of a layout under a collision rule (``n²`` or ``n(n-1)``), without building the model;
    ``ValueError`` when there are none (one open cell that the agents may not share)."""
    grid = load_layout(layout)
    n = grid.n_cells
    count = n * n if collision == "none" else n * (n - 1)
    if count == 0:
        raise ValueError(f"layout: {grid.name!r} has {n} open cell(s), so under collision {collision!r} (no "
                         "sharing) the two agents have no joint state; give at least 2")
    return count


def model_bytes(n_states: int, collision: str = "none") -> int:
    """Peak bytes of building and holding the joint model of ``n_states`` states."""
    return MODEL_BYTES_PER_STATE.get(collision, max(MODEL_BYTES_PER_STATE.values())) * int(n_states)


def check_budget(estimate: float, budget: Optional[int], what: str, n_states: int, hint: str = "") -> None:
    """Refuse (``ValueError("max_memory: ...")``) when ``estimate`` bytes, on top of what the process already
    holds (``process_memory``), exceed ``budget`` (None: no limit)."""
    if budget is None:
        return
    baseline = process_memory()
    if budget <= baseline:
        raise ValueError(f"max_memory: {format_bytes(budget)} is below what this process already holds "
                         f"({format_bytes(baseline)}: Python, numpy and the libraries); give more")
    if estimate + baseline > budget:
        raise ValueError(
            f"max_memory: {what} with {n_states:,} joint states needs about {format_bytes(estimate)} on top of the "
            f"{format_bytes(baseline)} the process holds, over the budget of {format_bytes(budget)}{hint} (raise "
            "--max-memory, or use a smaller world or fewer samples)"
        )
