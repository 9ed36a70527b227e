"""Sample blocks: exact POWER accumulated in a fixed order, each finished block on disk, runs resumable.

The samples ``0 .. n-1`` of a run are cut into blocks ``[kB, min((k+1)B, n))`` of a size ``B`` that depends on
the world only (``block_size``). A block's per-state mean and sum of squared deviations (``M2``) come from
Welford's sequential update (``multipower.exact._blockstats``), and blocks are merged in block order with Chan's
update (Chan, Golub & LeVeque 1979), so the bytes of the result depend neither on how a block was split into
solver calls (memory budget), nor on ``jobs``, the backend, or interruptions.

With a run folder, every finished block is written atomically to ``OUT/blocks/`` (a
``ChunkStore`` whose key is everything a block depends on). A rerun loads the
finished blocks and solves only the missing ones; a block cut short by a smaller ``n`` (the run's last block)
is continued where it stopped, which gives the same bytes as solving it whole.
"""

from __future__ import annotations

import inspect
import threading
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Iterator, NamedTuple, Optional

import numpy as np

from multipower.runs.backends import Backend
from multipower.runs.chunkstore import ChunkStore

#: A block holds about this many (sample, state) values: blocks of big worlds hold fewer samples, but at least
#: ``MIN_BLOCK``: a block's file holds two numbers per state and column whatever its samples, so on the robot face
#: (48,180 joint states) blocks of 4 samples wrote 6.7 GB for 10,000 samples, and 64 write 0.4 GB.
BLOCK_ELEMENTS = 2**18
MIN_BLOCK = 64
MAX_BLOCK = 1024
BLOCK_FOLDER = "blocks"


def block_size(n_states: int) -> int:
    """Samples per block: the power of two ``B ≤ BLOCK_ELEMENTS / n_states``, between ``MIN_BLOCK`` and
    ``MAX_BLOCK``."""
    target = max(1, BLOCK_ELEMENTS // max(1, int(n_states)))
    return int(min(MAX_BLOCK, max(MIN_BLOCK, 1 << (target.bit_length() - 1))))


@dataclass
class BlockStats:
    """Samples ``[start, end)`` of one block: per column and state, the mean and ``M2``, each ``(C, S)``."""

    start: int
    end: int
    mean: np.ndarray
    m2: np.ndarray
    seconds: float = 0.0

    @property
    def count(self) -> int:
        return self.end - self.start


class BlockUnit(NamedTuple):
    """One work unit: block ``k``, continued from ``prior`` (its first samples) when given."""

    k: int
    prior: Optional[BlockStats] = None


class Cancelled(Exception):
    """Raised inside a unit when its run was stopped (Ctrl-C): the block is abandoned, never saved."""


#: Runs stopped by the caller, by token: units of such a run return early between solver calls (local threads).
_STOPPED: dict = {}


def stop_requested(token: str) -> bool:
    event = _STOPPED.get(token)
    return event is not None and event.is_set()


#: Groups of consecutive sample blocks of the delete-one-group jackknife of α (``Totals.jackknife``).
JACKKNIFE_GROUPS = 20


class Totals:
    """Blocks merged in block order: count, mean and ``M2`` per column and state (Chan's parallel update).

    With ``n_samples``, the blocks are also merged into ``JACKKNIFE_GROUPS`` groups of consecutive samples
    (group of a block: ``start · G // n_samples``), for ``jackknife``: per-sample POWER is not kept, but
    leaving one group out at a time gives the uncertainty of any statistic of the per-state means.
    """

    def __init__(self, n_samples: Optional[int] = None) -> None:
        self.count = 0
        self.mean: Optional[np.ndarray] = None
        self.m2: Optional[np.ndarray] = None
        self.n_samples = n_samples
        self.groups: dict = {}

    def add(self, block: BlockStats) -> None:
        if self.n_samples:
            group = min(JACKKNIFE_GROUPS - 1, block.start * JACKKNIFE_GROUPS // self.n_samples)
            self.groups.setdefault(group, Totals()).add(block)
        self._merge(block)

    def jackknife(self, statistic) -> Optional[tuple]:
        """``(se, low, high)`` of ``statistic(mean)`` (a function of the ``(C, S)`` means) by the delete-one-group
        jackknife over the sample groups, with a normal 95 % interval; ``None`` with fewer than two groups."""
        groups = [g for g in self.groups.values() if g.count]
        if len(groups) < 2 or sum(g.count for g in groups) != self.count:
            return None
        value = statistic(self.mean)
        left_out = np.array([statistic((self.count * self.mean - g.count * g.mean) / (self.count - g.count))
                             for g in groups])
        k = len(groups)
        se = float(np.sqrt((k - 1) / k * np.sum((left_out - left_out.mean()) ** 2)))
        return se, value - 1.96 * se, value + 1.96 * se

    def _merge(self, block) -> None:
        n_b = block.count
        if self.count == 0:
            self.count, self.mean, self.m2 = n_b, block.mean.copy(), block.m2.copy()
            return
        n = self.count + n_b
        delta = block.mean - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.m2 = self.m2 + block.m2 + delta * delta * (self.count * n_b / n)
        self.count = n

    def se(self) -> np.ndarray:
        """Standard error of the mean, ``sqrt(M2 / (n - 1) / n)`` (zero for one sample)."""
        if self.count < 2:
            return np.zeros_like(self.mean)
        return np.sqrt(self.m2 / (self.count - 1) / self.count)


class BlockRun:
    """What ``run_blocks`` did: the totals, blocks loaded from disk and solved, and whether it finished."""

    def __init__(self, n_samples: Optional[int] = None) -> None:
        self.totals = Totals(n_samples)
        self.loaded = 0
        self.solved = 0
        self.seconds = 0.0


def finished_prefix(store: ChunkStore, block: int) -> int:
    """Samples ``0 .. m-1`` covered by consecutive finished blocks in ``store`` (the last may be cut short)."""
    ends = {start: end for start, end in store.ranges()}
    at = 0
    while at in ends:
        end = ends[at]
        if end <= at:
            break
        if end - at < block:
            return end
        at = end
    return at


def run_blocks(
    run: BlockRun,
    solve: Callable[[object, BlockUnit], BlockStats],
    job,
    store: Optional[ChunkStore] = None,
    write: bool = True,
    backend: Optional[Backend] = None,
    progress: bool = False,
    desc: str = "",
) -> None:
    """Merge blocks ``0 .. ceil(n/B)-1`` (``n = job.n_samples`` samples, blocks of ``B = job.block``) into
    ``run.totals`` in order: loaded from ``store`` where finished, else ``solve(job, unit)`` through
    ``backend.imap``, each solved block saved to ``store`` when ``write``.

    On Ctrl-C (or any error) ``run`` keeps the blocks merged so far; units in flight are told to stop
    (``stop_requested`` with ``job.token``) and abandoned.
    """
    n_samples, block = job.n_samples, job.block
    ends = {start: end for start, end in store.ranges()} if store is not None else {}
    n_blocks = -(-n_samples // block)

    def end_of(k: int) -> int:
        return min((k + 1) * block, n_samples)

    def stored(k: int) -> bool:
        return ends.get(k * block) == end_of(k)

    def units() -> Iterator[BlockUnit]:  # lazily: O(1) memory for any number of blocks
        for k in range(n_blocks):
            if stored(k):
                continue
            end = ends.get(k * block)
            prior = store.read(k * block, end) if end is not None and end < end_of(k) else None
            yield BlockUnit(k, None if prior is None else BlockStats(k * block, end, prior["mean"], prior["m2"]))

    stop = _STOPPED.setdefault(job.token, threading.Event())
    backend = backend or Backend(1)
    # the stop event lets a local backend tell running units to return before it waits for them
    extra = {"stop": stop} if "stop" in inspect.signature(backend.imap).parameters else {}
    solved = backend.imap(partial(solve, job), units(), **extra)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_blocks, desc=desc, unit="block")
    try:
        for k in range(n_blocks):
            if stored(k):
                data = store.read(k * block, end_of(k))
                run.totals.add(BlockStats(k * block, end_of(k), data["mean"], data["m2"]))
                run.loaded += 1
            else:
                stats = next(solved)
                # Merged before it is saved: a Ctrl-C between the two leaves a partial result that holds every
                # block on disk (a merged block not yet saved is solved again on resume, to the same bytes).
                run.totals.add(stats)
                run.solved += 1
                run.seconds += stats.seconds
                if store is not None and write:
                    store.save(stats.start, stats.end, mean=stats.mean, m2=stats.m2)
                    prior_end = ends.get(stats.start)
                    if prior_end is not None and prior_end != stats.end:
                        store.remove(stats.start, prior_end)  # the longer block replaces its first samples
            if bar is not None:
                bar.update()
    except BaseException:
        stop.set()
        raise
    finally:
        solved.close()
        _STOPPED.pop(job.token, None)
        if bar is not None:
            bar.close()


def open_store(directory: Path, key: dict, restart: bool) -> tuple[ChunkStore, str]:
    """The block store of a run folder; blocks saved by another numerics version are discarded (with a note)."""
    try:
        return ChunkStore(directory, key, restart=restart, folder=BLOCK_FOLDER), ""
    except ValueError as error:
        if "numerics_version" not in str(error):
            raise
        return ChunkStore(directory, key, restart=True, folder=BLOCK_FOLDER), \
            "blocks saved by another version of the solver were discarded"
