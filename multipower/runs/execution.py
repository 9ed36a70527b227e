"""How and where a run computes, and where it is kept: the two halves of a call that never change its numbers.

A computation's arguments fall into three kinds. *What* is computed (the run specification ``RunSpec``, a graph
with its reward draws, or a ``multipower.envs.problem.TwoStageProblem``) fixes every number. *How and where*
(``Execution``: worker count, chunk size, memory budget, device, backend, progress) and *storage* (``Storage``: the
run folder and what may happen to it) do not: a result is the same for any ``Execution``, and is resumed from
or saved to any ``Storage``.

    >>> from multipower.runs.execution import Execution, Storage
    >>> Execution(jobs=2, progress=False).jobs
    2
    >>> Storage("runs/maze", restart=True).restart
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional, Union

from multipower.envs.memory import MemoryLike
from multipower.runs.backends import Backend

PathLike = Union[str, Path]


@dataclass(frozen=True)
class Execution:
    """How and where a computation runs; results never depend on it.

    Each field is checked by the function that uses it, with one line naming it (``jobs: ...``), before any work.

    Attributes:
        jobs: Pieces (sample blocks, training chunks) computed at once: threads for the exact solver, worker
            processes for the learners. ``None``: the available cores (1 on a GPU).
        chunk_size: Reward samples per solver call or per training chunk. ``None``: sized to the world (exact) or
            to the learner's batch (learners).
        max_memory: Memory budget, bytes or text such as ``"8G"``; ``None``: a fraction of the machine's memory
            (``multipower.envs.memory``). Defaults are lowered to fit; a run that cannot fit is refused up front.
        device: Torch device (``"cpu"``, ``"cuda"``; ``"auto"`` for the batched PPO). ``None``: the function's
            default (``"cpu"`` for the exact solver, ``"auto"`` for PPO).
        backend: Where the pieces run: ``None`` or ``"local"`` (here), ``"ray"`` (a Ray cluster,
            ``multipower.runs.ray_backend``) or a ``multipower.runs.backends.Backend``.
        progress: ``True``: a progress bar; ``False``: none; a callable: called with the work done (the training
            driver's unit, ``multipower.learned.training.progress_total``).
    """

    jobs: Optional[int] = None
    chunk_size: Optional[int] = None
    max_memory: MemoryLike = None
    device: Optional[str] = None
    backend: Union[str, Backend, None] = None
    progress: Union[bool, Callable[[int], None]] = True

    def device_or(self, default: str) -> str:
        """``device``, or ``default`` where it is left ``None``."""
        return default if self.device is None else self.device


@dataclass(frozen=True)
class Storage:
    """Where a run is kept, and what may be done to what is there.

    Attributes:
        out_dir: The run folder. Checked first (``multipower.runs.rundir.check_out``: refused when it holds another
            run or files multipower did not write, unless ``overwrite``); finished pieces are saved there as they
            finish, and a rerun resumes from them.
        restart: Discard the saved pieces and start over.
        overwrite: Replace a folder holding another run (its files are removed first).
        files: More files (name to text, e.g. ``spec.json``) written with the result and listed in the manifest.
    """

    out_dir: PathLike
    restart: bool = False
    overwrite: bool = False
    files: Optional[Mapping[str, str]] = None
