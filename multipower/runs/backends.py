"""Where work units run: this machine's threads or processes (``local``), or a Ray cluster (``ray``).

A **work unit** is a pure function call ``fn(unit)``: its result depends only on the run specification and the
unit (a range of sample indices, a sweep point), never on where or when it runs. Units return their results to
the caller, which alone writes to disk (through the result stores), so a run's files are the same on any backend.

``Backend.imap`` yields results **in unit order** with a bounded number of units in flight, so memory stays at
a few units whatever their count, and the caller can accumulate in a fixed order.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, Optional, TypeVar

from multipower.envs.validation import available_cores

U = TypeVar("U")
R = TypeVar("R")
BACKENDS = ("local", "ray")
KINDS = ("thread", "process")


class Backend:
    """Runs work units. Subclasses implement ``_executor`` (or override ``imap``)."""

    name = "local"

    def __init__(self, jobs: Optional[int] = None, kind: str = "thread") -> None:
        if jobs is not None and (isinstance(jobs, bool) or int(jobs) != jobs or jobs < 1):
            raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.jobs = int(jobs) if jobs is not None else available_cores()
        self.kind = kind

    def imap(self, fn: Callable[[U], R], units: Iterable[U], lookahead: Optional[int] = None,
             stop: Optional[threading.Event] = None) -> Iterator[R]:
        """``fn(unit)`` for every unit, results yielded in unit order.

        Args:
            lookahead: Units in flight at most (default ``2 · jobs``): bounds the memory held.
            stop: Set when the caller stops early (an error, Ctrl-C), before waiting for the units in flight,
                so units that watch it (in threads) can return at once.
        Raises:
            the first exception of a unit, after the units in flight are cancelled or finished; also on
                ``KeyboardInterrupt`` in the caller, units not started are cancelled.
        """
        if self.jobs == 1:
            for unit in units:
                yield fn(unit)
            return
        limit = max(1, lookahead or 2 * self.jobs)
        pool = self._executor()
        pending: deque = deque()
        try:
            for unit in units:
                pending.append(pool.submit(fn, unit))
                if len(pending) >= limit:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        except BaseException:
            if stop is not None:
                stop.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _executor(self) -> Executor:
        if self.kind == "thread":
            return ThreadPoolExecutor(self.jobs)
        return ProcessPoolExecutor(self.jobs)

    def describe(self) -> str:
        return f"local ({self.jobs} {self.kind}{'s' if self.jobs != 1 else ''})"


def get_backend(name: str = "local", address: Optional[str] = None, jobs: Optional[int] = None,
                kind: str = "thread") -> Backend:
    """The backend called ``name``; ``address`` is for ``ray`` only.

    Raises:
        ValueError: for an unknown name, or an address given to the local backend.
    """
    if name == "local":
        if address is not None:
            raise ValueError("ray_address applies to backend 'ray' only")
        return Backend(jobs, kind)
    if name == "ray":
        from multipower.runs.ray_backend import RayBackend  # noqa: PLC0415  (Ray is an optional extra)

        return RayBackend(address=address, jobs=jobs)
    raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")


def remote(backend) -> Optional[Backend]:
    """The backend to send work units to, or None where the caller's own local threads or processes serve:
    ``backend`` None, ``"local"`` or a local ``Backend``; a name is resolved with ``get_backend``."""
    if backend is None or backend == "local" or getattr(backend, "name", None) == "local":
        return None
    return get_backend(backend) if isinstance(backend, str) else backend
