"""Shared set-up for the keepalived.conf hardening tests: run one config load under a time and memory bound.

A config that hangs or eats memory must fail the test that feeds it, not the machine: :func:`bounded` arms
SIGALRM (a blocking ``open`` or ``read`` is interrupted, PEP 475 retries only after the handler raised) and
lowers the process's address-space limit for the duration, then restores both.
"""

from __future__ import annotations

import resource
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Overrun(Exception):
    """The guarded code ran past its time bound."""


def _address_space() -> int:
    """The process's current virtual size in bytes (/proc/self/statm, first field in pages)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * resource.getpagesize()


@contextmanager
def bounded(seconds: float, extra_bytes: int = 2 << 30) -> Iterator[None]:
    """Raise :class:`Overrun` after ``seconds``; MemoryError past ``extra_bytes`` more address space."""

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise Overrun(f"still running after {seconds} s")

    old_handler = signal.signal(signal.SIGALRM, on_alarm)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _address_space() + extra_bytes
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
