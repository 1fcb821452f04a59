"""The entry point's first act: keepalived's signals must not kill a process of ours at any moment of its life.

Why a module of its own that imports nothing but ``signal``: the default action of SIGHUP, SIGUSR1, SIGUSR2 and the
real-time signals is to terminate, and a monitoring script or ``systemctl reload`` may send one while the daemon
is still importing (tens of milliseconds).  So the entry points (``pykeepalived.entry`` for the console script,
``python -m pykeepalived``) call :func:`protect_entry` before they import anything else.  An ignored disposition
survives exec, so each child the parent starts is covered from its first instruction too.

The numbers are keepalived's RELOAD, DATA, STATS, JSON and STATS_CLEAR (``pykeepalived.daemon.signals`` holds the
table; a unit test keeps the two equal).
"""

from __future__ import annotations

import signal

#: SIGHUP (RELOAD), SIGUSR1 (DATA), SIGUSR2 (STATS), SIGRTMIN+2 (JSON), SIGRTMAX-1 (STATS_CLEAR)
NEVER_FATAL: tuple[int, ...] = (int(signal.SIGHUP), int(signal.SIGUSR1), int(signal.SIGUSR2),
                                int(signal.SIGRTMIN) + 2, int(signal.SIGRTMAX) - 1)


def _stop_now(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM before the daemon's own handler: the same clean path as Ctrl-C


def protect_entry() -> None:
    """keepalived's signals cannot kill us; SIGTERM/SIGINT stop us cleanly (KeyboardInterrupt) until the daemon
    installs its own handlers."""
    for sig in NEVER_FATAL:
        signal.signal(sig, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_now)
    signal.signal(signal.SIGINT, signal.default_int_handler)

