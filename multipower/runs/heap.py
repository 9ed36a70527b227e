"""Keep freed memory in the process for reuse while a run allocates and frees the same arrays chunk after chunk.

glibc's ``malloc`` hands memory freed at the top of its heap back to the system once more than ``M_TRIM_THRESHOLD``
bytes (128 KB at first) lie free there, and maps large blocks on their own, unmapping them when freed. A run
allocates and frees the same arrays for every chunk of samples (the reward draws, the solver's value arrays), so
each chunk paid again for the pages of the last: page faults and zeroing cost about a quarter of an exact run on
maze7x7 at γ = 0.1 (``exact_power`` on one thread: 88 to 97 µs a sample, against 60 to 62 µs with the thresholds
below; 8.8 page faults a sample, against none).

``keep_freed_memory()`` raises both thresholds once per process. A run's peak memory stays about the same (the
robot-face reproductions: 0.67 to 0.70 GB, against 0.65 to 0.67 GB); what the process gives back to the system
after a run is at most ``TRIM_THRESHOLD`` less. Nothing is done on other C libraries, or
where the user has set glibc's own ``MALLOC_TRIM_THRESHOLD_`` or ``MALLOC_MMAP_THRESHOLD_``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import platform

#: ``mallopt`` parameters (glibc's ``malloc.h``).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: Free bytes at the top of the heap kept before any is given back.
TRIM_THRESHOLD = 256 << 20
#: Blocks at least this large are mapped on their own (glibc's largest threshold on 64-bit systems: a chunk's
#: arrays on the robot face, 25 MB, stay below it).
MMAP_THRESHOLD = 32 << 20


@functools.cache
def keep_freed_memory() -> bool:
    """Raise glibc's trim and mmap thresholds for this process (the first call only; later calls return the
    first answer).

    Returns:
        Whether both thresholds were set: ``False`` on another C library, when ``mallopt`` refuses, or when the
        environment sets ``MALLOC_TRIM_THRESHOLD_`` or ``MALLOC_MMAP_THRESHOLD_`` (the user's choice stands).
    """
    return _set_thresholds()


def _set_thresholds() -> bool:
    if platform.libc_ver()[0] != "glibc" or {"MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_"} & set(os.environ):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # Mmap first: setting it stops glibc from moving both thresholds itself.
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
