"""The C allocator's settings for the appliance process (glibc's malloc, through mallopt).

Two glibc defaults made the appliance's resident memory climb with use although Python's own
objects did not (bench/load.py, tracemalloc flat while RSS rose):

* **The mmap threshold moves up.** An allocation of 128 KiB or more is mapped on its own and
  unmapped when freed, but glibc raises that threshold to the size of every mapped block freed
  (up to 32 MiB). A sign-in hashes the password with argon2id, which takes 19 MiB: after the
  first, each later 19 MiB buffer came from the heap of the thread doing the sign-in and stayed
  there after it was freed. With a request worker per sign-in, 16 workers could keep
  16 × 19 MiB. A fixed threshold (`MMAP_THRESHOLD`) keeps large buffers mapped: freed, they
  go back to the system at once.
* **One heap (arena) per thread, up to eight per core.** Every request worker that renders a
  desk page of 350 rows grows a heap of its own to that page's peak and keeps it. Two arenas
  (`ARENA_MAX`) is what bench/pinned.py runs with, and what fits an address-space limit.

And one more, for address space rather than resident memory: **thread stacks** default to
8 MiB each, reserved whether touched or not. The appliance runs 45 threads under load (32 web
workers, jobs, streams, store readers), 360 MiB of a 512 MiB address-space limit
(bench/pinned.py) before any heap; 32 busy clients then ran it out ("can't start new thread",
MemoryError). Python 3.11 does not recurse on the C stack for Python calls: `THREAD_STACK`
(2 MiB) is plenty, and only what a thread touches is ever resident.

The interpreter's thread switching (tune_switching) is made finer for card saves' sake, and the
collector (tune_gc, at the end) is tuned once the appliance is assembled.

Applied once at start by the run path (device/appliance.py start_appliance), before the web
servers start their threads. A variable already set in the environment (MALLOC_ARENA_MAX,
MALLOC_MMAP_THRESHOLD_) wins: that is somebody's deliberate choice. Elsewhere than glibc this
does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

ARENA_MAX = 2
# A page's large buffers (a 350-row desk page is about 1 MiB) are mapped and unmapped too: with
# 4 MiB they stayed in the arenas and RSS ended 15 MiB higher after 3,000 requests.
MMAP_THRESHOLD = 256 * 1024
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # glibc's own ratio when it moves the threshold itself

_ENVIRONMENT = {
    M_ARENA_MAX: "MALLOC_ARENA_MAX",
    M_MMAP_THRESHOLD: "MALLOC_MMAP_THRESHOLD_",
    M_TRIM_THRESHOLD: "MALLOC_TRIM_THRESHOLD_",
}


def allocator_settings() -> dict[int, int]:
    """What tune_malloc asks of mallopt."""
    return {
        M_ARENA_MAX: ARENA_MAX,
        M_MMAP_THRESHOLD: MMAP_THRESHOLD,
        M_TRIM_THRESHOLD: TRIM_THRESHOLD,
    }


THREAD_STACK = 2 * 1024 * 1024

# How long a thread running Python keeps the interpreter's lock while another asks for it.
# A card save gives the lock up at each SQLite call and fsync, and each time it wants it back
# it waited for the busy thread's whole interval: with the default 5 ms, a save beside the
# audit chain's check (pure Python, seconds long at a year of entries) took 57 ms instead of 3
# (bench/scale.py at 10^6); with 1 ms at most 24, the check no slower.
SWITCH_INTERVAL_S = 0.001


def tune_threads() -> int:
    """Stacks of threads started from now on: THREAD_STACK (returns the previous size, 0 for
    the platform's default)."""
    return threading.stack_size(THREAD_STACK)


def tune_switching() -> float:
    """The interpreter lock is handed on after SWITCH_INTERVAL_S (returns the previous)."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    return before


def tune_malloc(environ: Mapping[str, str] | None = None) -> dict[str, int]:
    """Set what the environment has not set; returns what was set, by its variable's name
    (empty where the C library is not glibc)."""
    environ = os.environ if environ is None else environ
    mallopt = _mallopt()
    if mallopt is None:
        return {}
    applied = {}
    for parameter, value in allocator_settings().items():
        name = _ENVIRONMENT[parameter]
        if name in environ:
            continue
        if mallopt(parameter, value) == 1:
            applied[name] = value
        else:
            log.warning("mallopt refused %s=%d", name, value)
    return applied


def _mallopt() -> Callable[[int, int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        function = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int)
    function.restype = ctypes.c_int
    mallopt: Callable[[int, int], int] = function
    return mallopt


# Python's cyclic garbage collector (bench/desk.py "collector"): a desk page allocates tens of
# thousands of container objects (row dicts, template frames), so a young collection ran every
# 700 of them and every tenth-of-a-tenth one went through every object of the process: the
# modules, templates, app and store built at start, which never become garbage. Frozen, those
# are left out of every collection; GEN0_THRESHOLD makes the young collections fewer (a few
# MiB more young objects between them at most; a page's garbage is freed by reference counts,
# not by the collector).
GEN0_THRESHOLD = 10_000


def tune_gc() -> None:
    """Leave everything alive now out of the collector's work (gc.freeze), and collect the
    young generation less often. Called once the appliance is assembled."""
    gc.unfreeze()  # a rebuild (restart from the admin page): the old appliance may go now
    gc.collect()  # what was built and dropped is freed, not frozen
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, older, oldest)
