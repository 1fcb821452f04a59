"""A deliberately broken variant of our daemon, for proving that the drawn-schedule tests catch a real bug.

``python -m netns_lab.broken_daemon <keepalived flags>`` runs the real daemon's entry point with one change:
a Backup ignores priority-0 adverts (RFC 9568 §6.4.2 says it must then wait only Skew_Time), so after a
graceful stop of the Master the Backup waits the whole Master_Down_Interval.  The production code has no hook
for this: the patch is applied here, to the class, before the daemon starts.  The simulator runs the same
class, so :func:`ignore_priority_zero` breaks it there too.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from vrrp.core import router as _router
from vrrp.core.router import VirtualRouter
from vrrp.core.state import State

__all__ = ["ignore_priority_zero", "patch", "unpatch"]

_ORIGINAL = VirtualRouter._advert_in_backup


def _ignoring(self: VirtualRouter, adv: Any, src: Any, now: int) -> Any:
    if adv.priority == 0:
        return []  # the bug: no Skew_Time timer, the Master_Down_Interval timer keeps running
    return _ORIGINAL(self, adv, src, now)


def patch() -> None:
    """Break :class:`VirtualRouter`: a Backup ignores priority-0 adverts."""
    VirtualRouter._advert_in_backup = _ignoring  # type: ignore[method-assign]
    _router._ADVERT_HANDLERS[State.BACKUP] = _ignoring  # the state's dispatch table holds the function too


def unpatch() -> None:
    """Undo :func:`patch`."""
    VirtualRouter._advert_in_backup = _ORIGINAL  # type: ignore[method-assign]
    _router._ADVERT_HANDLERS[State.BACKUP] = _ORIGINAL


@contextlib.contextmanager
def ignore_priority_zero() -> Iterator[None]:
    """The broken behaviour for the duration of a ``with`` block (in this process: the simulator)."""
    patch()
    try:
        yield
    finally:
        unpatch()


def main() -> None:
    """Patch, then hand over to the real daemon's console entry point (argv unchanged).

    The daemon's watchdog starts its VRRP child as a new interpreter: ``broken_site/sitecustomize.py``, first on
    the inherited PYTHONPATH, patches that interpreter too."""
    patch()
    site = str(Path(__file__).with_name("broken_site"))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (site, os.environ.get("PYTHONPATH")) if p)
    # the installed console script's target, found by name: netns_lab runs our daemon, it does not import it
    (script,) = entry_points(group="console_scripts", name="pykeepalived")
    script.load()()


if __name__ == "__main__":
    main()
