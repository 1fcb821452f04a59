"""Failover figures from advertisements seen on the wire, and the RFC bound they are judged against.

Pure functions over :class:`~netns_lab.capture.AdvertSeen` records, so the same code measures real
keepalived, our daemon, and the simulator's virtual wire.

The gap measured is *master's last advertisement -> new master's first advertisement*, both from one capture
point. A backup restarts its Master_Down_Timer on every advert it receives, so after the master dies it fires
Master_Down_Interval after the *last* advert, whatever the moment of the crash; the gap is therefore
Master_Down_Interval plus the backup's reaction time (scheduling, sending), not a number spread over a whole
interval as crash-to-takeover latency is (RFC 9568 §6.1).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "Failover",
    "MasterSpan",
    "clusters",
    "find_failover",
    "master_down_interval",
    "masters",
    "skew_time",
]


class _Advert(Protocol):
    """What measuring needs from an advert (``AdvertSeen`` has it; so can a simulator's record)."""

    @property
    def t(self) -> float: ...
    @property
    def src(self) -> str: ...
    @property
    def vrid(self) -> int: ...
    @property
    def priority(self) -> int: ...
    @property
    def version(self) -> int: ...
    @property
    def interval_cs(self) -> int: ...


def _check(version: int, priority: int, interval: float) -> None:
    if version not in (2, 3):
        raise ValueError(f"VRRP version must be 2 or 3, not {version!r}")
    if not 1 <= priority <= 255:
        raise ValueError(f"priority must be 1-255, not {priority!r}")
    if not interval > 0:
        raise ValueError(f"advertisement interval must be > 0 s, not {interval!r}")


def skew_time(version: int, priority: int, interval: float) -> float:
    """Skew_Time in seconds: v3 ``(256-prio)*interval/256`` (RFC 9568); v2 ``(256-prio)/256`` (RFC 3768)."""
    _check(version, priority, interval)
    if version == 3:
        return (256 - priority) * interval / 256
    return (256 - priority) / 256


def master_down_interval(version: int, priority: int, interval: float, *, down_adverts: int = 3) -> float:
    """Master_Down_Interval in seconds for a backup of ``priority`` hearing adverts every ``interval`` s.

    ``down_adverts`` is keepalived's ``down_timer_adverts`` (the RFC's 3).
    """
    _check(version, priority, interval)
    if down_adverts < 1:
        raise ValueError(f"down_adverts must be >= 1, not {down_adverts!r}")
    return down_adverts * interval + skew_time(version, priority, interval)


@dataclass(frozen=True)
class Failover:
    """One takeover seen on the wire, with the bound it is judged against.

    ``gap`` = ``first_new - last_old``; ``master_down_interval`` is computed from the wire as the new master
    would: the old master's advertised interval and the new master's own (advertised) priority.
    """

    vrid: int
    version: int
    old_master: str
    new_master: str
    last_old: float
    first_new: float
    interval: float
    new_priority: int
    master_down_interval: float

    @property
    def gap(self) -> float:
        return self.first_new - self.last_old

    @property
    def excess(self) -> float:
        """How much longer than Master_Down_Interval the takeover took (negative: earlier)."""
        return self.gap - self.master_down_interval

    def within(self, tolerance: float) -> bool:
        """True if the gap lies in [MDI - tolerance, MDI + tolerance]."""
        return abs(self.excess) <= tolerance


@dataclass(frozen=True)
class MasterSpan:
    """A run of consecutive adverts (of one VRID) from one source: who was master, from when to when."""

    src: str
    first: float
    last: float
    count: int
    priority: int


def _sorted(adverts: Iterable[_Advert], vrid: int) -> list[_Advert]:
    return sorted((a for a in adverts if a.vrid == vrid), key=lambda a: a.t)


def masters(adverts: Iterable[_Advert], vrid: int) -> list[MasterSpan]:
    """Split the advert stream of ``vrid`` into spans of one sender (priority-0 adverts end a span).

    Two interleaved senders (split brain, or the moments around a preemption) show up as many short spans.
    """
    spans: list[MasterSpan] = []
    for a in _sorted(adverts, vrid):
        if a.priority == 0:
            continue
        if spans and spans[-1].src == a.src:
            s = spans[-1]
            spans[-1] = MasterSpan(s.src, s.first, a.t, s.count + 1, a.priority)
        else:
            spans.append(MasterSpan(a.src, a.t, a.t, 1, a.priority))
    return spans


def find_failover(
    adverts: Sequence[_Advert],
    vrid: int,
    *,
    after: float | None = None,
    old_master: str | None = None,
    down_adverts: int = 3,
) -> Failover | None:
    """Find the first takeover of ``vrid``: the old master's last advert, then another router's first.

    ``after`` (a time, e.g. when the master was killed) picks the old master as the sender of the last advert
    at or before it, unless ``old_master`` names it. Adverts from others before the old master's last one
    (start-up, a backup that briefly claimed mastership) are not a takeover. Returns None when no other
    router has advertised yet.
    """
    stream = [a for a in _sorted(adverts, vrid) if a.priority > 0]
    if not stream:
        return None
    start = 0
    if after is not None:
        before = [i for i, a in enumerate(stream) if a.t <= after]
        if not before:
            return None
        start = before[-1]
    if old_master is None:
        old_master = stream[start].src
    last_old: _Advert | None = None
    for a in stream[start:]:
        if a.src == old_master:
            last_old = a
        elif last_old is not None:
            return Failover(
                vrid=vrid,
                version=a.version,
                old_master=old_master,
                new_master=a.src,
                last_old=last_old.t,
                first_new=a.t,
                interval=last_old.interval_cs / 100,
                new_priority=a.priority,
                master_down_interval=master_down_interval(
                    a.version, a.priority, last_old.interval_cs / 100, down_adverts=down_adverts
                ),
            )
    return None


def clusters(times: Iterable[float], gap: float) -> list[list[float]]:
    """Group ``times`` (sorted here) into bursts: runs whose neighbours are less than ``gap`` apart.

    Announcements come in bursts (``garp_master_repeat`` rounds, then a refresh later): counting bursts and
    their sizes is how the lab checks a GARP/NA schedule.
    """
    out: list[list[float]] = []
    for t in sorted(times):
        if out and t - out[-1][-1] < gap:
            out[-1].append(t)
        else:
            out.append([t])
    return out
