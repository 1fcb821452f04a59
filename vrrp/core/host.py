"""The host layer: several virtual routers (and their sync groups) as one sans-IO object.

Why it exists: a host runs several ``vrrp_instance`` s, and deciding which instance a packet is for, which
packets are our own, what a sync group does when one member moves, in which order actions are carried out and
when to wake up next are protocol decisions, not I/O.  The asyncio daemon (``vrrp.io.driver``) and the
simulator (``netns_lab.sim``) both drive this one object, so a simulator verdict speaks for the daemon.

Events (``now`` in integer microseconds, as everywhere in the core)::

    start(now) / shutdown(now)
    receive(data, src=, dst=, ttl=, link=, now=)    one raw VRRP message received on ``link``
    handle_timers(now)                              fire every router whose timer is due
    set_priority(name, p, now)
    set_tracker_state(name, tracker, up, now) / set_tracker_value(name, tracker, value, now)

Each returns ONE ordered list of ``(instance name | None, HostAction)`` pairs; ``next_deadline()`` says when
``handle_timers`` must next run.  The order is: every ``SendAdvertisement`` first (stable), then the other
actions in the routers' order, then the facts (``PriorityChanged``, ``SyncGroupStateChanged``).  Adverts first
because a new Master's first advert is what ends the failover gap on the wire (RFC 9568 §6.4.2 sends it before
the gratuitous ARPs too); logging, notify scripts and queuing the VIP work before it cost the daemon ~0.5 ms
per failover (measured with bench_failover at a 10 ms advert interval).

Receive rules, in order:

1. shorter than the VRRP header (8 bytes) -> ``PacketDiscarded(LENGTH)``, counted by the host;
2. no instance with that VRID on ``link`` -> ``PacketDiscarded(VRID)``, counted by the host;
3. sent from one of our own source addresses (an advert looped back, e.g. to a VMAC's parent) -> ignored;
4. when several instances share the VRID on the link, unicast instances that do not list the source as a peer
   leave it to the ones that do; otherwise each instance's router checks it and counts
   ``Reason.UNICAST_PEER`` itself;
5. decoded once per family and checksum address; a codec or receive-check rejection is counted by that router
   and reported as ``PacketDiscarded`` paired with its instance.

keepalived <= 1.3.6 summed VRRPv3 unicast IPv4 checksums over the multicast group instead of the peer's address.
As keepalived 2.2.7 does (``old_unicast_checksum``): in "always" mode, or once learnt, only that form verifies;
in "auto" mode an advert that fails the normal form but passes the old one switches the instance for good
(``OldChecksumAdopted``: the shell then sends that form too).  It is decided here because it changes which
packets are valid; the second decode happens only for a packet that already failed its checksum.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, fields
from typing import Literal

from vrrp.core.actions import (
    Action,
    HostAction,
    IPAddress,
    OldChecksumAdopted,
    PacketDiscarded,
    PriorityChanged,
    SendAdvertisement,
    StateChanged,
    SyncGroupStateChanged,
)
from vrrp.core.config import RouterConfig
from vrrp.core.packet import HEADER_LEN, MULTICAST_V4, MULTICAST_V6, Advertisement, PacketError, Reason, decode
from vrrp.core.router import VirtualRouter
from vrrp.core.state import State
from vrrp.core.sync_group import SyncGroup

Pair = tuple[str | None, HostAction]
"""One action with the name of the instance it belongs to (None: the host itself)."""
OldChecksum = Literal["auto", "never", "always"]
#: A decoded message, or why the codec rejected it, keyed by the family (checksum over the packet's own
#: destination) or by (family, group) for keepalived's old unicast checksum; see ``receive``.
DecodeCache = dict[int | tuple[int, IPAddress], Advertisement | PacketError]


@dataclass(frozen=True)
class Member:
    """One instance of the host: its router settings and where it listens.

    ``link`` is whatever names the receive path (an interface for the daemon, a segment for the simulator);
    ``group`` is the multicast destination of its adverts (the old unicast checksum is summed over it);
    ``old_checksum`` is keepalived's ``old_unicast_checksum`` mode, which matters only for v3 IPv4 unicast.
    """

    config: RouterConfig
    link: Hashable
    group: IPAddress | None = None
    old_checksum: OldChecksum = "auto"

    @property
    def destination_group(self) -> IPAddress:
        """The multicast group: configured, or the VRRP one of the family."""
        if self.group is not None:
            return self.group
        return MULTICAST_V4 if self.config.family == 4 else MULTICAST_V6


@dataclass
class HostStats:
    """Packets no instance owns: ``discards`` by ``Reason`` value (``length``, ``vrid``) and our own adverts."""

    discards: dict[str, int] = field(default_factory=dict)
    own_packets: int = 0


@dataclass
class Reconfiguration:
    """What ``Host.reconfigure`` did.  ``stopped``: the actions of the routers that stopped (removed instances and
    the old routers of restarted ones), to carry out against the OLD instances first; ``pairs``: everything
    else (updates, then starts), to carry out once the shell switched to the new set."""

    unchanged: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    stopped: list[Pair] = field(default_factory=list)
    pairs: list[Pair] = field(default_factory=list)


@dataclass(eq=False)
class _Slot:
    """Run-time companion of one member."""

    member: Member
    router: VirtualRouter
    name: str
    group_address: IPAddress
    old_checksum_applies: bool
    old_checksum: bool
    priority: int


class Host:
    """Several virtual routers and their sync groups behind one event API (see the module docstring)."""

    def __init__(self, members: Sequence[Member], sync_groups: Sequence[tuple[str, Sequence[str]]] = ()) -> None:
        self.stats = HostStats()
        self._slots: dict[str, _Slot] = {}
        self.groups: dict[str, SyncGroup] = {}
        self._group_state: dict[str, State] = {}
        self._build(members, sync_groups, {})

    def _build(self, members: Sequence[Member], sync_groups: Sequence[tuple[str, Sequence[str]]],
               kept: dict[str, _Slot]) -> None:
        """(Re)build the tables from ``members``; ``kept`` are slots (with their running routers) to reuse."""
        slots: dict[str, _Slot] = {}
        table: dict[Hashable, dict[int, list[_Slot]]] = {}
        own: list[IPAddress] = []
        for m in members:
            cfg = m.config
            if cfg.name in slots:
                raise ValueError(f"instance {cfg.name!r} is configured twice")
            slot = kept.get(cfg.name)
            if slot is None:
                router = VirtualRouter(cfg)
                applies = cfg.version == 3 and cfg.family == 4 and bool(cfg.unicast_peer)
                slot = _Slot(m, router, cfg.name, m.destination_group, applies,
                             applies and m.old_checksum == "always", router.effective_priority)
            slots[cfg.name] = slot
            table.setdefault(m.link, {}).setdefault(cfg.vrid, []).append(slot)
            if cfg.primary_address not in own:
                own.append(cfg.primary_address)
        groups: dict[str, SyncGroup] = {}
        group_of: dict[str, SyncGroup] = {}
        for gname, names in sync_groups:
            unknown = [n for n in names if n not in slots]
            if unknown:
                raise ValueError(f"sync group {gname!r}: unknown instance(s) {', '.join(unknown)}")
        for slot in slots.values():
            slot.router.sync_gate = None  # the groups are rebuilt below (a reload may regroup kept routers)
        for gname, names in sync_groups:
            group = SyncGroup(gname, [slots[n].router for n in names])
            groups[gname] = group
            for n in names:
                group_of[n] = group
        self._slots = slots
        self._table = table
        # A tuple: a host has a handful of addresses, and comparing is cheaper than hashing an ipaddress object.
        self._own = tuple(own)
        self._only = next(iter(slots.values())).router if len(slots) == 1 else None
        old_groups = {name: [m.name for m in g.members] for name, g in self.groups.items()}
        self.groups = groups
        self._group_of = group_of
        self._group_state = {name: st for name, st in self._group_state.items()
                             if name in groups and old_groups.get(name) == [m.name for m in groups[name].members]}

    # ------------------------------------------------------------------ views

    @property
    def names(self) -> list[str]:
        """Instance names in configuration order."""
        return list(self._slots)

    def router(self, name: str) -> VirtualRouter:
        """The router of instance ``name`` (KeyError naming it otherwise)."""
        return self._slot(name).router

    def routers(self) -> list[VirtualRouter]:
        """Every router, in configuration order."""
        return [s.router for s in self._slots.values()]

    def old_checksum(self, name: str) -> bool:
        """Instance ``name`` verifies and sends keepalived's old v3 unicast checksum (configured or learnt)."""
        return self._slot(name).old_checksum

    def group_states(self) -> dict[str, State]:
        """The state each sync group last agreed on (groups that never agreed are absent)."""
        return dict(self._group_state)

    def next_deadline(self) -> int | None:
        """The earliest router timer (µs), or None when no router has one."""
        if self._only is not None:  # the common one-instance host: asked after every event
            return self._only.get_timer()
        best: int | None = None
        for s in self._slots.values():
            t = s.router.get_timer()
            if t is not None and (best is None or t < best):
                best = t
        return best

    def next_timer(self) -> tuple[int, str] | None:
        """The earliest timer and its instance (the first configured on a tie), or None."""
        best: tuple[int, str] | None = None
        for s in self._slots.values():
            t = s.router.get_timer()
            if t is not None and (best is None or t < best[0]):
                best = (t, s.name)
        return best

    # ------------------------------------------------------------------ events

    def start(self, now: int) -> list[Pair]:
        """Start every instance (RFC 9568 §6.4.1), in configuration order."""
        out: list[Pair] = []
        for s in self._slots.values():
            s.priority = s.router.effective_priority  # changes before start are not "changes"
            out += self._run(s, s.router.start(now), now)
        return _ordered(out)

    def shutdown(self, now: int) -> list[Pair]:
        """Stop every instance: Masters send priority 0 and remove their VIPs.  The whole host stops, so sync
        groups do not move the members that are still to be stopped."""
        out: list[Pair] = []
        for s in self._slots.values():
            out += self._run(s, s.router.shutdown(now), now, dispatch=False)
        return _ordered(out)

    def receive(
        self,
        data: bytes,
        *,
        src: IPAddress,
        dst: IPAddress,
        ttl: int,
        link: Hashable,
        now: int,
        cache: DecodeCache | None = None,
    ) -> list[Pair]:
        """One VRRP message received on ``link`` (see the module docstring for the rules).

        ``cache`` may be shared by callers that hand the same bytes from the same source to several hosts (the
        simulator's LAN): the codec's verdict depends only on the bytes, the family and the checksum address.
        """
        if len(data) < HEADER_LEN:
            return [self._host_discard(Reason.LENGTH, src, f"{len(data)} bytes, shorter than the VRRP header")]
        by_vrid = self._table.get(link)
        slots = by_vrid.get(data[1]) if by_vrid is not None else None
        if not slots:
            return [self._host_discard(Reason.VRID, src, f"no instance with VRID {data[1]}")]
        if src in self._own:
            self.stats.own_packets += 1
            return []
        if len(slots) > 1:
            takers = [s for s in slots if not s.member.config.unicast_peer or src in s.member.config.unicast_peer]
            if takers:
                slots = takers
        if cache is None:
            cache = {}
        if len(slots) == 1:
            return _ordered(self._deliver(slots[0], data, src, dst, ttl, now, cache))
        out: list[Pair] = []
        for s in slots:
            out += self._deliver(s, data, src, dst, ttl, now, cache)
        return _ordered(out)

    def handle_timers(self, now: int) -> list[Pair]:
        """Fire every timer due at ``now`` (earliest first); calling early is a harmless no-op."""
        out: list[Pair] = []
        while True:
            due = self.next_timer()
            if due is None or due[0] > now:
                return _ordered(out)
            s = self._slots[due[1]]
            out += self._run(s, s.router.handle_timer(now), now)

    def set_priority(self, name: str, priority: int, now: int) -> list[Pair]:
        """Change the base priority of ``name`` (reload, tests)."""
        s = self._slot(name)
        return _ordered(self._run(s, s.router.set_priority(priority, now), now))

    def set_tracker_state(self, name: str, tracker: str, up: bool, now: int) -> list[Pair]:
        """A state tracker of ``name`` went up or down."""
        s = self._slot(name)
        return _ordered(self._run(s, s.router.set_tracker_state(tracker, up, now), now))

    def set_tracker_value(self, name: str, tracker: str, value: int, now: int) -> list[Pair]:
        """A ``track_file`` value of ``name`` changed."""
        s = self._slot(name)
        return _ordered(self._run(s, s.router.set_tracker_value(tracker, value, now), now))

    def event(self, name: str, event: Callable[[VirtualRouter, int], list[Action]], now: int) -> list[Pair]:
        """Run any router event (e.g. one a tracker adapter built) on ``name`` with the host's rules."""
        s = self._slot(name)
        return _ordered(self._run(s, event(s.router, now), now))

    def reconfigure(
        self, members: Sequence[Member], sync_groups: Sequence[tuple[str, Sequence[str]]], now: int
    ) -> Reconfiguration:
        """A reload: apply the difference between the running instances and ``members`` (see ``Reconfiguration``).

        An instance whose member is equal keeps its router untouched (state, timers, counters: no transition and
        no extra advert).  Only its priority differs -> a priority event; only what it installs differs (VIPs,
        routes, rules) -> ``VirtualRouter.replace_addresses``; anything else (VRID, interval, version, link,
        trackers, ...) -> it stops (priority 0 as Master) and starts afresh.  Instances no longer configured stop;
        new ones start.  Sync groups are rebuilt around the routers.  Raises ValueError (nothing changed) when
        the new set is inconsistent.
        """
        names = [m.config.name for m in members]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise ValueError(f"instance {dup!r} is configured twice")
        for gname, gnames in sync_groups:
            unknown = [n for n in gnames if n not in names]
            if unknown:
                raise ValueError(f"sync group {gname!r}: unknown instance(s) {', '.join(unknown)}")
        result = Reconfiguration()
        kept: dict[str, _Slot] = {}
        changes: list[tuple[_Slot, Member]] = []
        for m in members:
            s = self._slots.get(m.config.name)
            if s is None:
                result.added.append(m.config.name)
                continue
            kind = _difference(s.member, m)
            if kind == "restart":
                result.restarted.append(m.config.name)
                continue
            kept[s.name] = s
            if kind == "same":
                result.unchanged.append(s.name)
            else:
                result.updated.append(s.name)
                changes.append((s, m))
        for s in self._slots.values():
            if s.name not in kept:
                if s.name not in names:
                    result.removed.append(s.name)
                result.stopped += self._run(s, s.router.shutdown(now), now, dispatch=False)
        result.stopped = _ordered(result.stopped)
        self._build(members, sync_groups, kept)
        out: list[Pair] = []
        for s, m in changes:
            old, s.member = s.member, m
            if old.config.priority != m.config.priority:
                out += self._run(s, s.router.set_priority(m.config.priority, now), now)
            if _differing(old.config, m.config) & _ADDRESS_FIELDS:
                out += self._run(s, s.router.replace_addresses(m.config, now), now)
            s.router.config = m.config
        for name in result.added + result.restarted:
            s = self._slots[name]
            s.priority = s.router.effective_priority
            out += self._run(s, s.router.start(now), now)
        out += self._regroup_faults(now)
        result.pairs = _ordered(out)
        return result

    # ------------------------------------------------------------------ internals

    def _slot(self, name: str) -> _Slot:
        try:
            return self._slots[name]
        except KeyError:
            raise KeyError(f"no instance {name!r}; instances are {', '.join(self._slots)}") from None

    def _regroup_faults(self, now: int) -> list[Pair]:
        """After a reload rebuilt the sync groups: hold in FAULT exactly the members whose (new) group has another
        member faulted by its own trackers (keepalived's sync-group rule).  A reload that removes the faulted
        member or dissolves its group must release its former partners (nothing else ever would), and one that
        groups a member with a faulted one must put it in FAULT."""
        out: list[Pair] = []
        for s in self._slots.values():
            router = s.router
            group = self._group_of.get(s.name)
            hold = group is not None and any(m.own_fault for m in group.members if m is not router)
            if router.held_in_fault and not hold:
                out += self._run(s, router.release_fault(now), now)
            elif hold and not router.held_in_fault and router.state is not State.INIT:
                out += self._run(s, router.force_state(State.FAULT, now), now)
        return out

    def _host_discard(self, reason: Reason, src: IPAddress, detail: str) -> Pair:
        self.stats.discards[reason.value] = self.stats.discards.get(reason.value, 0) + 1
        return (None, PacketDiscarded(reason, src, detail))

    def _deliver(
        self, s: _Slot, data: bytes, src: IPAddress, dst: IPAddress, ttl: int, now: int, cache: DecodeCache
    ) -> list[Pair]:
        router = s.router
        family = router.config.family
        if s.old_checksum:
            result = _decode(data, family, src, s.group_address, (family, s.group_address), cache)
        else:
            result = cache.get(family) or _decode(data, family, src, dst, family, cache)
        learnt = False
        if (isinstance(result, PacketError) and result.reason is Reason.CHECKSUM and s.old_checksum_applies
                and not s.old_checksum and s.member.old_checksum == "auto"):
            old = _decode(data, family, src, s.group_address, (family, s.group_address), cache)
            if not isinstance(old, PacketError):
                learnt = True  # adopted below, only once the router accepts the advert (a listed peer, ...)
                result = old
        if isinstance(result, PacketError):
            router.stats.discard(result.reason)
            return [(s.name, PacketDiscarded(result.reason, src, result.detail))]
        reason, actions = router.receive_verdict(result, src=src, ttl=ttl, now=now, dst=dst)
        if reason is not None:
            return [(s.name, PacketDiscarded(reason, src, f"ttl {ttl}" if reason is Reason.TTL else ""))]
        if learnt:
            s.old_checksum = True
        out: list[Pair] = [(s.name, OldChecksumAdopted())] if learnt else []
        if actions:  # a packet cannot change a fault, so an empty result needs no sync-group pass
            out += self._run(s, actions, now)
        return out

    def _run(self, s: _Slot, actions: list[Action], now: int, *, dispatch: bool = True) -> list[Pair]:
        """Pass ``actions`` of ``s`` through its sync group and add the facts they imply (unordered: the public
        entry points order everything one event produced, across instances, with ``_ordered``)."""
        group = self._group_of.get(s.name) if dispatch else None
        if group is None:
            pairs: list[Pair] = [(s.name, a) for a in actions]
            touched = [s]
        else:
            pairs = [(r.name, a) for r, a in group.dispatch(s.router, actions, now)]
            touched = [self._slots[n] for n in dict.fromkeys([s.name, *(n for n, _ in pairs if n is not None)])]
        for t in touched:
            prio = t.router.effective_priority
            if prio != t.priority:
                old, t.priority = t.priority, prio
                if t.router.state is not State.INIT:
                    pairs.append((t.name, PriorityChanged(old, prio, t.router.state)))
        if group is not None and any(isinstance(a, StateChanged) for _, a in pairs):
            fact = self._group_moved(group)
            if fact is not None:
                pairs.append((None, fact))
        return pairs

    def _group_moved(self, group: SyncGroup) -> SyncGroupStateChanged | None:
        states = {m.state for m in group.members}
        new = State.FAULT if State.FAULT in states else next(iter(states)) if len(states) == 1 else None
        if new is None or new is State.INIT or self._group_state.get(group.name) is new:
            return None
        self._group_state[group.name] = new
        return SyncGroupStateChanged(group.name, new)


def _adverts_first(pair: Pair) -> bool:
    return not isinstance(pair[1], SendAdvertisement)


def _ordered(pairs: list[Pair]) -> list[Pair]:
    """The host's one order: every advert of the event first, then the rest as the routers returned it."""
    if len(pairs) > 1:
        pairs.sort(key=_adverts_first)  # stable
    return pairs


def _decode(
    data: bytes, family: int, src: IPAddress, summed: IPAddress, key: int | tuple[int, IPAddress], cache: DecodeCache
) -> Advertisement | PacketError:
    result = cache.get(key)
    if result is None:
        try:
            result = decode(data, family=family, src=src, dst=summed)
        except PacketError as exc:
            result = exc
        cache[key] = result
    return result


#: RouterConfig fields a reload may change on a running router without restarting it.
_ADDRESS_FIELDS = frozenset({"virtual_ipaddress", "install_addresses", "virtual_routes", "virtual_rules"})


def _differing(a: RouterConfig, b: RouterConfig) -> set[str]:
    return {f.name for f in fields(a) if getattr(a, f.name) != getattr(b, f.name)}


def _difference(old: Member, new: Member) -> Literal["same", "update", "restart"]:
    """How a reload treats an instance: equal, updatable in place (priority, installed addresses), or not."""
    if old == new:
        return "same"
    if (old.link, old.group, old.old_checksum) != (new.link, new.group, new.old_checksum):
        return "restart"
    if _differing(old.config, new.config) - _ADDRESS_FIELDS - {"priority"}:
        return "restart"
    return "update"
