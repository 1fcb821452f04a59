"""Stateful property test: Hypothesis drives the deterministic simulator through random fault schedules.

Rules: crash, graceful stop, restart, priority change, partition / heal, pause / resume, link loss, a weight-0
tracked link going down and up (FAULT), malformed packet injection, time passing.  Invariants (issue 3,
RFC 9568 §6 properties):

* after the network heals and the settle time passes: exactly one Master per connected segment, and it is the
  only VIP holder (P1, P2);
* with preempt on the Master has the highest effective priority; a live owner (255) is always Master (P3);
* with preempt off a working Master is never displaced while nothing happens to it (stability);
* a discarded packet leaves every router's state unchanged (RFC 9568 §7.1);
* graceful stop: a Backup takes over within Skew_Time (+ link delay); crash: within Master_Down_Interval;
* two Masters at once only while partitioned / paused / lossy, plus at most one advert interval (+ delay).

The CI profile runs 1,000 examples derandomized (no example database), so a run is reproducible; set
``ROUTER_SIM_EXAMPLES`` to run more (or fewer) locally, and ``ROUTER_SIM_RANDOM=1`` to explore new random
examples instead of the fixed derandomized sequence.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from netns_lab.sim import Simulation
from vrrp.core.packet import Advertisement, PacketError, decode, encode
from vrrp.core.state import State
from vrrp.core.timers import cs_to_us, master_down_interval_us, skew_time_us
from vrrp.core.tracking import Tracker

DELAY = (100, 1000)  # µs, the simulated link delay range
MAX_NODES = 4
EXAMPLES = int(os.environ.get("ROUTER_SIM_EXAMPLES", "1000"))


@dataclass(frozen=True)
class Flavour:
    """Protocol version and address family of one generated LAN."""

    version: int
    family: int

    @property
    def vip(self) -> IPv4Address | IPv6Address:
        return ip_address("10.0.0.100" if self.family == 4 else "fe80::100")

    @property
    def rogue(self) -> IPv4Address | IPv6Address:
        """Source of injected packets (no router has it)."""
        return ip_address("10.0.0.66" if self.family == 4 else "fe80::66")

    @property
    def mcast(self) -> IPv4Address | IPv6Address:
        return ip_address("224.0.0.18" if self.family == 4 else "ff02::12")

    def address(self, i: int) -> str:
        return f"10.0.0.{i + 1}" if self.family == 4 else f"fe80::{i + 1:x}"


FLAVOURS = [Flavour(3, 4), Flavour(3, 6), Flavour(2, 4)]


def _words(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    return sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))


def _checksum(msg: bytes, fl: Flavour) -> bytes:
    """Recompute the checksum of a (mutated) message the way a correct sender would: v2 and v3 IPv4 (RFC 9568
    form) over the message only, v3 IPv6 with the RFC 8200 pseudo-header."""
    total = _words(msg[:6] + b"\0\0" + msg[8:])
    if fl.family == 6:
        total += _words(fl.rogue.packed + fl.mcast.packed + len(msg).to_bytes(4, "big") + b"\0\0\0\x70")
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return msg[:6] + (~total & 0xFFFF).to_bytes(2, "big") + msg[8:]


def _valid(fl: Flavour, priority: int, vrid: int = 1, version: int | None = None) -> bytes:
    version = fl.version if version is None else version
    if version == 2:
        adv = Advertisement(2, vrid, priority, [fl.vip], 100, auth_data=bytes(8))
    else:
        adv = Advertisement(3, vrid, priority, [fl.vip], 100)
    return encode(adv, family=fl.family, src=fl.rogue, dst=fl.mcast, checksum_form="rfc9568")


@st.composite
def malformed(draw: st.DrawFn, fl: Flavour) -> tuple[bytes, int]:
    """(bytes, ttl) of an advertisement every router of flavour ``fl`` must discard."""
    prio = draw(st.integers(0, 255))
    good = _valid(fl, prio)
    trailer = good[-8:] if fl.version == 2 else b""
    kind = draw(
        st.sampled_from(["ttl", "bitflip", "truncate", "version", "vrid", "count0", "interval0", "type", "random"])
    )
    if kind == "ttl":
        return good, draw(st.integers(0, 254))
    if kind == "bitflip":
        bit = draw(st.integers(0, len(good) * 8 - 1))
        flipped = bytearray(good)
        flipped[bit // 8] ^= 1 << (bit % 8)
        return bytes(flipped), 255
    if kind == "truncate":
        return good[: draw(st.integers(0, len(good) - 1))], 255
    if kind == "version":
        if fl.family == 6:  # no v2 over IPv6: a v3 router there gets a version it does not speak
            return _checksum(bytes([0x21]) + good[1:], fl), 255
        return _valid(fl, prio, version=5 - fl.version), 255
    if kind == "vrid":
        return _valid(fl, prio, vrid=draw(st.integers(2, 255))), 255
    if kind == "count0":
        return _checksum(good[:3] + b"\0" + good[4:8] + trailer, fl), 255
    if kind == "interval0":
        b4 = good[4] if fl.version == 2 else good[4] & 0xF0
        return _checksum(good[:4] + bytes([b4, 0]) + good[6:], fl), 255
    if kind == "type":
        t = draw(st.sampled_from([0, *range(2, 16)]))
        return _checksum(bytes([(fl.version << 4) | t]) + good[1:], fl), 255
    data = draw(st.binary(max_size=40))
    return data, 255


class VrrpCluster(RuleBasedStateMachine):
    """A LAN of 2-4 routers under random faults; see the module docstring for the properties."""

    def __init__(self) -> None:
        super().__init__()
        self.sim = Simulation(0)
        self.names: list[str] = []
        self.preempt = True
        self.fl = FLAVOURS[0]
        self.mai = 0
        self.windows: list[list[int | None]] = []  # [start, end]: partitions, pauses, loss (end None: ongoing)
        self.partition_window: list[int | None] | None = None
        self.loss_window: list[int | None] | None = None
        self.lowest: dict[str, int] = {}  # lowest priority each node ever had (timers armed with it may run)

    # ------------------------------------------------------------------ setup

    @initialize(
        seed=st.integers(0, 2**32 - 1),
        prios=st.lists(st.integers(1, 254), min_size=2, max_size=MAX_NODES),
        owner=st.booleans(),
        preempt=st.booleans(),
        adv_cs=st.sampled_from([10, 100]),
        flavour=st.sampled_from(FLAVOURS),
        stagger=st.lists(st.integers(0, 3_000_000), min_size=MAX_NODES, max_size=MAX_NODES),
    )
    def boot(
        self, seed: int, prios: list[int], owner: bool, preempt: bool, adv_cs: int, flavour: Flavour, stagger: list[int]
    ) -> None:
        self.sim = Simulation(seed, delay_us=DELAY)
        self.preempt = preempt
        self.fl = flavour
        if flavour.version == 2:
            adv_cs = 100  # VRRPv2 knows whole seconds only
        self.mai = cs_to_us(adv_cs)
        if owner:
            prios[0] = 255
        for i, p in enumerate(prios):
            name = f"n{i}"
            self.names.append(name)
            self.lowest[name] = p
            self.sim.add_router(
                name,
                priority=p,
                address=flavour.address(i),
                vips=[str(flavour.vip)],
                version=flavour.version,
                advert_int=adv_cs / 100,
                preempt=preempt,
                trackers=(Tracker("link"),),  # weight 0: link down = FAULT
            )
        # nodes boot at different times, as real hosts do
        for name, delay in sorted(zip(self.names, stagger, strict=False), key=lambda x: x[1]):
            self.sim.run_until_us(delay)
            self.sim.start([name])

    # ------------------------------------------------------------------ helpers

    def node(self, i: int) -> str:
        return self.names[i % len(self.names)]

    def running(self) -> list[str]:
        """Nodes taking part in the protocol: alive, not paused, not in FAULT."""
        return [n for n in self.names if self.sim.nodes[n].running and self.sim.state(n) is not State.FAULT]

    def live(self) -> list[str]:
        """Nodes alive and not in FAULT (paused ones included)."""
        return [n for n in self.names if self.sim.nodes[n].alive and self.sim.state(n) is not State.FAULT]

    def healthy(self) -> bool:
        """No partition, no loss, nobody paused: the network behaves."""
        return (
            self.partition_window is None
            and self.loss_window is None
            and not any(self.sim.nodes[n].alive and self.sim.nodes[n].paused for n in self.names)
        )

    def sole_master(self) -> str | None:
        masters = self.sim.masters()
        return masters[0] if len(masters) == 1 else None

    def quiet_wire(self, name: str) -> bool:
        """Nothing but ``name``'s adverts can still be in flight (a just-crashed owner's last advert arriving
        after a priority-0 one legitimately restarts the Backups' full Master_Down_Interval)."""
        since = self.sim.now - DELAY[1]
        for advert in reversed(self.sim.history.adverts):
            if advert.t < since:
                return True
            if advert.node != name:
                return False
        return True

    def mdi(self, priority: int) -> int:
        """Master_Down_Interval of a Backup with ``priority`` in this LAN (v2: seconds-based skew)."""
        return master_down_interval_us(priority, self.mai // 10_000, version=self.fl.version)

    def skew(self, priority: int) -> int:
        """Skew_Time of a Backup with ``priority`` in this LAN."""
        return skew_time_us(priority, self.mai // 10_000, version=self.fl.version)

    def mdi_max(self) -> int:
        return self.mdi(1)

    def settle(self) -> None:
        """Heal everything and let the protocol converge."""
        self.sim.heal()
        self.sim.clear_loss()
        for w in (self.partition_window, self.loss_window):
            if w is not None:
                w[1] = self.sim.now
        self.partition_window = self.loss_window = None
        settle_from = self.sim.now
        self.sim.settle()
        assert self.sim.now - settle_from == 2 * self.mdi_max() + 2 * self.mai + 10 * DELAY[1]

    def eff(self, name: str) -> int:
        return self.sim.router(name).effective_priority

    # ------------------------------------------------------------------ faults

    @rule(i=st.integers(0, MAX_NODES - 1))
    def crash(self, i: int) -> None:
        name = self.node(i)
        was_sole = self.healthy() and self.sole_master() == name and self.quiet_wire(name)
        backups = [n for n in self.running() if n != name]
        crash_at = self.sim.now
        self.sim.crash(name)
        if not (was_sole and backups):
            return
        # crash -> a Backup takes over within Master_Down_Interval of the last advert it heard
        # (the last advert a Backup can hear arrives by crash_at + DELAY[1]; its timer runs from there)
        # A Backup's timer was armed with the priority it had then: bound with the lowest it ever had.
        bound = crash_at + DELAY[1] + min(self.mdi(self.lowest[n]) for n in backups)
        self.sim.run_until_us(bound)
        takeovers = [
            t for t in self.sim.history.transitions if t.t > crash_at and t.new is State.MASTER and t.node in backups
        ]
        assert takeovers, f"no takeover within Master_Down_Interval after {name} crashed"
        first = takeovers[0]
        assert first.t <= crash_at + DELAY[1] + self.mdi(self.lowest[first.node])

    @rule(i=st.integers(0, MAX_NODES - 1))
    def graceful_stop(self, i: int) -> None:
        name = self.node(i)
        was_sole = self.healthy() and self.sole_master() == name and self.quiet_wire(name)
        backups = [n for n in self.running() if n != name]
        stop_at = self.sim.now
        self.sim.stop(name)
        if not (was_sole and backups):
            return
        # priority 0 -> the best Backup takes over within its Skew_Time (+ the link delay)
        best = max(self.eff(n) for n in backups)
        self.sim.run_until_us(stop_at + DELAY[1] + self.skew(best))
        takeovers = [t for t in self.sim.history.transitions if t.t > stop_at and t.new is State.MASTER]
        assert takeovers, f"no takeover within Skew_Time after {name} stopped"
        assert takeovers[0].t - stop_at <= DELAY[1] + self.skew(takeovers[0].priority)

    @rule(i=st.integers(0, MAX_NODES - 1), up=st.booleans())
    def link(self, i: int, up: bool) -> None:
        """A weight-0 tracked interface goes down (FAULT: a Master hands over with priority 0) or up."""
        self.sim.set_tracker(self.node(i), "link", up)  # a paused or stopped node sees it when it runs again

    @rule(i=st.integers(0, MAX_NODES - 1))
    def restart(self, i: int) -> None:
        self.sim.restart(self.node(i))

    @rule(i=st.integers(0, MAX_NODES - 1), p=st.integers(1, 254))
    def set_priority(self, i: int, p: int) -> None:
        name = self.node(i)
        self.lowest[name] = min(self.lowest[name], p)
        self.sim.set_priority(name, p)

    @rule(side=st.sets(st.integers(0, MAX_NODES - 1), min_size=1))
    def partition(self, side: set[int]) -> None:
        names = {self.node(i) for i in side}
        self.sim.partition(names)
        if self.partition_window is None:
            self.partition_window = [self.sim.now, None]
            self.windows.append(self.partition_window)

    @rule()
    def heal(self) -> None:
        self.sim.heal()
        if self.partition_window is not None:
            self.partition_window[1] = self.sim.now
            self.partition_window = None

    @rule(i=st.integers(0, MAX_NODES - 1), us=st.integers(1_000, 12_000_000))
    def pause(self, i: int, us: int) -> None:
        name = self.node(i)
        if self.sim.nodes[name].running:
            self.windows.append([self.sim.now, self.sim.now + us])
            self.sim.pause_us(name, us)

    @rule(i=st.integers(0, MAX_NODES - 1), p=st.sampled_from([0.1, 0.3, 0.5, 1.0]))
    def lossy(self, i: int, p: float) -> None:
        self.sim.set_loss(self.node(i), p)
        if self.loss_window is None:
            self.loss_window = [self.sim.now, None]
            self.windows.append(self.loss_window)

    @rule(draw=st.data())
    def inject(self, draw: st.DataObject) -> None:
        fl = self.fl
        data, ttl = draw.draw(malformed(fl))
        if ttl == 255:
            try:
                adv = decode(data, family=fl.family, src=fl.rogue, dst=fl.mcast)
            except PacketError:
                pass
            else:
                if adv.version == fl.version and adv.vrid == 1:
                    return  # random bytes that happen to be a valid advert are not malformed
        before = self.sim.snapshot()
        self.sim.inject(data, src=fl.rogue, ttl=ttl)
        assert self.sim.snapshot() == before, "a discarded packet changed router state"

    @rule(dt=st.integers(1, 3_000_000))
    def time_passes(self, dt: int) -> None:
        self.sim.run_for_us(dt)

    # ------------------------------------------------------------------ convergence properties

    @precondition(lambda self: bool(self.names))
    @rule()
    def settle_and_check(self) -> None:
        self.settle()
        live = self.live()
        masters = self.sim.masters()
        if not live:
            assert masters == []
            return
        assert len(masters) == 1, f"P1: masters {masters} after settling at t={self.sim.now}"
        (m,) = masters
        assert self.sim.vip_holders() == [m], "P2: the Master is the only VIP holder"
        assert all(self.sim.state(n) is State.BACKUP for n in live if n != m)
        owners = [n for n in live if self.sim.router(n).base_priority == 255]
        if owners:
            assert m in owners, f"P3: owner {owners} alive but {m} is Master"
        if self.preempt:
            assert self.eff(m) == max(self.eff(n) for n in live), (
                f"P3: Master {m} has priority {self.eff(m)}, not the highest"
            )

    @precondition(lambda self: bool(self.names))
    @rule(dt=st.integers(1_000_000, 20_000_000))
    def quiet_master_stays(self, dt: int) -> None:
        """Stability: nothing happens to a working Master, so it stays Master (preempt off, or it is best)."""
        self.settle()
        m = self.sole_master()
        if m is None:
            return
        live = self.live()
        if self.preempt and self.eff(m) < max(self.eff(n) for n in live):
            return
        since = self.sim.now
        self.sim.run_for_us(dt)
        assert self.sim.masters() == [m]
        assert not [t for t in self.sim.history.transitions if t.t > since], "a working Master was displaced"

    # ------------------------------------------------------------------ always

    @invariant()
    def vips_only_on_masters(self) -> None:
        holders = set(self.sim.vip_holders())
        masters = set(self.sim.masters())
        assert holders == masters, f"VIP holders {holders} != Masters {masters}"

    @invariant()
    def dual_masters_only_while_disturbed(self) -> None:
        slack = self.mai + DELAY[1]
        for start, stop, who in self.sim.history.multi_master_intervals(1, end=self.sim.now):
            touching = [
                w for w in self.windows if w[0] is not None and w[0] <= stop and (w[1] is None or w[1] >= start)
            ]
            if any(w[1] is None for w in touching):
                continue  # still partitioned / lossy
            last_end = max([start, *(w[1] for w in touching if w[1] is not None)])
            assert stop <= last_end + slack, (
                f"dual Masters {sorted(who)} from {start} to {stop} µs, {stop - last_end} µs after the network "
                f"was last disturbed (bound {slack} µs)"
            )


TestVrrpCluster = VrrpCluster.TestCase
TestVrrpCluster.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=30,
    deadline=None,
    derandomize=os.environ.get("ROUTER_SIM_RANDOM", "") == "",
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
