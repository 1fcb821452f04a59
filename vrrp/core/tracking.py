"""Effective priority from weighted trackers, as keepalived computes it
(keepalived.conf(5): ``track_interface``, ``track_script``, ``weight``).

keepalived's rules, reproduced here so that the same configuration yields the same priority:

* A *state* tracker (``track_interface``, ``track_script``, ``track_process``, ``track_bfd``) is up or down.
  A positive weight is added while it is up; a negative weight is added (i.e. subtracted) while it is down.
  ``reverse`` inverts the tracked state first.  Weight 0 means "down puts the instance in FAULT".
* A *value* tracker (``track_file``) holds an integer read from a file: it contributes ``value × weight``
  (negated by ``reverse``).  With weight 0 any non-zero value is FAULT; a contribution below -253 is FAULT.
* The sum is clamped to 1..254 unless the base priority is 255: the address owner ignores trackers' weights
  (but still faults).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PRIORITY_OWNER = 255
PRIORITY_MIN_BACKUP = 1
PRIORITY_MAX_BACKUP = 254
#: keepalived: a track_file / track_process contribution below this is a FAULT.
VALUE_FAULT_BELOW = -253


@dataclass(frozen=True)
class Tracker:
    """One tracked object as configured (``track_script { NAME weight W [reverse] }`` and friends).

    ``kind`` is "state" for up/down objects and "value" for ``track_file``.  ``initial_up`` /
    ``initial_value`` are what keepalived assumes before the first result arrives: scripts and files start as
    up / 0.
    """

    name: str
    weight: int = 0
    reverse: bool = False
    kind: str = "state"
    initial_up: bool = True
    initial_value: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("state", "value"):
            raise ValueError(f"tracker {self.name!r}: kind must be 'state' or 'value', not {self.kind!r}")
        if self.kind == "state" and not -254 <= self.weight <= 254:
            raise ValueError(f"tracker {self.name!r}: weight must be in -254..254, not {self.weight}")


@dataclass(frozen=True)
class Contribution:
    """A tracker's effect on priority: ``fault`` wins over ``delta``."""

    delta: int = 0
    fault: bool = False


def state_contribution(tracker: Tracker, up: bool) -> Contribution:
    """Contribution of an up/down tracker (keepalived's interface/script/process rules)."""
    effective_up = up != tracker.reverse
    if tracker.weight == 0:
        return Contribution(fault=not effective_up)
    if tracker.weight > 0:
        return Contribution(delta=tracker.weight if effective_up else 0)
    return Contribution(delta=0 if effective_up else tracker.weight)


def value_contribution(tracker: Tracker, value: int) -> Contribution:
    """Contribution of a ``track_file`` value."""
    if tracker.weight == 0:
        return Contribution(fault=value != 0)
    delta = value * tracker.weight * (-1 if tracker.reverse else 1)
    if delta < VALUE_FAULT_BELOW:
        return Contribution(fault=True)
    return Contribution(delta=delta)


def effective_priority(base: int, contributions: Iterable[Contribution]) -> int | None:
    """Effective priority from the base priority and tracker contributions; ``None`` means FAULT."""
    total = 0
    for c in contributions:
        if c.fault:
            return None
        total += c.delta
    if base == PRIORITY_OWNER:
        return PRIORITY_OWNER
    return max(PRIORITY_MIN_BACKUP, min(PRIORITY_MAX_BACKUP, base + total))


class TrackerSet:
    """Current status of an instance's trackers; ``effective_priority(base)`` folds them in."""

    def __init__(self, trackers: Iterable[Tracker] = ()) -> None:
        self._trackers: dict[str, Tracker] = {}
        self._up: dict[str, bool] = {}
        self._value: dict[str, int] = {}
        for t in trackers:
            if t.name in self._trackers:
                raise ValueError(f"tracker {t.name!r} configured twice")
            self._trackers[t.name] = t
            self._up[t.name] = t.initial_up
            self._value[t.name] = t.initial_value

    def __contains__(self, name: object) -> bool:
        return name in self._trackers

    def _get(self, name: str, kind: str) -> Tracker:
        try:
            tracker = self._trackers[name]
        except KeyError:
            raise KeyError(f"unknown tracker {name!r}") from None
        if tracker.kind != kind:
            raise ValueError(f"tracker {name!r} is a {tracker.kind} tracker, not a {kind} tracker")
        return tracker

    def set_up(self, name: str, up: bool) -> None:
        """Record a state tracker's new status."""
        self._get(name, "state")
        self._up[name] = up

    def set_value(self, name: str, value: int) -> None:
        """Record a value tracker's new value."""
        self._get(name, "value")
        self._value[name] = value

    def contributions(self) -> list[Contribution]:
        """Every tracker's current contribution."""
        out = []
        for name, t in self._trackers.items():
            if t.kind == "state":
                out.append(state_contribution(t, self._up[name]))
            else:
                out.append(value_contribution(t, self._value[name]))
        return out

    def effective_priority(self, base: int) -> int | None:
        """Effective priority now, or ``None`` for FAULT."""
        return effective_priority(base, self.contributions())
