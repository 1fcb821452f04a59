"""vrrp.io.addresses against the real kernel: VIPs are reachable from a peer while present and not after removal;
every change is idempotent; routes and rules appear and go; shutdown removes exactly what was added."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from pyroute2 import AsyncIPRoute

from netns_lab.nsenter import inside
from netns_lab.wirenet import WireNet, ip, tcp_connects
from vrrp.io.addresses import (
    AddressError,
    NetlinkConfigurator,
    VirtualAddress,
    VirtualRoute,
    VirtualRule,
    parse_scope,
)

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def net() -> Iterator[WireNet]:
    with WireNet(["a", "b"]) as built:
        yield built


def with_configurator(net: WireNet, body: Callable[[NetlinkConfigurator], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with AsyncIPRoute() as ipr:
            return await body(NetlinkConfigurator(ipr))

    with inside(net.ns("a")):  # the netlink socket opens in host a, as in the daemon (no fork)
        return asyncio.run(main())


def addr_info(net: WireNet, host: str, address: str) -> dict[str, Any] | None:
    out = ip("-n", net.ns(host), "-j", "addr", "show", "dev", "eth0").stdout
    for info in json.loads(out)[0]["addr_info"]:
        if info["local"] == address:
            return dict(info)
    return None


def vip(text: str, **kw: Any) -> VirtualAddress:
    return VirtualAddress(ipaddress.ip_interface(text), "eth0", **kw)


def test_ipv4_vip_add_makes_it_reachable_and_remove_undoes_it(net: WireNet) -> None:
    va = vip("10.77.0.100/24", label="eth0:vip")

    async def add(cfg: NetlinkConfigurator) -> tuple[bool, bool]:
        return await cfg.add_address(va), await cfg.add_address(va)

    assert with_configurator(net, add) == (True, False)  # the second add is a no-op, not an error
    info = addr_info(net, "a", "10.77.0.100")
    assert info is not None and info["prefixlen"] == 24 and info["label"] == "eth0:vip"
    assert tcp_connects(net, server="a", client="b", address="10.77.0.100")

    async def remove(cfg: NetlinkConfigurator) -> tuple[bool, bool]:
        return await cfg.remove_address(va), await cfg.remove_address(va)

    assert with_configurator(net, remove) == (True, False)
    assert addr_info(net, "a", "10.77.0.100") is None
    assert not tcp_connects(net, server="a", client="b", address="10.77.0.100", timeout=0.5)


def test_ipv6_vip_nodad_and_scope(net: WireNet) -> None:
    v6 = vip("fd77::100/64", nodad=True)
    host_scoped = vip("10.77.5.5/32", scope=parse_scope("host"))

    async def body(cfg: NetlinkConfigurator) -> None:
        assert await cfg.add_address(v6)
        assert await cfg.add_address(host_scoped)

    with_configurator(net, body)
    try:
        info = addr_info(net, "a", "fd77::100")
        assert info is not None and info.get("nodad") is True and not info.get("tentative")
        assert tcp_connects(net, server="a", client="b", address="fd77::100")
        scoped = addr_info(net, "a", "10.77.5.5")
        assert scoped is not None and scoped["scope"] == "host"
    finally:

        async def cleanup(cfg: NetlinkConfigurator) -> None:
            await cfg.remove_address(v6)
            await cfg.remove_address(host_scoped)

        with_configurator(net, cleanup)
    assert addr_info(net, "a", "fd77::100") is None


def test_primary_address_is_the_interface_address_not_a_vip(net: WireNet) -> None:
    own_subnet_vip = vip("10.78.0.1/32")

    async def body(cfg: NetlinkConfigurator) -> tuple[Any, Any, Any]:
        await cfg.add_address(own_subnet_vip)
        try:
            v4 = await cfg.primary_address("eth0", socket.AF_INET, exclude=frozenset({own_subnet_vip.address.ip}))
            v6 = await cfg.primary_address("eth0", socket.AF_INET6)
            lo6 = await cfg.primary_address("lo", socket.AF_INET6)
            return v4, v6, lo6
        finally:
            await cfg.remove_address(own_subnet_vip)

    v4, v6, lo6 = with_configurator(net, body)
    assert v4 == ipaddress.IPv4Address(net.v4("a"))
    assert v6 is not None and v6.is_link_local
    assert lo6 is None  # no link-local on lo: the router's "no source address" case


def test_routes_and_rules_are_idempotent(net: WireNet) -> None:
    via = VirtualRoute(ipaddress.ip_network("10.99.0.0/24"), via=ipaddress.ip_address(net.v4("b")), dev="eth0")
    hole = VirtualRoute(ipaddress.ip_network("10.98.0.0/16"), type="blackhole", table=100)
    six = VirtualRoute(ipaddress.ip_network("fd99::/64"), dev="eth0", metric=50)
    rule = VirtualRule(table=100, src=ipaddress.ip_network("10.77.0.100/32"), priority=100)

    async def add(cfg: NetlinkConfigurator) -> list[bool]:
        first = [
            await cfg.add_route(via),
            await cfg.add_route(hole),
            await cfg.add_route(six),
            await cfg.add_rule(rule),
        ]
        again = [
            await cfg.add_route(via),
            await cfg.add_route(hole),
            await cfg.add_route(six),
            await cfg.add_rule(rule),
        ]
        return first + again

    assert with_configurator(net, add) == [True] * 4 + [False] * 4
    ns = net.ns("a")
    assert "10.99.0.0/24 via 10.77.0.12 dev eth0" in ip("-n", ns, "route").stdout
    assert "blackhole 10.98.0.0/16" in ip("-n", ns, "route", "show", "table", "100").stdout
    assert re.search(r"fd99::/64 dev eth0 proto (keepalived|18) metric 50", ip("-n", ns, "-6", "route").stdout)
    assert "100:\tfrom 10.77.0.100 lookup 100" in ip("-n", ns, "rule").stdout

    async def remove(cfg: NetlinkConfigurator) -> list[bool]:
        items = [cfg.remove_route(via), cfg.remove_route(hole), cfg.remove_route(six), cfg.remove_rule(rule)]
        first = [await c for c in items]
        again = [await cfg.remove_route(via), await cfg.remove_route(hole), await cfg.remove_rule(rule)]
        return first + again

    assert with_configurator(net, remove) == [True] * 4 + [False] * 3
    assert "10.99.0.0" not in ip("-n", ns, "route").stdout
    assert "lookup 100" not in ip("-n", ns, "rule").stdout


def test_remove_all_added_takes_away_exactly_what_it_added(net: WireNet) -> None:
    ns = net.ns("a")
    ip("-n", ns, "addr", "add", "10.77.0.200/24", "dev", "eth0")  # someone else's address: must survive
    try:
        ours = [vip("10.77.0.101/24"), vip("fd77::101/64", nodad=True)]
        route = VirtualRoute(ipaddress.ip_network("10.97.0.0/24"), dev="eth0", src=ipaddress.ip_address("10.77.0.101"))
        rule = VirtualRule(table=101, dst=ipaddress.ip_network("10.97.0.0/24"), priority=101)

        async def body(cfg: NetlinkConfigurator) -> list[str]:
            for va in ours:
                await cfg.add_address(va)
            assert not await cfg.add_address(vip("10.77.0.200/24"))  # present already: not ours to remove
            await cfg.add_route(route)
            await cfg.add_rule(rule)
            return await cfg.remove_all_added()

        assert with_configurator(net, body) == []
        assert addr_info(net, "a", "10.77.0.101") is None and addr_info(net, "a", "fd77::101") is None
        assert addr_info(net, "a", "10.77.0.200") is not None
        assert "10.97.0.0" not in ip("-n", ns, "route").stdout
        assert "lookup 101" not in ip("-n", ns, "rule").stdout
    finally:
        ip("-n", ns, "addr", "del", "10.77.0.200/24", "dev", "eth0", check=False)


def test_missing_interface_and_bad_input_are_clear_errors(net: WireNet) -> None:
    async def body(cfg: NetlinkConfigurator) -> bool:
        with pytest.raises(AddressError, match="'nope0' does not exist"):
            await cfg.add_address(VirtualAddress(ipaddress.ip_interface("10.1.1.1/32"), "nope0"))
        with pytest.raises(AddressError, match=re.escape("cannot add route 10.96.0.0/24 via 192.0.2.1")):
            await cfg.add_route(
                VirtualRoute(ipaddress.ip_network("10.96.0.0/24"), via=ipaddress.ip_address("192.0.2.1"))
            )
        return await cfg.remove_address(VirtualAddress(ipaddress.ip_interface("10.1.1.1/32"), "nope0"))

    assert with_configurator(net, body) is False
    with pytest.raises(ValueError, match="unknown scope 'planet'"):
        parse_scope("planet")


def test_address_options_peer_noprefixroute_preferred_lft(net: WireNet) -> None:
    p2p = vip("10.79.0.1/32", peer=ipaddress.ip_address("10.79.0.2"))
    v6 = vip("fd79::1/64", nodad=True, noprefixroute=True, preferred_lft=0)

    async def add(cfg: NetlinkConfigurator) -> list[bool]:
        return [await cfg.add_address(p2p), await cfg.add_address(v6), await cfg.add_address(p2p)]

    assert with_configurator(net, add) == [True, True, False]
    try:
        peer_info = addr_info(net, "a", "10.79.0.1")
        assert peer_info is not None and peer_info.get("address") == "10.79.0.2"
        info = addr_info(net, "a", "fd79::1")
        assert info is not None and info.get("noprefixroute") is True and info.get("deprecated") is True
        assert info["preferred_life_time"] == 0
        assert "fd79::/64" not in ip("-n", net.ns("a"), "-6", "route").stdout  # noprefixroute
    finally:

        async def remove(cfg: NetlinkConfigurator) -> list[bool]:
            return [await cfg.remove_address(p2p), await cfg.remove_address(v6), await cfg.remove_address(p2p)]

        assert with_configurator(net, remove) == [True, True, False]
    assert addr_info(net, "a", "10.79.0.1") is None and addr_info(net, "a", "fd79::1") is None
