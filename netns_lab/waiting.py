"""Polling with a deadline, for what the lab cannot be told about (a file appearing, an address moving)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_until"]

T = TypeVar("T")


def wait_until(pred: Callable[[], T], timeout: float, step: float = 0.05) -> T | None:
    """Call ``pred`` every ``step`` s until it returns something truthy (returned) or ``timeout`` s pass
    (None).  ``pred`` is always called at least once, and once more at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(step)
