"""Worker processes that stop with their driver: chunks of reward samples trained side by side.

The driver alone handles Ctrl-C and SIGTERM: workers ignore both (a terminal's Ctrl-C reaches the whole process
group), and the driver kills them when it is interrupted or fails, so an interrupted run stops at once instead
of waiting for the chunks in progress. A worker whose driver died (SIGKILL) exits within a second instead of
training on for nobody.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Callable, Iterable, Iterator, Optional, TypeVar

U = TypeVar("U")
R = TypeVar("R")


def init_worker(threads: Optional[int] = None) -> None:
    """Initializer of a worker process: ignore SIGINT and SIGTERM, exit when the driver is gone; with
    ``threads``, limit torch to that many threads (tiny per-sample ops: processes side by side beat threads)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    parent = os.getppid()
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def stop_workers(pool: ProcessPoolExecutor) -> None:
    """Kill the pool's running workers (Python < 3.14 has no public way; shutdown would wait for their units)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()


def imap_unordered(fn: Callable[[U], R], units: Iterable[U], jobs: int,
                   initializer: Callable[..., None] = init_worker, initargs: tuple = (),
                   poll: Optional[Callable[[], None]] = None) -> Iterator[R]:
    """``fn(unit)`` for every unit, in ``jobs`` worker processes, each result yielded as soon as it is ready
    (``jobs == 1``: in this process, in order). ``fn`` must be a module-level function of picklable units.
    ``poll`` is called at least every half second while the workers run (e.g. to pass on their progress).

    On an exception in a unit, in the caller, or ``KeyboardInterrupt``, the workers are killed at once: the units
    in progress are lost, the ones already yielded are the caller's.
    """
    units = list(units)
    if jobs <= 1 or len(units) <= 1:
        for unit in units:
            yield fn(unit)
        return
    pool = ProcessPoolExecutor(min(jobs, len(units)), initializer=initializer, initargs=initargs)
    try:
        pending = {pool.submit(fn, unit) for unit in units}
        while pending:
            finished, pending = wait(pending, timeout=None if poll is None else 0.5, return_when=FIRST_COMPLETED)
            if poll is not None:
                poll()
            for future in finished:
                yield future.result()
    except BaseException:
        stop_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
