"""The checker process's big, long-lived data and CPython's cyclic garbage collector.

Why: at keepalived's reload-scale example (2,277 virtual servers, 37,205 real servers) the configuration model,
the LVS settings, the pool and the check machines are ~640,000 tracked objects.  A full (generation 2)
collection walks all of them and holds the GIL while it does: 0.6-0.7 s on this machine, ten times that in
User-Mode Linux.  A reload builds a second set of the same size, which is exactly what triggers full
collections (CPython runs one when the survivors since the last one reach a quarter of the old generation), so
the parse in its worker thread stopped the event loop for seconds: connects that had completed were reported
as timeouts and healthy real servers left the table.  None of these objects is ever part of a reference cycle
(the settings are frozen dataclasses, tuples and dicts; ``tests/unit/test_checker_heap.py`` proves a reload's
worth of them is freed by reference counting alone), so the collector can never find garbage among them.

What: :func:`built_off_collector` runs a build with the collector off and then moves every tracked object into
the permanent generation (``gc.freeze``), where no collection looks again; reference counting still frees
them when a later reload drops them.  The cost: an object frozen this way that later becomes garbage *in a
cycle* is never reclaimed — the loop's few objects alive at the moment of the freeze (tasks, futures), a few
KiB per reload at most.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def built_off_collector(build: Callable[[], T]) -> T:
    """``build()`` with the cyclic collector paused; on success its result (and everything else alive) is moved
    out of the collector's reach (see the module docstring).  On failure nothing is frozen."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        result = build()
        gc.freeze()
        return result
    finally:
        if was_enabled:
            gc.enable()


def freeze_now() -> None:
    """Move everything alive now out of the collector's reach (the start-up settings, pool and check machines)."""
    gc.freeze()
