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

from multipower.envs.memory import MemoryLike, parse_memory
from multipower.envs.validation import check_count
from multipower.runs.backends import BACKENDS, Backend
from multipower.runs.rundir import check_extra_files

PathLike = Union[str, Path]


@dataclass(frozen=True)
class Execution:
    """How and where a computation runs; results never depend on it.

    Each field's type and range is checked when the value is made (``ValueError`` naming ``execution.<field>``);
    what depends on the machine (a CUDA device) is checked by the function that uses it, before any work.

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

    def __post_init__(self) -> None:
        for name in ("jobs", "chunk_size"):
            if getattr(self, name) is not None:
                check_count(getattr(self, name), f"execution.{name}")
        if self.max_memory is not None:
            parse_memory(self.max_memory, "execution.max_memory")
        if self.device is not None and not isinstance(self.device, str):
            raise ValueError(f"execution.device: must be a device name such as 'cpu', 'cuda', 'cuda:1' or 'auto', "
                             f"got {self.device!r}")
        backend = self.backend
        if not (backend is None or (isinstance(backend, str) and backend in BACKENDS)
                or callable(getattr(backend, "imap", None))):
            raise ValueError(f"execution.backend: must be None, one of {BACKENDS} or a Backend (an object with "
                             f"imap), got {backend!r}")
        if not (isinstance(self.progress, bool) or callable(self.progress)):
            raise ValueError(f"execution.progress: must be True, False or a callable given the work done, got "
                             f"{self.progress!r}")

    def device_or(self, default: str) -> str:
        """``device``, or ``default`` where it is left ``None``."""
        return default if self.device is None else self.device


@dataclass(frozen=True)
class Storage:
    """Where a run is kept, and what may be done to what is there.

    Attributes:
        out_dir: The run folder. Checked first (``multipower.runs.rundir.check_out``: refused when it holds another
            kind of run, another configuration, or result files without a manifest, unless ``overwrite``; files
            of the user's own beside them are left alone); finished pieces are saved there as they finish, and a
            rerun resumes from them.
        restart: Discard the saved pieces and start over.
        overwrite: Replace a folder holding another run (its files are removed first).
        files: More files (plain file names to text or bytes, e.g. ``spec.json``) written with the result and listed
            in the manifest; not the result's own ``power.csv``, ``summary.json`` or ``manifest.json``.

    Raises:
        ValueError: naming the field, for an ``out_dir`` that is not a path, a ``restart`` or ``overwrite`` that is
            not ``True`` or ``False``, or ``files`` that are not plain names inside the folder.
    """

    out_dir: PathLike
    restart: bool = False
    overwrite: bool = False
    files: Optional[Mapping[str, str]] = None

    def __post_init__(self) -> None:
        if not isinstance(self.out_dir, (str, Path)) or not str(self.out_dir).strip():
            raise ValueError(f"storage.out_dir: must be a folder path, got {self.out_dir!r}")
        for name in ("restart", "overwrite"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"storage.{name}: must be True or False, got {getattr(self, name)!r}")
        if self.files is not None:
            check_extra_files(self.files, "storage.files")
