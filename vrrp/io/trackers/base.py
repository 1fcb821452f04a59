"""What every tracker shares: the update it emits, the kinds, config errors and ``deliver`` to a router.

The router (sans-IO) owns what an update *means* (weights, ``reverse``, FAULT for weight 0, clamping); the
tracker modules only observe the world and report.  Every loop takes ``clock`` and ``sleep`` so tests drive it
with a virtual clock and no real waiting.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from vrrp.core.actions import Action

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

INT_MIN = -(2**31)
INT_MAX = 2**31 - 1


class TrackerConfigError(ValueError):
    """Tracker settings that cannot work; the message names the tracker and the field."""


class TrackerKind(enum.Enum):
    """Which keepalived block produced an update (the names are keepalived's keywords)."""

    SCRIPT = "vrrp_script"
    FILE = "track_file"
    PROCESS = "vrrp_track_process"


@dataclass(frozen=True)
class TrackerUpdate:
    """One observation for the router.

    Scripts and processes report ``up`` (True/False) and leave ``value`` None; a track file reports its
    integer ``value`` and leaves ``up`` None (the router multiplies it by the weight, or treats non-zero as
    failure for weight 0).  ``now`` is the tracker clock's time of the observation.
    """

    kind: TrackerKind
    name: str
    up: bool | None = None
    value: int | None = None
    now: float = 0.0


Emit = Callable[[TrackerUpdate], None]


class TrackerSink(Protocol):
    """What consumes updates: ``vrrp.core.router``'s virtual router has exactly these two methods."""

    def set_tracker_state(self, name: str, up: bool, now: int) -> list[Action]: ...

    def set_tracker_value(self, name: str, value: int, now: int) -> list[Action]: ...


def deliver(update: TrackerUpdate, sink: TrackerSink, now: int) -> list[Action]:
    """Hand ``update`` to the router (``now``: the router's integer-microsecond clock); return its actions."""
    if update.value is not None:
        return sink.set_tracker_value(update.name, update.value, now)
    if update.up is None:
        raise ValueError(f"tracker update for {update.name!r} carries neither a state nor a value")
    return sink.set_tracker_state(update.name, update.up, now)


def require(cond: bool, block: str, name: str, message: str) -> None:
    """Raise TrackerConfigError naming the block and tracker unless ``cond`` holds (every tracker's settings)."""
    if not cond:
        raise TrackerConfigError(f"{block} {name}: {message}")


def require_weight(block: str, name: str, weight: int, limit: int) -> None:
    """A tracker weight within keepalived's ``[-limit, limit]``."""
    require(-limit <= weight <= limit, block, name, f"weight must be in [-{limit}, {limit}] (got {weight})")
