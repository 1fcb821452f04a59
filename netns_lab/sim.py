"""Deterministic VRRP simulator: N virtual routers from the real sans-IO core on a virtual clock.

Why it exists: a real namespace lab runs in real time and is noisy; the simulator runs the *same*
``vrrp.core.router.VirtualRouter`` objects as the daemon against an in-memory LAN, so thousands of fault schedules
can be checked per minute and any failing run replays bit for bit from its seed.  Packets travel as encoded
bytes: every advert is built by ``vrrp.core.packet.encode`` and decoded by ``vrrp.core.packet.decode`` (once per frame;
its receivers share the verdict, then each runs its own receive checks), so the codec is exercised too.

What it models:

* a virtual clock in integer microseconds and one event heap (timers, packet deliveries, resumes);
* LAN segments that deliver each advert to every other router attached, after a seeded random delay
  (``delay_us`` range) but never out of order between two nodes; unicast instances send only to their
  ``unicast_peer`` addresses;
* per-link loss (a node's attachment drops each frame it sends or receives with probability ``p``);
* partitions of a segment into sides that cannot hear each other, and healing;
* pauses like SIGSTOP: timers and receive are frozen, frames queue up (to a socket-buffer limit) and are
  handled in one burst on resume together with the overdue timers, in a seeded order, as a real process would
  see them;
* graceful stops (priority-0 advert), crashes (power loss: no advert, VIPs gone) and restarts;
* injection of arbitrary (malformed) bytes;
* sync groups: a node may run several instances, optionally in one ``vrrp.core.sync_group.SyncGroup``.

From a shell: ``python -m netns_lab.sim --routers 3 --fault pause-master@5:5 --fault crash-master@20``.

Everything random comes from one ``random.Random(seed)``.  The run is recorded in ``sim.history``: timestamped
transitions, adverts sent, VIP changes and faults, which the invariant helpers read.

Example — "what happens if the master pauses for 5 s"::

    >>> from netns_lab.sim import Simulation
    >>> sim = Simulation(seed=1)
    >>> a = sim.add_router("a", priority=200, address="10.0.0.1", vips=["10.0.0.100"])
    >>> b = sim.add_router("b", priority=100, address="10.0.0.2", vips=["10.0.0.100"])
    >>> sim.start()
    >>> sim.run_for(5)
    >>> sim.masters()
    ['a']
    >>> sim.pause("a", 5)                # SIGSTOP a for 5 s: b takes over after its Master_Down_Interval
    >>> sim.run_for(4)
    >>> sorted(sim.masters())            # a is frozen but still believes it is Master
    ['a', 'b']
    >>> sim.run_for(2)                   # a resumes, hears b's lower priority, re-asserts; b backs off
    >>> sim.masters()
    ['a']
    >>> print(sim.summary())
    t=11.000000 s  seed=1  events=17
    a/VI_1 [up] vrid 1 on lan: MASTER prio 200 vips yes sent 7 rcvd 3 discards -
    b/VI_1 [up] vrid 1 on lan: BACKUP prio 100 vips no sent 3 rcvd 6 discards -
    >>> print(sim.history.timeline(vrid=1))
      0.000000  a/VI_1: INIT -> BACKUP (startup, prio 200)
      0.000000  b/VI_1: INIT -> BACKUP (startup, prio 100)
      3.218750  a/VI_1: BACKUP -> MASTER (master_no_response, prio 200)
      5.000000  ** pause a 5000000 us
      7.828988  b/VI_1: BACKUP -> MASTER (master_no_response, prio 100)
     10.000000  ** resume a
     10.000687  b/VI_1: MASTER -> BACKUP (priority, prio 100)
"""

from __future__ import annotations

import heapq
import ipaddress
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import assert_never

from netns_lab.history import AdvertSent, FaultEvent, History, Transition, VipChange
from vrrp.core.actions import (
    AddVips,
    HostAction,
    OldChecksumAdopted,
    PacketDiscarded,
    PriorityChanged,
    ReceivedLowerPriority,
    RemoveVips,
    SendAdvertisement,
    SendGratuitous,
    StateChanged,
    SyncGroupStateChanged,
)
from vrrp.core.config import RouterConfig
from vrrp.core.host import DecodeCache, Host, Member, Pair
from vrrp.core.packet import MULTICAST_V4, MULTICAST_V6, encode
from vrrp.core.router import VirtualRouter
from vrrp.core.state import State
from vrrp.core.timers import US_PER_S, cs_to_us

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Frames a paused node can queue before the "socket buffer" overflows and further frames are dropped.
DEFAULT_RCVBUF_FRAMES = 256

_TIMER, _DELIVER, _RESUME, _CALL = 0, 1, 2, 3


class SimError(ValueError):
    """Bad use of the simulator API (unknown node, bad probability, ...); the message says which argument."""


# ---------------------------------------------------------------------------------------------- topology


@dataclass
class _Frame:
    data: bytes
    src: IPAddress
    dst: IPAddress
    ttl: int
    segment: str
    vrid: int | None
    # The frame decoded once per address family (and checksum address) and shared by every receiving host: the
    # bytes are the same, so the codec's verdict is too.  Each router still runs its own receive checks and
    # counts codec rejections.
    decoded: DecodeCache = field(default_factory=dict)


@dataclass
class Instance:
    """One VRRP instance of a node, attached to one segment."""

    node: str
    config: RouterConfig
    segment: str
    router: VirtualRouter  # the node's host owns it; replaced when the host is rebuilt (crash, restart)
    # Copies of config facts that never change (a priority change replaces ``config``), read per packet.
    name: str = field(init=False)
    vrid: int = field(init=False)
    family: int = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.config.name
        self.vrid = self.config.vrid
        self.family = self.config.family


@dataclass
class Node:
    """A simulated host running one or more VRRP instances: one ``vrrp.core.host.Host``, as the daemon runs."""

    name: str
    instances: dict[str, Instance]
    host: Host
    sync_groups: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    alive: bool = False
    paused: bool = False
    epoch: int = 0
    inbox: list[_Frame] = field(default_factory=list)
    loss: float = 0.0
    scheduled: int | None = None  # earliest timer deadline queued in the event heap for this node
    vips: dict[str, tuple[IPAddress, ...]] = field(default_factory=dict)  # instance name -> installed VIPs
    gratuitous_sent: int = 0
    pause_token: int = 0
    # Priority and tracker changes that reached a paused node (host events), run on SIGCONT.
    pending: list[Callable[[Host, int], list[Pair]]] = field(default_factory=list)

    @property
    def node_discards(self) -> dict[str, int]:
        """Packets no instance owns, by reason (``length``, ``vrid``): the host layer's counters."""
        return self.host.stats.discards

    @property
    def running(self) -> bool:
        """Alive and not paused: handles packets and timers."""
        return self.alive and not self.paused


class Simulation:
    """A virtual LAN of VRRP routers.  See the module docstring for an example.

    Times given to the public methods are in seconds (floats) unless the name ends in ``_us``; ``now`` is µs.
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        delay_us: tuple[int, int] = (100, 1000),
        rcvbuf_frames: int = DEFAULT_RCVBUF_FRAMES,
        record_adverts: bool = True,
    ) -> None:
        if not 0 <= delay_us[0] <= delay_us[1]:
            raise SimError(f"delay_us must be (min, max) with 0 <= min <= max, not {delay_us}")
        self.seed = seed
        self.rng = random.Random(seed)
        self.now = 0
        self.delay_us = delay_us
        self.rcvbuf_frames = rcvbuf_frames
        self.history = History(record_adverts=record_adverts)
        self.nodes: dict[str, Node] = {}
        self.segments: dict[str, dict[str, int]] = {}  # segment -> node -> partition side
        self.events_processed = 0
        # (when, seq, kind, node, node epoch, timer instance name | frame | callback | None)
        self._heap: list[tuple[int, int, int, str, int, object]] = []
        self._seq = 0
        self._link_last: dict[tuple[str, str], int] = {}  # (sender, receiver) -> last delivery time

    # ------------------------------------------------------------------ building

    def add_segment(self, name: str) -> None:
        """Declare a LAN segment (``add_router`` creates them on demand)."""
        self.segments.setdefault(name, {})

    def add_node(
        self,
        name: str,
        configs: Sequence[RouterConfig],
        *,
        segments: Sequence[str] | None = None,
        sync_group: Sequence[str] | None = None,
    ) -> Node:
        """Add a host running ``configs`` (one instance each), instance i on ``segments[i]`` (default "lan").

        ``sync_group`` names instances of this node that form one keepalived ``vrrp_sync_group``.
        """
        if name in self.nodes:
            raise SimError(f"node {name!r} already exists")
        if not configs:
            raise SimError(f"node {name!r}: at least one RouterConfig is required")
        segs = list(segments) if segments is not None else ["lan"] * len(configs)
        if len(segs) != len(configs):
            raise SimError(f"node {name!r}: {len(configs)} configs but {len(segs)} segments")
        instances: dict[str, Instance] = {}
        for cfg, seg in zip(configs, segs, strict=True):
            if cfg.name in instances:
                raise SimError(f"node {name!r}: instance name {cfg.name!r} used twice")
            instances[cfg.name] = Instance(name, cfg, seg, VirtualRouter(cfg))
        groups: list[tuple[str, tuple[str, ...]]] = []
        if sync_group:
            unknown = set(sync_group) - set(instances)
            if unknown:
                raise SimError(f"node {name!r}: sync_group names unknown instances {sorted(unknown)}")
            groups.append((f"{name}-sync", tuple(sync_group)))
        node = Node(name, instances, self._host(instances, groups), groups)
        self._adopt(node)
        for seg in segs:
            self.add_segment(seg)
            self.segments[seg][name] = 0
        self.nodes[name] = node
        return node

    def add_router(
        self,
        name: str,
        *,
        priority: int = 100,
        address: str,
        vips: Iterable[str] = ("10.0.0.100",),
        vrid: int = 1,
        segment: str = "lan",
        advert_int: float = 1.0,
        **settings: object,
    ) -> Node:
        """Convenience: a node with one instance; ``settings`` are further ``RouterConfig`` fields."""
        cfg = RouterConfig(
            vrid=vrid,
            primary_address=ipaddress.ip_address(address),
            virtual_ipaddress=tuple(ipaddress.ip_address(v) for v in vips),
            priority=priority,
            advert_int_cs=round(advert_int * 100),
            name=f"VI_{vrid}",
            **settings,  # type: ignore[arg-type]
        )
        return self.add_node(name, [cfg], segments=[segment])

    @staticmethod
    def _host(instances: dict[str, Instance], groups: Sequence[tuple[str, Sequence[str]]]) -> Host:
        """Fresh routers from the instances' current configs, each listening on its segment."""
        return Host([Member(i.config, i.segment) for i in instances.values()], groups)

    def _adopt(self, node: Node) -> None:
        for inst in node.instances.values():
            inst.router = node.host.router(inst.name)

    def _rebuild(self, node: Node) -> None:
        """A new life of ``node``: fresh routers (and sync groups) from its current configs."""
        node.host = self._host(node.instances, node.sync_groups)
        node.scheduled = None
        self._adopt(node)

    # ------------------------------------------------------------------ running

    def start(self, nodes: Iterable[str] | None = None) -> None:
        """Start every instance of the given nodes (default: all not yet running), now."""
        for name in list(nodes) if nodes is not None else list(self.nodes):
            node = self._node(name)
            if node.alive:
                continue
            node.alive = True
            node.paused = False
            self._run(node, node.host.start(self.now))

    def run_for(self, seconds: float) -> None:
        """Advance virtual time by ``seconds``."""
        self.run_until_us(self.now + round(seconds * US_PER_S))

    def run_for_us(self, us: int) -> None:
        """Advance virtual time by ``us`` microseconds."""
        self.run_until_us(self.now + us)

    def run_until_us(self, t: int) -> None:
        """Process every event due up to and including ``t``, then set the clock to ``t``."""
        heap = self._heap
        pop = heapq.heappop
        while heap and heap[0][0] <= t:
            when, _, kind, node_name, epoch, extra = pop(heap)
            self.now = when
            if kind == _CALL:
                assert callable(extra)
                self.events_processed += 1
                extra()
                continue
            node = self.nodes[node_name]
            if epoch != node.epoch or not node.alive:
                continue  # an event for an earlier life of a node that crashed or stopped since
            if kind == _DELIVER:
                assert isinstance(extra, _Frame)
                if node.paused:
                    if len(node.inbox) < self.rcvbuf_frames:
                        node.inbox.append(extra)
                    continue
                self.events_processed += 1
                self._receive(node, extra)
            elif kind == _TIMER:
                if node.scheduled != when:
                    continue  # superseded by an earlier deadline queued since
                node.scheduled = None
                if node.paused:
                    continue  # frozen: the resume handles it
                deadline = node.host.next_deadline()
                if deadline is None:
                    continue
                if deadline > when:  # the routers pushed their deadline back: re-queue lazily
                    node.scheduled = deadline
                    self._push(deadline, _TIMER, node_name, epoch, None)
                    continue
                self.events_processed += 1
                self._run(node, node.host.handle_timers(when))
            elif node.paused and extra == node.pause_token:  # _RESUME of the current pause
                self.events_processed += 1
                self._resume(node)
        if t > self.now:
            self.now = t

    def at(self, seconds: float, callback: Callable[[], None]) -> None:
        """Run ``callback()`` (e.g. a fault) ``seconds`` from now, in virtual time."""
        self._push(self.now + round(seconds * US_PER_S), _CALL, "", 0, callback)

    def _push(self, when: int, kind: int, node: str, epoch: int, extra: object) -> None:
        """Queue an event; ``epoch`` ties it to one life of ``node`` so a crash voids what was in flight."""
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, kind, node, epoch, extra))

    # ------------------------------------------------------------------ carrying out actions

    def _run(self, node: Node, pairs: list[Pair]) -> None:
        """Carry out what the node's host returned, in its order, then queue its next deadline."""
        for name, action in pairs:
            self._apply(node, name, action)
        self._reschedule(node)

    def _reschedule(self, node: Node) -> None:
        """Queue the host's deadline if it is earlier than what is queued.  A deadline pushed *later* (every
        advert a Backup accepts) is not queued again: the queued one pops and re-queues itself, which halves
        the heap traffic of a busy LAN."""
        deadline = node.host.next_deadline()
        if deadline is not None and (node.scheduled is None or deadline < node.scheduled):
            node.scheduled = deadline
            self._push(deadline, _TIMER, node.name, node.epoch, None)

    def _apply(self, node: Node, name: str | None, action: HostAction) -> None:
        match action:
            case SendAdvertisement():
                self._send(node, self._owner(node, name), action)
            case StateChanged():
                inst = self._owner(node, name)
                self.history.transitions.append(
                    Transition(
                        self.now,
                        node.name,
                        inst.name,
                        inst.config.vrid,
                        inst.segment,
                        action.old,
                        action.new,
                        action.reason.value,
                        action.priority,
                    )
                )
            case AddVips():
                inst = self._owner(node, name)
                node.vips[inst.name] = action.addresses
                self.history.vip_changes.append(
                    VipChange(self.now, node.name, inst.name, inst.config.vrid, inst.segment, True)
                )
            case RemoveVips():
                inst = self._owner(node, name)
                node.vips.pop(inst.name, None)
                self.history.vip_changes.append(
                    VipChange(self.now, node.name, inst.name, inst.config.vrid, inst.segment, False)
                )
            case SendGratuitous():
                node.gratuitous_sent += action.repeat * len(action.addresses)
            case (
                ReceivedLowerPriority()
                | PacketDiscarded()
                | PriorityChanged()
                | SyncGroupStateChanged()
                | OldChecksumAdopted()
            ):
                pass  # counted by the host layer and the routers; the history records what the LAN saw
            case _:
                assert_never(action)

    @staticmethod
    def _owner(node: Node, name: str | None) -> Instance:
        assert name is not None, "an instance action without its instance"
        return node.instances[name]

    def _send(self, node: Node, inst: Instance, action: SendAdvertisement) -> None:
        cfg = inst.config
        if self.history.record_adverts:
            self.history.adverts.append(
                AdvertSent(self.now, node.name, inst.name, cfg.vrid, inst.segment, action.priority)
            )
        src = cfg.primary_address
        adv = action.advertisement()
        if cfg.unicast_peer:  # one frame to each peer, to its address (the receiver checks the destination)
            for peer in cfg.unicast_peer:
                data = encode(adv, family=cfg.family, src=src, dst=peer, checksum_form=action.checksum_form)
                self._broadcast(node.name, _Frame(data, src, peer, 255, inst.segment, cfg.vrid), peers=(peer,))
            return
        dst: IPAddress = MULTICAST_V4 if cfg.family == 4 else MULTICAST_V6
        data = encode(adv, family=cfg.family, src=src, dst=dst, checksum_form=action.checksum_form)
        self._broadcast(node.name, _Frame(data, src, dst, 255, inst.segment, cfg.vrid))

    def _broadcast(self, sender: str | None, frame: _Frame, *, peers: Sequence[IPAddress] = ()) -> None:
        """Schedule ``frame`` to every other node on its segment that the partition and loss let it reach."""
        sides = self.segments[frame.segment]
        side = sides.get(sender) if sender is not None else None
        sender_loss = self.nodes[sender].loss if sender is not None else 0.0
        rng = self.rng
        lo, hi = self.delay_us
        span = hi - lo + 1
        heap = self._heap
        link_last = self._link_last
        for name, their_side in sides.items():
            if name == sender or (side is not None and their_side != side):
                continue
            node = self.nodes[name]
            if not node.alive:
                continue
            if peers and not any(
                i.segment == frame.segment and i.config.primary_address in peers for i in node.instances.values()
            ):
                continue
            if sender_loss and rng.random() < sender_loss:
                continue
            if node.loss and rng.random() < node.loss:
                continue
            when = self.now + lo + int(rng.random() * span)
            if sender is not None:
                # One Ethernet segment never reorders the frames of one sender: keep each link FIFO.
                link = (sender, name)
                last = link_last.get(link, 0)
                if last > when:
                    when = last
                link_last[link] = when
            self._seq += 1
            heapq.heappush(heap, (when, self._seq, _DELIVER, name, node.epoch, frame))

    def _receive(self, node: Node, frame: _Frame) -> None:
        """Hand the bytes to the node's host, which demultiplexes by segment and VRID as the daemon's does."""
        pairs = node.host.receive(
            frame.data, src=frame.src, dst=frame.dst, ttl=frame.ttl, link=frame.segment, now=self.now,
            cache=frame.decoded,
        )
        self._run(node, pairs)

    def _resume(self, node: Node) -> None:
        """SIGCONT: handle the queued frames and the overdue timers in one burst, in a seeded order."""
        node.paused = False
        self.history.faults.append(FaultEvent(self.now, "resume", node.name))
        inbox, node.inbox = node.inbox, []
        timers_first = self.rng.random() < 0.5
        if timers_first:
            self._fire_overdue(node)
        for frame in inbox:
            if node.running:
                self.events_processed += 1
                self._receive(node, frame)
        pending, node.pending = node.pending, []
        for event in pending:
            self._run(node, event(node.host, self.now))
        self._fire_overdue(node)
        self._reschedule(node)

    def _fire_overdue(self, node: Node) -> None:
        deadline = node.host.next_deadline()
        if deadline is not None and deadline <= self.now:
            node.scheduled = None
            self.events_processed += 1
            self._run(node, node.host.handle_timers(self.now))

    # ------------------------------------------------------------------ faults

    def _node(self, name: str) -> Node:
        try:
            return self.nodes[name]
        except KeyError:
            raise SimError(f"unknown node {name!r}; nodes are {sorted(self.nodes)}") from None

    def stop(self, name: str) -> None:
        """Graceful stop (SIGTERM): each Master sends priority 0 and removes its VIPs; the node goes down."""
        node = self._node(name)
        if not node.alive:
            return
        self.history.faults.append(FaultEvent(self.now, "stop", name))
        if node.paused:  # a stopped process cannot say goodbye: it dies like a crash
            self._down(node)
            return
        self._run(node, node.host.shutdown(self.now))
        self._down(node)

    def crash(self, name: str) -> None:
        """Crash (power loss / kernel panic): no priority-0 advert; the VIPs vanish with the host."""
        node = self._node(name)
        if not node.alive:
            return
        self.history.faults.append(FaultEvent(self.now, "crash", name))
        self._down(node)

    def _down(self, node: Node) -> None:
        """The node is gone: record what it lost (a crash says no goodbye) and forget its routers' state."""
        for inst in node.instances.values():
            if inst.router.state is not State.INIT:
                self.history.transitions.append(
                    Transition(
                        self.now,
                        node.name,
                        inst.name,
                        inst.config.vrid,
                        inst.segment,
                        inst.router.state,
                        State.INIT,
                        "crash",
                        0,
                    )
                )
            if inst.name in node.vips:
                self.history.vip_changes.append(
                    VipChange(self.now, node.name, inst.name, inst.config.vrid, inst.segment, False)
                )
        node.pending = []
        node.alive = False
        node.paused = False
        node.inbox = []
        node.vips = {}
        node.epoch += 1
        self._rebuild(node)

    def restart(self, name: str) -> None:
        """Start a stopped or crashed node again (fresh routers from its current configs)."""
        node = self._node(name)
        if node.alive:
            return
        self.history.faults.append(FaultEvent(self.now, "restart", name))
        self.start([name])

    def pause(self, name: str, seconds: float) -> None:
        """SIGSTOP ``name`` for ``seconds`` (then SIGCONT): no timers, no receive; frames queue up."""
        self.pause_us(name, round(seconds * US_PER_S))

    def pause_us(self, name: str, us: int) -> None:
        """``pause`` in microseconds."""
        node = self._node(name)
        if not node.running:
            return
        if us <= 0:
            raise SimError(f"pause of {name!r}: duration must be positive, not {us} µs")
        node.paused = True
        self.history.faults.append(FaultEvent(self.now, "pause", name, f"{us} us"))
        node.pause_token += 1
        self._push(self.now + us, _RESUME, name, node.epoch, node.pause_token)

    def resume(self, name: str) -> None:
        """SIGCONT now (before a pause's scheduled end)."""
        node = self._node(name)
        if node.alive and node.paused:
            self._resume(node)

    def partition(self, *sides: Iterable[str], segment: str = "lan") -> None:
        """Split ``segment``: each argument is one side; nodes not listed form one more side together."""
        nodes = self._segment(segment)
        listed: set[str] = set()
        for i, side in enumerate(sides, start=1):
            for name in side:
                self._node(name)
                if name in listed:
                    raise SimError(f"partition of {segment!r}: node {name!r} is on two sides")
                listed.add(name)
                nodes[name] = i
        for name in nodes:
            if name not in listed:
                nodes[name] = 0
        self.history.faults.append(
            FaultEvent(self.now, "partition", None, f"{segment}: {[sorted(s) for s in self.components(segment)]}")
        )

    def heal(self, segment: str | None = None) -> None:
        """Remove partitions (of one segment, or all)."""
        for seg in [segment] if segment is not None else list(self.segments):
            nodes = self._segment(seg)
            if any(nodes.values()):
                self.history.faults.append(FaultEvent(self.now, "heal", None, seg))
            for name in nodes:
                nodes[name] = 0

    def _segment(self, segment: str) -> dict[str, int]:
        try:
            return self.segments[segment]
        except KeyError:
            raise SimError(f"unknown segment {segment!r}; segments are {sorted(self.segments)}") from None

    def set_loss(self, name: str, probability: float) -> None:
        """Drop each frame ``name`` sends or receives with ``probability`` (0 heals)."""
        if not 0.0 <= probability <= 1.0:
            raise SimError(f"loss for {name!r} must be within 0..1, not {probability}")
        node = self._node(name)
        if node.loss != probability:
            node.loss = probability
            self.history.faults.append(FaultEvent(self.now, "loss", name, f"{probability:g}"))

    def clear_loss(self) -> None:
        """No loss anywhere."""
        for name in self.nodes:
            self.set_loss(name, 0.0)

    def set_priority(self, name: str, priority: int, instance: str | None = None) -> None:
        """Change the base priority of ``name``'s instance(s); it persists across restarts."""
        node = self._node(name)
        self.history.faults.append(FaultEvent(self.now, "priority", name, str(priority)))
        for inst in self._instances(node, instance):
            inst.config = replace(inst.config, priority=priority)
            if node.running:
                self._run(node, node.host.set_priority(inst.name, priority, self.now))
            elif node.alive:  # paused: the change waits for SIGCONT, as a reload would
                def later(h: Host, now: int, n: str = inst.name) -> list[Pair]:
                    return h.set_priority(n, priority, now)

                node.pending.append(later)
        if not node.alive:
            self._rebuild(node)

    def set_tracker(self, name: str, tracker: str, up: bool, instance: str | None = None) -> None:
        """A tracked interface/script of ``name`` went up or down.  A paused node sees it on SIGCONT (a stopped
        process cannot react, let alone send a priority-0 advert), like a priority change."""
        node = self._node(name)
        self.history.faults.append(FaultEvent(self.now, "tracker", name, f"{tracker} {'up' if up else 'down'}"))
        for inst in self._instances(node, instance):
            if tracker not in [t.name for t in inst.config.trackers]:
                continue
            if node.paused:
                def later(h: Host, now: int, n: str = inst.name) -> list[Pair]:
                    return h.set_tracker_state(n, tracker, up, now)

                node.pending.append(later)
            else:
                self._run(node, node.host.set_tracker_state(inst.name, tracker, up, self.now))

    def _instances(self, node: Node, instance: str | None) -> list[Instance]:
        if instance is None:
            return list(node.instances.values())
        try:
            return [node.instances[instance]]
        except KeyError:
            raise SimError(f"node {node.name!r} has no instance {instance!r}") from None

    def inject(
        self,
        data: bytes,
        *,
        src: str | IPAddress,
        segment: str = "lan",
        ttl: int = 255,
        dst: str | IPAddress | None = None,
        to: str | None = None,
    ) -> None:
        """Deliver raw bytes (e.g. a malformed advert) now to every node on ``segment`` (or only ``to``)."""
        src_ip = ipaddress.ip_address(src) if isinstance(src, str) else src
        if dst is None:
            dst_ip: IPAddress = MULTICAST_V4 if src_ip.version == 4 else MULTICAST_V6
        else:
            dst_ip = ipaddress.ip_address(dst) if isinstance(dst, str) else dst
        frame = _Frame(bytes(data), src_ip, dst_ip, ttl, segment, None)
        self.history.faults.append(FaultEvent(self.now, "inject", to, data.hex()[:32]))
        for name in self._segment(segment):
            if to is not None and name != to:
                continue
            node = self.nodes[name]
            if not node.alive:
                continue
            if node.paused:
                if len(node.inbox) < self.rcvbuf_frames:
                    node.inbox.append(frame)
                continue
            self._receive(node, frame)

    # ------------------------------------------------------------------ observations

    def router(self, name: str, instance: str | None = None) -> VirtualRouter:
        """The router object of ``name`` (its only instance, or ``instance``)."""
        node = self._node(name)
        if instance is None:
            if len(node.instances) != 1:
                raise SimError(f"node {name!r} has several instances; name one of {sorted(node.instances)}")
            return next(iter(node.instances.values())).router
        return self._instances(node, instance)[0].router

    def state(self, name: str, instance: str | None = None) -> State:
        """State of ``name``'s instance."""
        return self.router(name, instance).state

    def masters(self, vrid: int | None = None, segment: str | None = None) -> list[str]:
        """Nodes that believe they are Master (of ``vrid``); paused nodes count: they still hold the VIPs."""
        out = []
        for node in self.nodes.values():
            if not node.alive:
                continue
            for inst in node.instances.values():
                if vrid is not None and inst.config.vrid != vrid:
                    continue
                if segment is not None and inst.segment != segment:
                    continue
                if inst.router.state is State.MASTER:
                    out.append(node.name)
                    break
        return out

    def vip_holders(self, vrid: int | None = None) -> list[str]:
        """Nodes that have VIPs installed (for ``vrid``)."""
        out = []
        for node in self.nodes.values():
            if any(vrid is None or node.instances[i].config.vrid == vrid for i in node.vips):
                out.append(node.name)
        return out

    def components(self, segment: str = "lan", *, running_only: bool = False) -> list[set[str]]:
        """Groups of live nodes on ``segment`` that can hear each other (one per partition side)."""
        sides: dict[int, set[str]] = {}
        for name, side in self._segment(segment).items():
            node = self.nodes[name]
            if not node.alive or (running_only and node.paused):
                continue
            sides.setdefault(side, set()).add(name)
        return [sides[k] for k in sorted(sides)]

    def snapshot(self) -> dict[tuple[str, str], object]:
        """Behaviour-determining state of every router, to prove a discarded packet changed nothing."""
        return {
            (n.name, i.name): (n.alive, n.paused, i.router.snapshot())
            for n in self.nodes.values()
            for i in n.instances.values()
        }

    def max_master_down_interval_us(self) -> int:
        """The largest Master_Down_Interval any configured instance can have (priority 1)."""
        worst = 0
        for node in self.nodes.values():
            for inst in node.instances.values():
                probe = VirtualRouter(replace(inst.config, priority=1, trackers=()))
                worst = max(worst, probe.master_down_interval_us())
        return worst

    def max_advert_interval_us(self) -> int:
        """The largest configured advertisement interval."""
        return max(cs_to_us(i.config.advert_int_cs) for n in self.nodes.values() for i in n.instances.values())

    def settle(self) -> None:
        """Heal every partition, clear all loss, resume paused nodes, then run long enough for any election
        to finish: 2 × the longest Master_Down_Interval + 2 × the longest advert interval + 10 link delays
        (one interval to resolve dual Masters, one Master_Down_Interval for a pending preemption, margin)."""
        self.heal()
        self.clear_loss()
        for name in self.nodes:
            self.resume(name)
        self.run_for_us(
            2 * self.max_master_down_interval_us() + 2 * self.max_advert_interval_us() + 10 * self.delay_us[1]
        )

    def summary(self) -> str:
        """One line per instance: state, effective priority, VIPs held, adverts sent/received and discards."""
        lines = [f"t={self.now / US_PER_S:.6f} s  seed={self.seed}  events={self.events_processed}"]
        for node in self.nodes.values():
            status = "down" if not node.alive else ("paused" if node.paused else "up")
            for inst in node.instances.values():
                r = inst.router
                discards = ",".join(f"{k}={v}" for k, v in sorted(r.stats.discards.items())) or "-"
                lines.append(
                    f"{node.name}/{inst.name} [{status}] vrid {inst.vrid} on {inst.segment}: {r.state.value}"
                    f" prio {r.effective_priority} vips {'yes' if inst.name in node.vips else 'no'}"
                    f" sent {r.stats.adverts_sent} rcvd {r.stats.adverts_received} discards {discards}"
                )
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- command line

FAULT_KINDS = ("pause-master", "crash-master", "stop-master", "restart-all", "isolate-master", "heal", "loss-master")


def _parse_fault(text: str) -> tuple[str, float, float]:
    """``KIND@TIME[:ARG]`` -> (kind, time s, arg); raises SimError naming the flag and the problem."""
    kind, sep, rest = text.partition("@")
    if not sep or kind not in FAULT_KINDS:
        raise SimError(f"--fault {text!r}: expected KIND@TIME[:ARG] with KIND one of {', '.join(FAULT_KINDS)}")
    when, _, arg = rest.partition(":")
    try:
        t = float(when)
        value = float(arg) if arg else 0.0
    except ValueError:
        raise SimError(f"--fault {text!r}: TIME and ARG must be numbers (seconds, or a loss probability)") from None
    if t < 0 or value < 0:
        raise SimError(f"--fault {text!r}: TIME and ARG must not be negative")
    if kind == "loss-master" and value > 1:
        raise SimError(f"--fault {text!r}: the loss probability must be within 0..1")
    return kind, t, value


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m netns_lab.sim``: run a what-if on N simulated routers and print the timeline."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m netns_lab.sim",
        description="Simulate a VRRP LAN (virtual time, the real protocol core) and print what happens.",
        epilog="example: --routers 3 --fault pause-master@5:5 --fault crash-master@20 --duration 30",
    )
    parser.add_argument("--routers", type=int, default=2, help="number of routers (priorities 200, 190, ...)")
    parser.add_argument("--advert-int", type=float, default=1.0, help="advert interval in seconds (default 1)")
    parser.add_argument("--version", type=int, choices=(2, 3), default=3, help="VRRP version (default 3)")
    parser.add_argument("--nopreempt", action="store_true", help="keepalived's nopreempt on every router")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=float, default=30.0, help="simulated seconds (default 30)")
    parser.add_argument(
        "--fault", action="append", default=[], metavar="KIND@TIME[:ARG]", help=f"one of {', '.join(FAULT_KINDS)}"
    )
    args = parser.parse_args(argv)
    try:
        if not 1 <= args.routers <= 250:
            raise SimError(f"--routers must be 1..250, not {args.routers}")
        faults = sorted((_parse_fault(f) for f in args.fault), key=lambda f: f[1])
        sim = Simulation(seed=args.seed)
        for i in range(args.routers):
            sim.add_router(
                f"r{i + 1}",
                priority=max(1, 200 - 10 * i),
                address=f"10.0.0.{i + 1}",
                advert_int=args.advert_int,
                version=args.version,
                preempt=not args.nopreempt,
            )
    except (SimError, ValueError) as exc:  # RouterConfigError is a ValueError naming the setting
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sim.start()
    for kind, t, arg in faults:
        sim.run_until_us(round(t * US_PER_S))
        target = sim.masters()[0] if sim.masters() else None
        if kind == "heal":
            sim.heal()
            sim.clear_loss()
        elif kind == "restart-all":
            for name in sim.nodes:
                sim.restart(name)
        elif target is None:
            print(f"note: no Master at {t:g} s, {kind} skipped", file=sys.stderr)
        elif kind == "pause-master":
            sim.pause(target, arg or 5.0)
        elif kind == "crash-master":
            sim.crash(target)
        elif kind == "stop-master":
            sim.stop(target)
        elif kind == "isolate-master":
            sim.partition([target])
        elif kind == "loss-master":
            sim.set_loss(target, arg or 1.0)
    sim.run_until_us(max(sim.now, round(args.duration * US_PER_S)))
    print(sim.history.timeline())
    print()
    print(sim.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
