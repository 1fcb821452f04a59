"""One history model for every executor: the simulator writes it, the real lab's observers write it, and the
invariant checkers read it (Jepsen's split: a nemesis injects faults, observers record, checkers judge).

Times are integer microseconds from the start of the run.  The lists are append-only and each is in time order.
"""

from __future__ import annotations

import typing
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from vrrp.core.state import State
from vrrp.core.timers import US_PER_S


@dataclass(frozen=True)
class Transition:
    """``node``'s instance ``instance`` went from ``old`` to ``new`` at ``t`` (µs)."""

    t: int
    node: str
    instance: str
    vrid: int
    segment: str
    old: State
    new: State
    reason: str
    priority: int


@dataclass(frozen=True)
class AdvertSent:
    """An advertisement left ``node`` at ``t``."""

    t: int
    node: str
    instance: str
    vrid: int
    segment: str
    priority: int


@dataclass(frozen=True)
class VipChange:
    """``node`` installed (``held``) or removed its VIPs for ``vrid`` at ``t``."""

    t: int
    node: str
    instance: str
    vrid: int
    segment: str
    held: bool


@dataclass(frozen=True)
class FaultEvent:
    """A fault injected (or lifted) at ``t``: kind is start, crash, stop, restart, pause, resume, partition, heal,
    loss, inject, priority or tracker."""

    t: int
    kind: str
    node: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class ClientRequest:
    """One request of a client workload: sent at ``t``, finished (answer, error or timeout) at ``done``.

    ``server`` is who answered (the name in the reply: a real server, or the router holding the VIP when the
    service runs on the routers); ``error`` says why it failed ("" when ``ok``)."""

    t: int
    done: int
    client: str
    target: str
    ok: bool
    server: str | None = None
    error: str = ""


@dataclass(frozen=True)
class VipHolderSample:
    """At ``t`` the hosts in ``holders`` had ``vip`` configured (an observer's sample: the real lab asks each
    host's kernel, so split brain shows up as two holders).  Observers record a sample when the set changes."""

    t: int
    vip: str
    holders: tuple[str, ...]


@dataclass(frozen=True)
class ClientVipView:
    """At ``t`` the client host ``client`` saw ``vip`` answered (ARP / neighbour solicitation) by the hosts in
    ``answerers``, and its own neighbour cache held ``neighbour``'s MAC for it (None: no entry). Recorded when
    the view changes; names are hosts (a MAC no host has stays a MAC)."""

    t: int
    client: str
    vip: str
    answerers: tuple[str, ...]
    neighbour: str | None


@dataclass(frozen=True)
class IpvsDest:
    """One destination of a kernel IPVS service: ``service`` as ipvsadm names it ("TCP 10.0.0.100:80",
    "FWM 1"), ``dest`` "address:port", its ``weight``, and the lab ``host`` that address belongs to ("" if
    none)."""

    service: str
    dest: str
    weight: int
    host: str = ""


@dataclass(frozen=True)
class IpvsSample:
    """At ``t`` director ``node``'s kernel IPVS table held ``services`` with ``dests`` (an observer's sample,
    kept when the table changes, as :class:`VipHolderSample` is)."""

    t: int
    node: str
    services: tuple[str, ...]
    dests: tuple[IpvsDest, ...]

    def live(self, service: str | None = None) -> set[str]:
        """The hosts (their address when no host is known) of destinations with a weight above 0."""
        return {d.host or d.dest for d in self.dests if d.weight > 0 and (service is None or d.service == service)}


@dataclass(frozen=True)
class FaultSpan:
    """A fault from when it was injected to when it was lifted (``stop`` is the run's end if never lifted;
    ``stop == start`` for instant faults such as a reload or a priority change)."""

    start: int
    stop: int
    kind: str
    node: str | None
    detail: str = ""


# fault kind -> the kinds that lift it (same node; for partitions: same segment)
_LIFTED_BY = {
    "pause": ("resume", "crash", "stop"),
    "crash": ("restart",),
    "stop": ("restart",),
    "partition": ("heal", "partition"),
    "link-down": ("link-up",),
    "server-stop": ("server-start",),
    "loss": ("loss",),
}

# faults that lift each other share a family (so a link-down does not close a pause of the same node)
_FAMILY = {
    "pause": "process",
    "resume": "process",
    "crash": "process",
    "stop": "process",
    "restart": "process",
    "partition": "partition",
    "heal": "partition",
    "link-down": "link",
    "link-up": "link",
    "server-stop": "server",
    "server-start": "server",
    "loss": "loss",
}


@dataclass
class History:
    """Everything that happened, in time order per list (the lists are append-only)."""

    transitions: list[Transition] = field(default_factory=list)
    adverts: list[AdvertSent] = field(default_factory=list)
    vip_changes: list[VipChange] = field(default_factory=list)
    faults: list[FaultEvent] = field(default_factory=list)
    vip_holders: list[VipHolderSample] = field(default_factory=list)
    record_adverts: bool = True
    requests: list[ClientRequest] = field(default_factory=list)
    client_views: list[ClientVipView] = field(default_factory=list)
    ipvs: list[IpvsSample] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (:meth:`from_dict` reads it back): each list as a list of records' fields."""
        out: dict[str, Any] = {"record_adverts": self.record_adverts}
        for name in _lists():
            out[name] = [_encode(asdict(r)) for r in getattr(self, name)]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """The history :meth:`to_dict` wrote; a list it lacks (a record kind added since) is empty."""
        h = cls(record_adverts=bool(data.get("record_adverts", True)))
        for name, record in _lists().items():
            getattr(h, name).extend(_decode(record, d) for d in data.get(name, []))
        return h

    def fault_spans(self, *, end: int) -> list[FaultSpan]:
        """Each fault with the time it was lifted (a resume ends a pause, a heal a partition, loss 0 a loss).

        A partition's segment is the part of its detail before ":" (the simulator's and the nemesis's form)."""
        spans: list[FaultSpan] = []
        open_: dict[tuple[str, str | None], FaultEvent] = {}

        def key(f: FaultEvent) -> tuple[str, str | None]:
            family = _FAMILY.get(f.kind, f.kind)
            if family == "partition":
                return (family, f.detail.split(":", 1)[0])
            return (family, f.node)

        def close(k: tuple[str, str | None], t: int, lifter: str) -> None:
            f = open_.get(k)
            if f is not None and lifter in _LIFTED_BY.get(f.kind, ()):
                spans.append(FaultSpan(f.t, t, f.kind, f.node, f.detail))
                del open_[k]

        for f in self.faults:
            k = key(f)
            close(k, f.t, f.kind)
            if f.kind in ("loss",) and f.detail in ("0", "0.0"):
                continue
            if f.kind in _LIFTED_BY:
                if k in open_:  # e.g. pause of a crashed node: keep the first, it is what holds
                    continue
                open_[k] = f
            elif f.kind not in ("start", "resume", "restart", "heal", "link-up", "server-start"):
                spans.append(FaultSpan(f.t, f.t, f.kind, f.node, f.detail))
        for f in open_.values():
            spans.append(FaultSpan(f.t, end, f.kind, f.node, f.detail))
        return sorted(spans, key=lambda s: (s.start, s.stop))

    def transitions_of(self, node: str, instance: str | None = None) -> list[tuple[State, State]]:
        """``node``'s (old, new) state changes in order (of one instance, or of all): the sequence two
        executors of one script must agree on, whatever their timing."""
        return [(tr.old, tr.new) for tr in self.transitions
                if tr.node == node and (instance is None or tr.instance == instance)]

    def master_intervals(self, vrid: int, segment: str | None = None, *, end: int) -> dict[str, list[tuple[int, int]]]:
        """Per node, its [start, stop) intervals as Master of ``vrid``; open intervals stop at ``end``."""
        out: dict[str, list[tuple[int, int]]] = {}
        since: dict[str, int] = {}
        for tr in self.transitions:
            if tr.vrid != vrid or (segment is not None and tr.segment != segment):
                continue
            if tr.new is State.MASTER:
                since[tr.node] = tr.t
            elif tr.old is State.MASTER and tr.node in since:
                out.setdefault(tr.node, []).append((since.pop(tr.node), tr.t))
        for node, start in since.items():
            out.setdefault(node, []).append((start, end))
        return out

    def multi_master_intervals(
        self, vrid: int, segment: str | None = None, *, end: int
    ) -> list[tuple[int, int, frozenset[str]]]:
        """Maximal intervals during which two or more nodes were Master of ``vrid`` at once, with who."""
        points: list[tuple[int, int, str]] = []
        for node, ivs in self.master_intervals(vrid, segment, end=end).items():
            for start, stop in ivs:
                if stop > start:
                    points.append((start, 1, node))
                    points.append((stop, -1, node))
        points.sort(key=lambda p: (p[0], p[1]))  # ends before starts at the same instant
        current: set[str] = set()
        out: list[tuple[int, int, frozenset[str]]] = []
        opened: int | None = None
        who: set[str] = set()
        for t, delta, node in points:
            if delta > 0:
                current.add(node)
            else:
                current.discard(node)
            if len(current) >= 2:
                if opened is None:
                    opened, who = t, set()
                who |= current
            elif opened is not None:
                if t > opened:
                    out.append((opened, t, frozenset(who)))
                opened = None
        return out

    def timeline(self, vrid: int | None = None) -> str:
        """Human-readable transitions and faults, one per line, times in seconds."""
        rows: list[tuple[int, str]] = []
        for tr in self.transitions:
            if vrid is None or tr.vrid == vrid:
                rows.append(
                    (
                        tr.t,
                        f"{tr.node}/{tr.instance}: {tr.old.value} -> {tr.new.value} ({tr.reason}, prio {tr.priority})",
                    )
                )
        for f in self.faults:
            rows.append((f.t, f"** {f.kind} {f.node or ''} {f.detail}".rstrip()))
        rows.sort(key=lambda r: r[0])
        return "\n".join(f"{t / US_PER_S:10.6f}  {text}" for t, text in rows)


def _lists() -> dict[str, type]:
    """Each list field of :class:`History` and its record type, from the annotations (so a record kind added
    later is serialized without touching this)."""
    hints = typing.get_type_hints(History)
    return {
        f.name: typing.get_args(hints[f.name])[0]
        for f in fields(History)
        if typing.get_origin(hints[f.name]) is list
    }


def _encode(value: Any) -> Any:
    if isinstance(value, State):
        return value.value
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(record: type, data: dict[str, Any]) -> Any:
    kwargs: dict[str, Any] = {}
    for f in fields(record):
        if f.name not in data:
            continue
        v = data[f.name]
        if f.name in ("old", "new") and record is Transition:
            v = State(v)
        elif f.name == "dests" and record is IpvsSample:
            v = tuple(IpvsDest(**d) for d in v)
        elif isinstance(v, list):
            v = tuple(v)
        kwargs[f.name] = v
    return record(**kwargs)
