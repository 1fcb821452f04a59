"""``Host.reconfigure`` (a SIGHUP reload) on a virtual clock: unchanged instances are untouched (no transition,
no advert gap, no extra advert or GARP), priority and address changes are applied in place, structural changes
restart only that instance, removed instances stop with priority 0, new ones start."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from vrrp.core.actions import (
    AddVips,
    RemoveVips,
    SendAdvertisement,
    SendGratuitous,
    StateChanged,
    SyncGroupStateChanged,
)
from vrrp.core.config import RouterConfig
from vrrp.core.host import Host, Member, Pair
from vrrp.core.state import State, TransitionReason
from vrrp.core.tracking import Tracker

ME = IPv4Address("10.0.0.2")
S = 1_000_000


def cfg(name: str, vrid: int, **kw: object) -> RouterConfig:
    settings: dict[str, object] = {
        "name": name, "vrid": vrid, "primary_address": ME,
        "virtual_ipaddress": (IPv4Address(f"10.0.{vrid}.100"),),
    }
    settings.update(kw)
    return RouterConfig(**settings)  # type: ignore[arg-type]


def members(*configs: RouterConfig) -> list[Member]:
    return [Member(c, "eth0") for c in configs]


def master_host(*configs: RouterConfig) -> Host:
    """Every instance Master (no peer: the Master_Down_Timer expires), at t = 10 s."""
    host = Host(members(*configs))
    host.start(0)
    host.handle_timers(10 * S)
    assert all(r.state is State.MASTER for r in host.routers())
    return host


def kinds(pairs: list[Pair]) -> list[tuple[str | None, str]]:
    return [(n, type(a).__name__) for n, a in pairs]


def test_an_unchanged_config_changes_nothing_at_all() -> None:
    """The property the SIGHUP lab test checks on the wire: same routers, same timers, no action at all."""
    a, b = cfg("A", 1), cfg("B", 2, priority=50)
    host = master_host(a, b)
    routers, deadline = host.routers(), host.next_deadline()
    sent = [r.stats.adverts_sent for r in routers]
    for i in range(20):
        result = host.reconfigure(members(a, b), [], 10 * S + i)
        assert result.stopped == [] and result.pairs == []
        assert result.unchanged == ["A", "B"]
    assert host.routers() == routers and all(x is y for x, y in zip(host.routers(), routers, strict=True))
    assert host.next_deadline() == deadline
    assert [r.stats.adverts_sent for r in routers] == sent


def test_a_priority_change_is_a_priority_event_not_a_restart() -> None:
    host = master_host(cfg("A", 1))
    router = host.router("A")
    result = host.reconfigure(members(cfg("A", 1, priority=150)), [], 11 * S)
    assert result.updated == ["A"] and result.stopped == []
    assert host.router("A") is router and router.base_priority == 150 and router.state is State.MASTER
    # a Master tells the Backups its new priority at once, and nothing else happens
    assert kinds(result.pairs) == [("A", "SendAdvertisement"), ("A", "PriorityChanged")]
    assert not any(isinstance(a, StateChanged) for _, a in result.pairs)


def test_a_vip_change_adds_and_removes_only_the_difference() -> None:
    old_vips = (IPv4Address("10.0.1.100"), IPv4Address("10.0.1.101"))
    new_vips = (IPv4Address("10.0.1.100"), IPv4Address("10.0.1.102"))
    host = master_host(cfg("A", 1, virtual_ipaddress=old_vips))
    result = host.reconfigure(members(cfg("A", 1, virtual_ipaddress=new_vips)), [], 11 * S)
    assert result.updated == ["A"]
    by_type = {type(a): a for _, a in result.pairs}
    assert by_type[RemoveVips].addresses == (IPv4Address("10.0.1.101"),)
    assert by_type[AddVips].addresses == (IPv4Address("10.0.1.102"),)
    assert by_type[SendGratuitous].addresses == (IPv4Address("10.0.1.102"),)
    advert = by_type[SendAdvertisement]
    assert advert.addresses == new_vips and advert.priority == 100
    assert not any(isinstance(a, StateChanged) for _, a in result.pairs)
    assert kinds(result.pairs)[0] == ("A", "SendAdvertisement")  # the host's order: adverts first


def test_a_vip_change_on_a_backup_installs_nothing() -> None:
    host = Host(members(cfg("A", 1)))
    host.start(0)
    new = cfg("A", 1, virtual_ipaddress=(IPv4Address("10.0.1.200"),))
    result = host.reconfigure(members(new), [], S)
    assert result.pairs == [] and host.router("A").config.virtual_ipaddress == new.virtual_ipaddress


@pytest.mark.parametrize("change", [{"vrid": 7}, {"advert_int_cs": 200}, {"version": 2}, {"preempt": False}])
def test_a_structural_change_restarts_only_that_instance(change: dict[str, object]) -> None:
    change = dict(change)  # the parameter is shared by every run of the test (mutmut runs it more than once)
    a, b = cfg("A", 1), cfg("B", 2)
    host = master_host(a, b)
    router_b = host.router("B")
    new_a = cfg("A", int(change.pop("vrid", 1)), **change)  # type: ignore[call-overload]
    result = host.reconfigure(members(new_a, b), [], 11 * S)
    assert result.restarted == ["A"] and result.unchanged == ["B"]
    # the old router stops as a Master does: priority 0, VIPs removed
    stop = [a for _, a in result.stopped]
    assert any(isinstance(a, SendAdvertisement) and a.priority == 0 for a in stop)
    assert any(isinstance(a, RemoveVips) for a in stop)
    assert all(n == "A" for n, _ in result.stopped)
    assert host.router("A").state is State.BACKUP and host.router("A").config == new_a
    assert host.router("B") is router_b and router_b.state is State.MASTER


def test_instances_are_added_and_removed() -> None:
    host = master_host(cfg("A", 1), cfg("B", 2))
    result = host.reconfigure(members(cfg("A", 1), cfg("C", 3)), [], 11 * S)
    assert result.removed == ["B"] and result.added == ["C"] and result.unchanged == ["A"]
    assert all(n == "B" for n, _ in result.stopped)
    assert any(isinstance(a, SendAdvertisement) and a.priority == 0 for _, a in result.stopped)
    assert any(isinstance(a, RemoveVips) for _, a in result.stopped)
    assert ("C", "StateChanged") in kinds(result.pairs)
    assert host.names == ["A", "C"]
    with pytest.raises(KeyError):
        host.router("B")


def test_a_bad_new_set_changes_nothing() -> None:
    host = master_host(cfg("A", 1))
    router = host.router("A")
    with pytest.raises(ValueError, match="unknown instance"):
        host.reconfigure(members(cfg("A", 1)), [("G", ["A", "Z"])], 11 * S)
    with pytest.raises(ValueError, match="configured twice"):
        host.reconfigure(members(cfg("A", 1), cfg("A", 2)), [], 11 * S)
    assert host.router("A") is router and host.names == ["A"]


def test_sync_groups_are_rebuilt_around_kept_routers() -> None:
    a, b = cfg("A", 1), cfg("B", 2)
    host = Host(members(a, b), [("G", ["A", "B"])])
    host.start(0)
    host.handle_timers(10 * S)
    result = host.reconfigure(members(a, b), [], 11 * S)  # the group is gone, the routers stay
    assert result.pairs == [] and host.groups == {}
    assert host.router("A").sync_gate is None
    host.reconfigure(members(a, b), [("G2", ["A", "B"])], 12 * S)
    assert set(host.groups) == {"G2"} and host.router("A").sync_gate is not None


# ----------------------------------------------------------------- what the mutation run showed untested


@pytest.mark.parametrize("where", [{"link": "eth9"}, {"group": IPv4Address("224.0.0.99")}, {"old_checksum": "never"}])
def test_a_new_link_group_or_checksum_mode_restarts_the_instance(where: dict[str, object]) -> None:
    host = master_host(cfg("A", 1))
    old = host.router("A")
    moved = Member(cfg("A", 1), **{"link": "eth0", **where})  # type: ignore[arg-type]
    result = host.reconfigure([moved], [], 11 * S)
    assert result.restarted == ["A"] and result.updated == [] and host.router("A") is not old


def test_every_change_of_one_reload_is_reported() -> None:
    """Two removed, two updated (one in priority and addresses at once), two added: each one's actions are there."""
    host = master_host(cfg("A", 1), cfg("B", 2), cfg("C", 3), cfg("D", 4))
    new_vips = (IPv4Address("10.0.1.200"),)
    result = host.reconfigure(members(cfg("A", 1, priority=150, virtual_ipaddress=new_vips), cfg("B", 2, priority=50),
                                      cfg("E", 5), cfg("F", 6)), [], 11 * S)
    assert result.removed == ["C", "D"] and result.updated == ["A", "B"] and result.added == ["E", "F"]
    assert [n for n, a in result.stopped if isinstance(a, SendAdvertisement)] == ["C", "D"]
    got = kinds(result.pairs)
    assert ("A", "PriorityChanged") in got and ("A", "AddVips") in got and ("B", "PriorityChanged") in got
    assert [n for n, a in result.pairs if isinstance(a, StateChanged)] == ["E", "F"]


def test_added_instances_start_without_a_priority_change_and_keep_their_place() -> None:
    """A new instance listed before the running ones: those stay untouched; the new one only starts."""
    host = master_host(cfg("A", 1))
    router = host.router("A")
    tracked = cfg("N", 9, trackers=(Tracker("chk", weight=-20, initial_up=False),))
    result = host.reconfigure(members(tracked, cfg("A", 1)), [], 11 * S)
    assert result.added == ["N"] and result.unchanged == ["A"] and host.router("A") is router
    assert result.pairs == [("N", StateChanged(State.INIT, State.BACKUP, TransitionReason.STARTUP, 80))]


def test_a_bad_new_set_is_refused_before_anything_stops() -> None:
    host = master_host(cfg("A", 1), cfg("B", 2))
    routers = host.routers()
    with pytest.raises(ValueError) as err:
        host.reconfigure(members(cfg("A", 1)), [("G", ["A", "X", "Y"])], 11 * S)
    assert str(err.value) == "sync group 'G': unknown instance(s) X, Y"
    with pytest.raises(ValueError) as err:
        host.reconfigure(members(cfg("A", 1), cfg("B", 2), cfg("B", 3)), [], 11 * S)
    assert str(err.value) == "instance 'B' is configured twice"
    assert host.routers() == routers and all(r.state is State.MASTER for r in routers)


def test_a_reload_with_a_new_owner_in_a_group_moves_the_group_at_that_moment() -> None:
    """Priority raised to 255 (the owner) on reload, and an owner added to a group: Master now, partners follow."""
    a, b = cfg("A", 1), cfg("B", 2)
    host = Host(members(a, b), [("G", ["A", "B"])])
    host.start(0)
    result = host.reconfigure(members(cfg("A", 1, priority=255), b), [("G", ["A", "B"])], 3 * S)
    assert result.updated == ["A"] and {r.state for r in host.routers()} == {State.MASTER}
    assert [r.get_timer() for r in host.routers()] == [4 * S, 4 * S]
    host = Host(members(b), [("G", ["B"])])
    host.start(0)
    host.reconfigure(members(b, cfg("O", 9, priority=255)), [("G", ["B", "O"])], 3 * S)
    assert {r.state for r in host.routers()} == {State.MASTER}
    assert [r.get_timer() for r in host.routers()] == [4 * S, 4 * S]


def test_a_sync_group_keeps_what_it_agreed_only_while_its_members_stay() -> None:
    a, b = cfg("A", 1), cfg("B", 2)
    host = Host(members(a, b), [("G", ["A", "B"])])
    host.start(0)
    host.handle_timers(10 * S)
    assert host.group_states() == {"G": State.MASTER}
    assert host.reconfigure(members(a, b), [("G", ["A", "B"])], 11 * S).pairs == []
    assert host.group_states() == {"G": State.MASTER}
    # a member restarted by the reload is Backup for a while: the group agrees on nothing new and reports nothing
    result = host.reconfigure(members(cfg("A", 1, advert_int_cs=200), b), [("G", ["A", "B"])], 12 * S)
    assert result.restarted == ["A"]
    assert not any(isinstance(x, SyncGroupStateChanged) for _, x in result.pairs)
    assert host.group_states() == {"G": State.MASTER}
    # new members: what the old group agreed no longer holds, and nothing is reported until the members agree
    result = host.reconfigure(members(cfg("A", 1, advert_int_cs=200), b, cfg("C", 3)), [("G", ["A", "B", "C"])],
                              13 * S)
    assert host.group_states() == {}
    assert not any(isinstance(x, SyncGroupStateChanged) for _, x in result.pairs)


@pytest.mark.parametrize("reload", ["removed", "dissolved"])
def test_a_reload_that_ends_a_fault_hold_releases_the_partners(reload: str) -> None:
    """A member held in FAULT by its sync group (another member's own tracker is down) leaves FAULT when a reload
    removes the faulted member or dissolves the group; it was stuck in FAULT for good before."""
    a = cfg("A", 1, trackers=(Tracker("chk", weight=0),))
    b = cfg("B", 2)
    host = Host(members(a, b), [("G", ["A", "B"])])
    host.start(0)
    host.set_tracker_state("A", "chk", False, S)
    assert host.router("B").state is State.FAULT and host.router("B").held_in_fault
    new = members(b) if reload == "removed" else members(a, b)
    result = host.reconfigure(new, [], 2 * S)
    assert host.router("B").state is State.BACKUP and not host.router("B").held_in_fault
    assert ("B", StateChanged(State.FAULT, State.BACKUP, TransitionReason.FAULT_CLEARED, 100)) in result.pairs
    assert host.router("B").get_timer() == 2 * S + host.router("B").master_down_interval_us()
    if reload == "dissolved":
        assert host.router("A").state is State.FAULT


def test_a_reload_that_keeps_a_faulted_group_keeps_holding_its_members() -> None:
    a = cfg("A", 1, trackers=(Tracker("chk", weight=0),))
    b = cfg("B", 2)
    host = Host(members(a, b), [("G", ["A", "B"])])
    host.start(0)
    host.set_tracker_state("A", "chk", False, S)
    result = host.reconfigure(members(a, b), [("G", ["A", "B"])], 2 * S)
    assert result.pairs == [] and result.unchanged == ["A", "B"]
    assert host.router("B").state is State.FAULT and host.router("B").held_in_fault


def test_a_reload_that_groups_a_member_with_a_faulted_one_holds_it_in_fault() -> None:
    a = cfg("A", 1, trackers=(Tracker("chk", weight=0),))
    b = cfg("B", 2)
    host = Host(members(a, b))
    host.start(0)
    host.set_tracker_state("A", "chk", False, S)
    assert host.router("B").state is State.BACKUP
    result = host.reconfigure(members(a, b), [("G", ["A", "B"])], 2 * S)
    assert host.router("B").state is State.FAULT and host.router("B").held_in_fault
    assert (None, SyncGroupStateChanged("G", State.FAULT)) in result.pairs
    host.set_tracker_state("A", "chk", True, 3 * S)
    assert {r.state for r in host.routers()} == {State.BACKUP}


def test_a_reload_regroups_faults_for_every_member_and_keeps_the_rest_of_its_work() -> None:
    """Three-member group, A faulted by its tracker: a reload that removes A (the group keeps B and C) and adds D
    releases B and C at the reload's time and still starts D; a reload that puts two free members in a group with
    a faulted one holds both."""
    a = cfg("A", 1, trackers=(Tracker("chk", weight=0),))
    b, c, d = cfg("B", 2), cfg("C", 3), cfg("D", 4)
    host = Host(members(a, b, c), [("G", ["A", "B", "C"])])
    host.start(0)
    host.set_tracker_state("A", "chk", False, S)
    result = host.reconfigure(members(b, c, d), [("G", ["B", "C"])], 2 * S)
    assert {host.router(n).state for n in ("B", "C", "D")} == {State.BACKUP}
    assert [n for n, x in result.pairs if isinstance(x, StateChanged)] == ["D", "B", "C"]
    mdi = host.router("B").master_down_interval_us()
    assert [host.router(n).get_timer() for n in ("B", "C")] == [2 * S + mdi] * 2
    free = Host(members(a, b, c))
    free.start(0)
    free.set_tracker_state("A", "chk", False, S)
    result = free.reconfigure(members(a, b, c, d), [("G", ["A", "B", "C"])], 2 * S)
    assert [n for n, x in result.pairs if isinstance(x, StateChanged)] == ["D", "B", "C"]
    assert {free.router(n).state for n in ("A", "B", "C")} == {State.FAULT}
    dissolved = Host(members(a, b, c), [("G", ["A", "B", "C"])])
    dissolved.start(0)
    dissolved.set_tracker_state("A", "chk", False, S)
    result = dissolved.reconfigure(members(a, b, c), [], 2 * S)
    assert [n for n, x in result.pairs if isinstance(x, StateChanged)] == ["B", "C"]
