"""Our wire edge against the anchor, Debian's keepalived 2.2.7, in the lab.

1. We receive keepalived's adverts with vrrp.io.sockets and decode them with vrrp.core.packet: TTL 255, source
   = its primary address, checksum in keepalived's default v3 form (RFC 5798, with pseudo-header).
   Also in unicast mode (``unicast_src_ip`` / ``unicast_peer``).
2. keepalived accepts ours: adverts with a higher priority sent through vrrp.io.sockets make a keepalived
   Master step down to Backup and remove its VIP. keepalived discards anything with TTL != 255, a wrong
   source or a bad checksum, so this proves conformance items 1, 3 and 8 from the other side.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Iterator

import pytest

from netns_lab.daemons import DaemonSpec, start_daemon
from netns_lab.nsenter import inside
from netns_lab.wirenet import WireNet
from vrrp.io.sockets import VRRP_MCAST_V4, VRRP_MCAST_V6, Received, VrrpSocket

pytestmark = [pytest.mark.lab, pytest.mark.interop]

CONFIG = """
global_defs {{
    router_id wire_{family}
    vrrp_version 3
}}
vrrp_instance VI_{family} {{
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 0.1
{unicast}
    virtual_ipaddress {{
        {vip}
    }}
}}
"""


@pytest.fixture(scope="module")
def net() -> Iterator[WireNet]:
    with WireNet(["a", "b"]) as built:
        yield built


def has_address(net: WireNet, host: str, address: str) -> bool:
    return address in net.run(host, "ip", "addr", "show", "dev", "eth0").stdout


@pytest.mark.parametrize(
    ("family", "unicast"),
    [(socket.AF_INET, False), (socket.AF_INET6, False), (socket.AF_INET, True)],
    ids=["ipv4", "ipv6", "ipv4-unicast"],
)
def test_keepalived_and_our_sockets_understand_each_other(net: WireNet, family: int, unicast: bool) -> None:
    from vrrp.core.packet import Advertisement, decode, encode

    v4 = family == socket.AF_INET
    vip = "10.77.0.100" if v4 else "fd77::100"
    name = ("v4" if v4 else "v6") + ("u" if unicast else "")
    peers = f"    unicast_src_ip {net.v4('a')}\n    unicast_peer {{\n        {net.v4('b')}\n    }}" if unicast else ""
    conf = CONFIG.format(family=name, vip=f"{vip}/{24 if v4 else 64}", unicast=peers)
    with inside(net.ns("b")):
        ours = VrrpSocket.open("eth0", family)
    keepalived = start_daemon(net.lab, DaemonSpec("a", conf, impl="keepalived", label=f"keepalived-{name}"))
    try:
        group = VRRP_MCAST_V4 if v4 else VRRP_MCAST_V6
        if unicast:  # no group joined: whatever arrives was addressed to b itself
            group = ipaddress.IPv4Address(net.v4("b"))
        else:
            ours.join()

        async def theirs() -> Received:
            while True:
                got = await ours.recv()
                if got.payload[1] == 51:
                    return got

        got = asyncio.run(asyncio.wait_for(theirs(), 10))
        adv = decode(got.payload, family=family, src=got.src, dst=got.dst)
        assert (got.ttl, got.dst) == (255, group)
        if v4:
            assert got.src == ipaddress.IPv4Address(net.v4("a"))
            assert adv.checksum_form == "rfc5798"  # keepalived's default v3 IPv4 form
        else:
            assert got.src.is_link_local
        assert (adv.version, adv.vrid, adv.priority, adv.interval_cs) == (3, 51, 100, 10)
        assert adv.addresses == [ipaddress.ip_address(vip)]

        deadline = time.monotonic() + 10
        while not has_address(net, "a", vip) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert has_address(net, "a", vip), "keepalived never became Master"

        # now out-prioritise it from b for up to 3 s, 100 ms apart
        with inside(net.ns("b")):
            src = ipaddress.ip_address(net.v4("b")) if v4 else _link_local()
        ours_adv = Advertisement(
            version=3, vrid=51, priority=200, addresses=[ipaddress.ip_address(vip)], interval_cs=10
        )
        to = ipaddress.IPv4Address(net.v4("a")) if unicast else group
        payload = encode(ours_adv, family=family, src=src, dst=to, checksum_form="rfc5798")
        deadline = time.monotonic() + 3
        while has_address(net, "a", vip) and time.monotonic() < deadline:
            ours.send(payload, src=src, dst=to)
            time.sleep(0.1)
        assert not has_address(net, "a", vip), "keepalived ignored our higher-priority adverts"
        assert keepalived.running()
        assert "Entering BACKUP STATE" in keepalived.log()
    finally:
        ours.close()
        keepalived.stop()


def _link_local() -> ipaddress.IPv6Address:
    """eth0's link-local in the current namespace, read the way the daemon will (vrrp.io.addresses)."""
    from pyroute2 import AsyncIPRoute

    from vrrp.io.addresses import NetlinkConfigurator

    async def main() -> ipaddress.IPv6Address:
        async with AsyncIPRoute() as ipr:
            found = await NetlinkConfigurator(ipr).primary_address("eth0", socket.AF_INET6)
        assert isinstance(found, ipaddress.IPv6Address)
        return found

    return asyncio.run(main())
