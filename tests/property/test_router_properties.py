"""Hypothesis properties of one virtual router driven by arbitrary event sequences (no simulator).

* arbitrary bytes handed to ``receive_packet`` never raise, and a rejected packet changes nothing;
* timer arithmetic: Skew_Time strictly decreases with priority at every interval (no rounding to 0 at 1 cs),
  and Master_Down_Interval = 3 × interval + Skew_Time;
* whatever the events, the router's bookkeeping stays consistent: VIPs held exactly while MASTER, a timer
  exactly while BACKUP or MASTER, every transition in the table, priority 0 only when leaving MASTER, and the
  timer acts exactly when due (an early call is a no-op: a Backup never takes over before its deadline).
"""

from __future__ import annotations

from ipaddress import IPv4Address

from hypothesis import given, settings
from hypothesis import strategies as st

from vrrp.core.actions import Action, AddVips, RemoveVips, SendAdvertisement, StateChanged
from vrrp.core.config import RouterConfig
from vrrp.core.packet import Advertisement, decode
from vrrp.core.router import VirtualRouter
from vrrp.core.state import TRANSITIONS, State
from vrrp.core.timers import master_down_interval_us, skew_time_us
from vrrp.core.tracking import Tracker

ME = IPv4Address("10.0.0.50")
VIP = IPv4Address("10.0.0.100")
MCAST = IPv4Address("224.0.0.18")
SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, database=None)


def make(priority: int = 100, **kw: object) -> VirtualRouter:
    cfg = RouterConfig(
        vrid=1,
        primary_address=ME,
        virtual_ipaddress=(VIP,),
        priority=priority,
        **kw,  # type: ignore[arg-type]
    )
    return VirtualRouter(cfg)


@SETTINGS
@given(data=st.binary(max_size=64), ttl=st.sampled_from([255, 64]))
def test_arbitrary_bytes_never_raise_and_rejections_change_nothing(data: bytes, ttl: int) -> None:
    r = make()
    r.start(0)
    before = r.snapshot()
    r.receive_packet(data, src=IPv4Address("10.0.0.1"), dst=MCAST, ttl=ttl, now=1000)
    if sum(r.stats.discards.values()):
        assert r.snapshot() == before
    else:
        decode(data, family=4, src=IPv4Address("10.0.0.1"), dst=MCAST)  # it really was a valid advert


@SETTINGS
@given(p=st.integers(1, 253), mai=st.integers(1, 4095))
def test_skew_strictly_decreases_with_priority_and_mdi_adds_three_intervals(p: int, mai: int) -> None:
    assert skew_time_us(p, mai) > skew_time_us(p + 1, mai) > 0
    assert master_down_interval_us(p, mai) == 3 * mai * 10_000 + skew_time_us(p, mai)


event = st.one_of(
    st.tuples(st.just("advert"), st.integers(0, 255), st.integers(1, 254), st.integers(1, 300)),
    st.tuples(st.just("timer"), st.one_of(st.just(0), st.integers(1, 3), st.integers(1, 5_000_000))),
    st.tuples(st.just("priority"), st.integers(1, 255)),
    st.tuples(st.just("tracker"), st.booleans()),
    st.tuples(st.just("shutdown")),
    st.tuples(st.just("start")),
    st.tuples(st.just("wait"), st.integers(1, 5_000_000)),
)


@SETTINGS
@given(
    base=st.integers(1, 255),
    preempt=st.booleans(),
    delay=st.sampled_from([0, 2_000_000]),
    events=st.lists(event, max_size=40),
)
def test_bookkeeping_stays_consistent_under_any_event_sequence(
    base: int, preempt: bool, delay: int, events: list[tuple[object, ...]]
) -> None:
    r = make(base, preempt=preempt, preempt_delay_us=delay, trackers=(Tracker("link"),))
    now = 0
    holding = False
    for ev in events:
        kind = ev[0]
        actions: list[Action] = []
        state_before = r.state
        timer_before = r.get_timer()
        if kind == "advert":
            _, prio, host, interval = ev
            adv = Advertisement(3, 1, prio, [VIP], interval)  # type: ignore[arg-type]
            actions = r.receive_advertisement(adv, src=IPv4Address(f"10.0.0.{host}"), ttl=255, now=now)
        elif kind == "timer":
            # The old check here, ``now >= timer_before`` after ``now = max(now, due)``, could not fail.  What it
            # meant: the timer acts exactly when it is due.  Called early (``early`` µs before the deadline) it is
            # a no-op, so a Backup never takes over before Master_Down_Timer expires; called when due, a Backup
            # takes over (no sync group here) and a Master advertises and re-arms Adver_Timer.
            early = ev[1]  # how long before the deadline the call comes (0: when due)
            assert isinstance(early, int)
            if timer_before is None or (early and timer_before - early >= now):
                at = now if timer_before is None else timer_before - early
                before = r.snapshot()
                actions = r.handle_timer(at)
                assert actions == [] and r.snapshot() == before and r.state is state_before
                now = at
            else:
                now = timer_before
                actions = r.handle_timer(now)
                if state_before is State.BACKUP:
                    assert r.state is State.MASTER
                else:
                    assert state_before is State.MASTER and r.state is State.MASTER
                    assert [type(a) for a in actions] == [SendAdvertisement]
                    assert r.get_timer() == now + r.config.advert_int_cs * 10_000
        elif kind == "priority":
            actions = r.set_priority(ev[1], now)  # type: ignore[arg-type]
        elif kind == "tracker":
            actions = r.set_tracker_state("link", bool(ev[1]), now)
        elif kind == "shutdown":
            actions = r.shutdown(now)
        elif kind == "start":
            if r.state is State.INIT:
                actions = r.start(now)
        else:
            step = ev[1]
            assert isinstance(step, int)
            due = r.get_timer()
            if due is None or now + step < due:  # never jump past a deadline without firing it
                now += step
        changes = [a for a in actions if isinstance(a, StateChanged)]
        for c in changes:
            assert (c.old, c.new) in TRANSITIONS
        for a in actions:
            if isinstance(a, AddVips):
                holding = True
            elif isinstance(a, RemoveVips):
                holding = False
            elif isinstance(a, SendAdvertisement) and a.priority == 0:
                assert changes and changes[0].old is State.MASTER  # priority 0 only when leaving MASTER
            elif isinstance(a, SendAdvertisement):
                assert a.priority == r.effective_priority >= 1
        assert holding == (r.state is State.MASTER) == r.holds_vips
        assert (r.get_timer() is not None) == (r.state in (State.BACKUP, State.MASTER))
        if r.base_priority == 255 and r.state in (State.BACKUP, State.MASTER):
            assert r.effective_priority == 255  # trackers never move the owner
