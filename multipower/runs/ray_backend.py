"""Work units on a Ray cluster (``--backend ray``): the ``Backend`` contract on Ray tasks
(``name``, ``jobs``, ``imap``, ``describe``; ``multipower.runs.backends.get_backend`` imports this module only
when Ray is asked for, so this module does not import that one).

Each unit is one ``ray.remote`` task (one CPU, spread over the nodes). ``RayBackend.imap`` keeps at most
``lookahead`` tasks in flight and yields their results in unit order, so the driver's memory and the object store hold a few units
whatever their count. The unit function is put in the object store once per ``imap`` call and
kept by each worker process for the calls that follow, so a large closure (a model) travels once per worker.

Failures: a unit whose task raises, or whose worker dies, is retried ``max_retries`` times (Ray's
``max_retries`` with ``retry_exceptions=True``); after that ``UnitFailed`` names the unit in one line.

Ray is an optional extra: ``pip install 'multipower[ray]'``.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter, deque
from typing import Callable, Iterable, Iterator, Optional, TypeVar

U = TypeVar("U")
R = TypeVar("R")
INSTALL_HINT = "backend 'ray' needs Ray, which is not installed: pip install 'multipower[ray]' (or pip install 'ray[default]')"
#: Retries of a failed unit before it is reported (so ``1 + MAX_RETRIES`` attempts in all).
MAX_RETRIES = 2
#: Unit functions a worker keeps deserialised (one per recent ``imap`` call).
_WORKER_CACHE_SIZE = 4
_worker_functions: dict = {}
_remote = None


class UnitFailed(ValueError):
    """A unit failed on every attempt; the message names the unit and the last error, in one line (a
    ``ValueError``, so the command line prints it as one error line)."""


def _import_ray():
    try:
        import ray  # noqa: PLC0415  (optional dependency)
    except ImportError:
        raise ValueError(INSTALL_HINT) from None
    return ray


def _run_unit(box: list, unit):
    """Runs on a worker: ``fn(unit)`` and the id of the node that ran it. ``box`` holds the reference of the
    unit function; inside a list Ray does not resolve it, so each worker fetches it once and keeps it."""
    import ray  # noqa: PLC0415

    ref = box[0]
    key = ref.hex()
    fn = _worker_functions.get(key)
    if fn is None:
        fn = ray.get(ref)
        while len(_worker_functions) >= _WORKER_CACHE_SIZE:
            _worker_functions.pop(next(iter(_worker_functions)))
        _worker_functions[key] = fn
    return fn(unit), ray.get_runtime_context().get_node_id()


def _remote_unit(ray):
    global _remote
    if _remote is None:
        _remote = ray.remote(num_cpus=1)(_run_unit)
    return _remote


def _check_reachable(address: Optional[str]) -> None:
    """A ``HOST:PORT`` address must accept a connection within 10 s; ``ray.init`` would wait minutes for it."""
    if address is None or address in ("auto", "local") or "://" in address:
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=10).close()
    except (OSError, ValueError) as error:
        raise ValueError(f"ray_address: no Ray head answers at {address} ({error}); start one with "
                         "`ray start --head`, or give HOST:PORT as it printed") from None


def _one_line(error: BaseException) -> str:
    cause = getattr(error, "cause", None) or error
    text = f"{type(cause).__name__}: {cause}".strip()
    return text.splitlines()[0] if text else type(cause).__name__


class RayBackend:
    """Work units as Ray tasks, one CPU each.

    Args:
        address: The cluster, as for ``ray.init(address=...)``: ``None`` joins the cluster named by the
            ``RAY_ADDRESS`` environment variable, else the latest one started on this machine with ``ray start``,
            else starts a Ray instance local to this process (stopped when it exits); ``"auto"`` joins an existing
            cluster or fails; ``"local"`` always starts a new local instance; ``"HOST:PORT"`` joins the head at
            that address (the GCS port ``ray start --head`` prints, 6379 by default); ``"ray://HOST:10001"`` joins
            through Ray Client. If this process already called ``ray.init``, that connection is used.
        jobs: Units in flight are ``2 · jobs``; default: the cluster's CPUs when the backend connects.
        max_retries: Retries of a failed unit before ``UnitFailed`` (default ``MAX_RETRIES``).
    Raises:
        ValueError: one line, when Ray is not installed (``INSTALL_HINT``), for a bad ``jobs`` or
            ``max_retries``, or when nothing answers at a ``HOST:PORT`` address within 10 s.

    ``node_units`` counts, per Ray node id, the units that nodes ran for this backend (all ``imap`` calls).
    """

    name = "ray"

    def __init__(self, address: Optional[str] = None, jobs: Optional[int] = None,
                 max_retries: int = MAX_RETRIES) -> None:
        self._ray = _import_ray()
        if jobs is not None and (isinstance(jobs, bool) or int(jobs) != jobs or jobs < 1):
            raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
        if isinstance(max_retries, bool) or int(max_retries) != max_retries or max_retries < 0:
            raise ValueError(f"max_retries must be a non-negative integer, got {max_retries!r}")
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise ValueError(f"ray_address must be a cluster address such as HOST:6379, 'auto' or 'local', got {address!r}")
        _check_reachable(address)
        self.address = address
        self.kind = "task"
        self.max_retries = int(max_retries)
        self._jobs = int(jobs) if jobs is not None else None
        self.node_units: Counter = Counter()
        self._stopping = threading.Event()  # shared with the with_jobs views

    # ------------------------------------------------------------------ connection
    def connect(self):
        """Join (or start) the cluster once; returns the ``ray`` module."""
        ray = self._ray
        if not ray.is_initialized():
            try:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            except (ConnectionError, RuntimeError) as error:
                raise ValueError(f"ray_address: cannot join the Ray cluster at {self.address or 'auto'} "
                                 f"({_one_line(error)}); start one with `ray start --head`") from None
        return ray

    @property
    def jobs(self) -> int:
        if self._jobs is None:
            cpus = self.connect().cluster_resources().get("CPU", 1)
            self._jobs = max(1, int(cpus))
        return self._jobs

    def with_jobs(self, jobs: int) -> "RayBackend":
        """The same cluster and unit counts, with ``jobs`` units in flight per ``imap`` (for several streams
        running side by side)."""
        other = RayBackend.__new__(RayBackend)
        other.__dict__.update(self.__dict__)
        other._jobs = max(1, int(jobs))
        return other

    def stop(self) -> None:
        """Stop every ``imap`` of this backend (and its ``with_jobs`` views), in any thread: each raises
        ``KeyboardInterrupt`` within half a second, cancelling its units in flight."""
        self._stopping.set()

    # ------------------------------------------------------------------ units
    def imap(self, fn: Callable[[U], R], units: Iterable[U], lookahead: Optional[int] = None) -> Iterator[R]:
        """``fn(unit)`` for every unit as Ray tasks, results yielded in unit order.

        ``fn`` and the units must pickle with cloudpickle (closures do). At most ``lookahead`` (default
        ``2 · jobs``) tasks are in flight; on an exception or ``KeyboardInterrupt`` the ones still in flight
        are cancelled.

        Raises:
            UnitFailed: naming the unit, when it failed ``1 + max_retries`` times.
            KeyboardInterrupt: after ``stop``.
        """
        ray = self.connect()
        limit = max(1, lookahead or 2 * self.jobs)
        # SPREAD: units are independent and CPU-bound, so spread them over the nodes rather than pack the local one.
        remote = _remote_unit(ray).options(max_retries=self.max_retries, retry_exceptions=True,
                                           scheduling_strategy="SPREAD")
        box = [ray.put(fn)]
        pending: deque = deque()
        try:
            for unit in units:
                pending.append((unit, remote.remote(box, unit)))
                if len(pending) >= limit:
                    yield self._result(*pending.popleft())
            while pending:
                yield self._result(*pending.popleft())
        finally:
            for _, ref in pending:
                ray.cancel(ref)

    def _result(self, unit, ref):
        ray = self._ray
        while not ray.wait([ref], timeout=0.5)[0]:
            if self._stopping.is_set():
                raise KeyboardInterrupt
        try:
            value, node = ray.get(ref)
        except ray.exceptions.RayError as error:
            attempts = 1 + self.max_retries
            raise UnitFailed(f"work unit {unit!r} failed {attempts} time{'s' if attempts != 1 else ''}: "
                             f"{_one_line(error)}") from None
        self.node_units[node] += 1
        return value

    def units_by_node(self) -> str:
        """``"HOST/NODE-ID: N, ..."``: the units each node ran so far (first 8 characters of the node id)."""
        hosts = {node["NodeID"]: node.get("NodeManagerAddress", "?") for node in self._ray.nodes()}
        return ", ".join(f"{hosts.get(node, '?')}/{node[:8]}: {count}" for node, count in sorted(self.node_units.items()))

    def describe(self) -> str:
        ray = self.connect()
        nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
        return f"ray ({nodes} node{'s' if nodes != 1 else ''}, {self.jobs} CPUs)"
