"""vrrp/core/sync_group.py: members move together (keepalived's vrrp_sync_group rules)."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from vrrp.core.actions import Action, SendGratuitous, StateChanged
from vrrp.core.config import RouterConfig
from vrrp.core.packet import Advertisement
from vrrp.core.router import VirtualRouter
from vrrp.core.state import State, TransitionReason
from vrrp.core.sync_group import SyncGroup
from vrrp.core.tracking import Tracker

S = 1_000_000


def member(name: str, vrid: int, advert_int_cs: int = 100, **kw: object) -> VirtualRouter:
    cfg = RouterConfig(
        vrid=vrid,
        name=name,
        primary_address=IPv4Address(f"10.0.{vrid}.2"),
        virtual_ipaddress=(IPv4Address(f"10.0.{vrid}.100"),),
        advert_int_cs=advert_int_cs,
        **kw,  # type: ignore[arg-type]
    )
    return VirtualRouter(cfg)


def pair(**kw: object) -> tuple[VirtualRouter, VirtualRouter, SyncGroup]:
    a = member("VI_EXT", 1, **kw)
    b = member("VI_INT", 2, advert_int_cs=200, **kw)
    group = SyncGroup("G1", [a, b])
    for r in (a, b):
        group.dispatch(r, r.start(0), 0)
    return a, b, group


def changes(out: list[tuple[VirtualRouter, Action]]) -> list[tuple[str, State, TransitionReason]]:
    return [(r.name, a.new, a.reason) for r, a in out if isinstance(a, StateChanged)]


def test_member_waits_for_the_others_then_all_become_master_together() -> None:
    a, b, group = pair()
    ta = a.get_timer()
    assert ta is not None
    assert group.dispatch(a, a.handle_timer(ta), ta) == []  # b still hears its Master: a waits
    assert a.state is State.BACKUP and a.want_master
    tb = b.get_timer()
    assert tb is not None
    out = group.dispatch(b, b.handle_timer(tb), tb)
    assert changes(out) == [
        ("VI_INT", State.MASTER, TransitionReason.MASTER_NO_RESPONSE),
        ("VI_EXT", State.MASTER, TransitionReason.SYNC_GROUP),
    ]
    assert a.state is b.state is State.MASTER


def test_an_advert_heard_while_waiting_cancels_the_wish() -> None:
    a, _b, group = pair()
    ta = a.get_timer()
    assert ta is not None
    group.dispatch(a, a.handle_timer(ta), ta)
    adv = Advertisement(3, 1, 200, [IPv4Address("10.0.1.100")], 100)
    a.receive_advertisement(adv, src=IPv4Address("10.0.1.1"), ttl=255, now=ta + 1)
    assert not a.want_master


def test_one_master_falling_back_takes_the_group_to_backup() -> None:
    a, b, group = pair()
    tb = b.get_timer()
    ta = a.get_timer()
    assert ta is not None and tb is not None
    group.dispatch(a, a.handle_timer(ta), ta)
    group.dispatch(b, b.handle_timer(tb), tb)
    adv = Advertisement(3, 1, 200, [IPv4Address("10.0.1.100")], 100)
    out = group.dispatch(a, a.receive_advertisement(adv, src=IPv4Address("10.0.1.1"), ttl=255, now=10 * S), 10 * S)
    assert changes(out) == [
        ("VI_EXT", State.BACKUP, TransitionReason.PRIORITY),
        ("VI_INT", State.BACKUP, TransitionReason.SYNC_GROUP),
    ]


def test_a_fault_takes_every_member_to_fault_until_it_clears() -> None:
    a = member("VI_EXT", 1, trackers=(Tracker("eth0"),))
    b = member("VI_INT", 2)
    group = SyncGroup("G1", [a, b])
    for r in (a, b):
        group.dispatch(r, r.start(0), 0)
    out = group.dispatch(a, a.set_tracker_state("eth0", False, S), S)
    assert changes(out) == [
        ("VI_EXT", State.FAULT, TransitionReason.FAULT),
        ("VI_INT", State.FAULT, TransitionReason.SYNC_GROUP),
    ]
    # b's own view does not fault it, but the group keeps it down while a is faulted
    assert b.get_timer() is None
    out = group.dispatch(a, a.set_tracker_state("eth0", True, 2 * S), 2 * S)
    assert changes(out) == [
        ("VI_EXT", State.BACKUP, TransitionReason.FAULT_CLEARED),
        ("VI_INT", State.BACKUP, TransitionReason.FAULT_CLEARED),
    ]


def test_an_instance_cannot_join_two_groups() -> None:
    a = member("VI_EXT", 1)
    SyncGroup("G1", [a])
    with pytest.raises(ValueError, match="already in a sync group"):
        SyncGroup("G2", [a])


def test_a_member_recovering_while_another_is_still_faulted_stays_in_fault() -> None:
    a = member("VI_EXT", 1, trackers=(Tracker("eth0"),))
    b = member("VI_INT", 2, trackers=(Tracker("eth1"),))
    group = SyncGroup("G1", [a, b])
    for r in (a, b):
        group.dispatch(r, r.start(0), 0)
    group.dispatch(a, a.set_tracker_state("eth0", False, S), S)
    group.dispatch(b, b.set_tracker_state("eth1", False, 2 * S), 2 * S)  # b faults on its own too
    out = group.dispatch(a, a.set_tracker_state("eth0", True, 3 * S), 3 * S)
    assert changes(out) == [
        ("VI_EXT", State.BACKUP, TransitionReason.FAULT_CLEARED),
        ("VI_EXT", State.FAULT, TransitionReason.SYNC_GROUP),
    ]
    assert a.state is State.FAULT
    out = group.dispatch(b, b.set_tracker_state("eth1", True, 4 * S), 4 * S)
    assert a.state is b.state is State.BACKUP


def test_lower_priority_garp_refresh_covers_every_master_member() -> None:
    a, b, group = pair(garp_lower_prio_repeat=2)
    ta, tb = a.get_timer(), b.get_timer()
    assert ta is not None and tb is not None
    group.dispatch(a, a.handle_timer(ta), ta)
    group.dispatch(b, b.handle_timer(tb), tb)
    low = Advertisement(3, 1, 50, [IPv4Address("10.0.1.100")], 100)
    out = group.dispatch(a, a.receive_advertisement(low, src=IPv4Address("10.0.1.9"), ttl=255, now=9 * S), 9 * S)
    garps = [(r.name, act) for r, act in out if isinstance(act, SendGratuitous)]
    assert garps == [
        ("VI_EXT", SendGratuitous((IPv4Address("10.0.1.100"),), 2)),
        ("VI_INT", SendGratuitous((IPv4Address("10.0.2.100"),), 2)),
    ]


def test_a_waiting_member_re_arms_its_down_timer_with_its_own_master_down_interval() -> None:
    """keepalived's "prefer backup": the member that may not become Master yet waits one more
    Master_Down_Interval (with its own Skew_Time), measured from when its timer fired."""
    a, _b, group = pair(priority=150)
    ta = a.get_timer()
    assert ta is not None
    group.dispatch(a, a.handle_timer(ta), ta)
    assert a.want_master is True and a.state is State.BACKUP
    assert a.get_timer() == ta + a.master_down_interval_us() == ta + 3 * S + (256 - 150) * S // 256


def test_garp_refresh_skips_members_that_are_not_master() -> None:
    a, b, group = pair(garp_lower_prio_repeat=2)
    ta, tb = a.get_timer(), b.get_timer()
    assert ta is not None and tb is not None
    group.dispatch(a, a.handle_timer(ta), ta)
    group.dispatch(b, b.handle_timer(tb), tb)
    group.dispatch(b, b.shutdown(8 * S), 8 * S)  # b stopped: in INIT, it has no addresses to refresh
    assert a.state is State.MASTER and b.state is State.INIT
    low = Advertisement(3, 1, 50, [IPv4Address("10.0.1.100")], 100)
    out = group.dispatch(a, a.receive_advertisement(low, src=IPv4Address("10.0.1.9"), ttl=255, now=9 * S), 9 * S)
    assert [(r.name, act) for r, act in out if isinstance(act, SendGratuitous)] == [
        ("VI_EXT", SendGratuitous((IPv4Address("10.0.1.100"),), 2))
    ]


def test_a_takeover_announces_each_member_once() -> None:
    """Only the lower-priority refresh fans out: on a takeover each member sends its own burst, once."""
    a, b, group = pair()
    ta, tb = a.get_timer(), b.get_timer()
    assert ta is not None and tb is not None
    group.dispatch(a, a.handle_timer(ta), ta)
    out = group.dispatch(b, b.handle_timer(tb), tb)
    garps = sorted((r.name, act.repeat) for r, act in out if isinstance(act, SendGratuitous))
    assert garps == [("VI_EXT", 5), ("VI_INT", 5)]


def test_the_group_follows_a_member_that_speaks_before_yielding() -> None:
    """higher_prio_send_advert puts an advert before the StateChanged: the group must still see the change."""
    a, b, group = pair(higher_prio_send_advert=True)
    ta, tb = a.get_timer(), b.get_timer()
    assert ta is not None and tb is not None
    group.dispatch(a, a.handle_timer(ta), ta)
    group.dispatch(b, b.handle_timer(tb), tb)
    high = Advertisement(3, 1, 200, [IPv4Address("10.0.1.100")], 100)
    actions = a.receive_advertisement(high, src=IPv4Address("10.0.1.9"), ttl=255, now=9 * S)
    assert type(actions[0]).__name__ == "SendAdvertisement"
    group.dispatch(a, actions, 9 * S)
    assert a.state is b.state is State.BACKUP


def test_a_member_shutting_down_leaves_the_other_masters_alone() -> None:
    a, b, group = pair()
    ta, tb = a.get_timer(), b.get_timer()
    assert ta is not None and tb is not None
    group.dispatch(a, a.handle_timer(ta), ta)
    group.dispatch(b, b.handle_timer(tb), tb)
    out = group.dispatch(a, a.shutdown(9 * S), 9 * S)
    assert a.state is State.INIT and b.state is State.MASTER
    assert [r.name for r, act in out if isinstance(act, StateChanged)] == ["VI_EXT"]


def test_group_keeps_its_name_and_refuses_a_member_listed_twice() -> None:
    a = member("VI_EXT", 1)
    assert SyncGroup("G9", [a]).name == "G9"
    b = member("VI_B", 2)
    with pytest.raises(ValueError) as err:
        SyncGroup("G2", [b, b])
    assert str(err.value) == "sync group 'G2': an instance is listed twice"


def test_release_and_force_state_keep_plain_booleans_and_ignore_init() -> None:
    r = member("VI_X", 3)
    assert r.force_state(State.MASTER, 0) == [] and r.state is State.INIT  # not started: nothing to follow
    r.start(0)
    r.force_state(State.FAULT, 1)
    assert r.held_in_fault is True and r.state is State.FAULT
    r.release_fault(2)
    assert r.held_in_fault is False and r.state is State.BACKUP
    assert r.force_state(State.BACKUP, 3) == []  # already there
    assert r.held_in_fault is False
