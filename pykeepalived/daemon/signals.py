"""keepalived's signal functions: the names ``keepalived --signum=NAME`` accepts and the signals they stand for.

Why a table: monitoring scripts and systemd units send keepalived's signals by number (``kill -s $(keepalived
--signum=JSON)``), so our daemon must react to the same numbers and ``pykeepalived --signum`` must print them.
The values are keepalived 2.2.7's (``lib/signals.c`` ``get_signum``, ``lib/signals.h``): JSON is ``SIGRTMIN + 2``
and STATS_CLEAR ``SIGRTMAX - 1``; TDUMP (``SIGRTMAX``) exists only in keepalived builds with ``THREAD_DUMP``,
which Debian's 2.2.7 is not ("Unknown sigfunc TDUMP"), so it is not offered here either.
"""

from __future__ import annotations

import enum
import signal
from dataclasses import dataclass


class SigFunc(enum.StrEnum):
    """What a signal asks the daemon to do (keepalived's ``--signum`` names)."""

    STOP = "STOP"
    RELOAD = "RELOAD"
    DATA = "DATA"
    STATS = "STATS"
    STATS_CLEAR = "STATS_CLEAR"
    JSON = "JSON"


@dataclass(frozen=True)
class SignalSpec:
    """One signal function: its number and the file the VRRP process writes on it (None: no file)."""

    func: SigFunc
    signum: int
    dump_file: str | None


#: keepalived 2.2.7's table, in its ``--help`` order.
SIGNALS: tuple[SignalSpec, ...] = (
    SignalSpec(SigFunc.STOP, int(signal.SIGTERM), None),
    SignalSpec(SigFunc.RELOAD, int(signal.SIGHUP), None),
    SignalSpec(SigFunc.DATA, int(signal.SIGUSR1), "keepalived.data"),
    SignalSpec(SigFunc.STATS, int(signal.SIGUSR2), "keepalived.stats"),
    # keepalived writes the stats file, then zeroes every counter (vrrp_print_stats(true)).
    SignalSpec(SigFunc.STATS_CLEAR, int(signal.SIGRTMAX) - 1, "keepalived.stats"),
    SignalSpec(SigFunc.JSON, int(signal.SIGRTMIN) + 2, "keepalived.json"),
)

_BY_NAME = {s.func.value: s for s in SIGNALS}
_BY_NUMBER = {s.signum: s for s in SIGNALS}


class UnknownSigFunc(ValueError):
    """``--signum=NAME`` with a NAME keepalived does not define."""

    def __init__(self, name: str) -> None:
        # keepalived's own wording ("Unknown sigfunc TDUMP"), so scripts that grep for it keep working.
        super().__init__(f"Unknown sigfunc {name}")
        self.name = name


def signum(name: str) -> int:
    """The signal number for keepalived's signal function ``name`` (case-sensitive, as keepalived's strcmp)."""
    spec = _BY_NAME.get(name)
    if spec is None:
        raise UnknownSigFunc(name)
    return spec.signum


def spec_for(number: int) -> SignalSpec | None:
    """The signal function a received signal number stands for, or None when it is not one of keepalived's."""
    return _BY_NUMBER.get(number)


def names() -> tuple[str, ...]:
    """The names ``--signum`` accepts, in keepalived's ``--help`` order."""
    return tuple(s.func.value for s in SIGNALS)

