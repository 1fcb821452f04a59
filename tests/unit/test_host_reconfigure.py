"""``Host.reconfigure`` (a SIGHUP reload) on a virtual clock: unchanged instances are untouched (no transition,
no advert gap, no extra advert or GARP), priority and address changes are applied in place, structural changes
restart only that instance, removed instances stop with priority 0, new ones start."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from vrrp.core.actions import AddVips, RemoveVips, SendAdvertisement, SendGratuitous, StateChanged
from vrrp.core.config import RouterConfig
from vrrp.core.host import Host, Member, Pair
from vrrp.core.state import State

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
