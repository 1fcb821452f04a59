"""vrrp.io.garp on real veths: a peer's kernel moves its neighbour entry for a VIP to the announced MAC.

The peer starts with a stale entry pointing at a MAC nobody owns (what a failed Master leaves behind); only a
frame the kernel accepts (right format, checksum, hop limit) can move it. Linux updates an existing entry on
a gratuitous ARP / unsolicited NA but creates none (arp_accept / accept_untracked_na are off), so the test
seeds the entry first.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Iterator

import pytest

from netns_lab.nsenter import inside
from netns_lab.wirenet import WireNet, ip
from vrrp.io.garp import AnnouncementSchedule, AnnouncementSender, parse_arp, parse_na

pytestmark = pytest.mark.lab

STALE_MAC = "02:00:00:00:00:99"


@pytest.fixture(scope="module")
def net() -> Iterator[WireNet]:
    with WireNet(["a", "b"]) as built:
        yield built


def seed_stale(net: WireNet, host: str, address: str) -> None:
    ip("-n", net.ns(host), "neigh", "replace", address, "lladdr", STALE_MAC, "dev", "eth0", "nud", "stale")
    assert net.neigh(host, address) == STALE_MAC


def wait_neigh(net: WireNet, host: str, address: str, want: str, timeout: float = 2.0) -> str | None:
    deadline = time.monotonic() + timeout
    seen = net.neigh(host, address)
    while seen != want and time.monotonic() < deadline:
        time.sleep(0.02)
        seen = net.neigh(host, address)
    return seen


def sender(net: WireNet, host: str, ifname: str = "eth0") -> AnnouncementSender:
    with inside(net.ns(host)):
        return AnnouncementSender.open(ifname)


def test_garp_moves_peer_neighbour_entry_to_sender_mac(net: WireNet) -> None:
    vip = ipaddress.IPv4Address("10.77.0.100")
    seed_stale(net, "b", str(vip))
    announcer = sender(net, "a")
    try:
        announcer.announce(vip, net.mac("a"))
        assert wait_neigh(net, "b", str(vip), net.mac("a")) == net.mac("a")
    finally:
        announcer.close()
        ip("-n", net.ns("b"), "neigh", "flush", "dev", "eth0")


def test_unsolicited_na_moves_peer_ipv6_neighbour_entry(net: WireNet) -> None:
    vip = ipaddress.IPv6Address("fd77::100")
    seed_stale(net, "b", str(vip))
    announcer = sender(net, "a")
    try:
        announcer.announce(vip, net.mac("a"))
        assert wait_neigh(net, "b", str(vip), net.mac("a")) == net.mac("a")
    finally:
        announcer.close()
        ip("-n", net.ns("b"), "-6", "neigh", "flush", "dev", "eth0")


def test_garp_is_a_broadcast_seen_by_every_host(net: WireNet) -> None:
    """Capture on the peer: the frame on the wire is the keepalived-shaped gratuitous ARP."""
    with inside(net.ns("b")):
        cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
    cap.bind(("eth0", 0))
    cap.settimeout(2)
    announcer = sender(net, "a")
    try:
        announcer.announce(ipaddress.IPv4Address("10.77.0.101"), "00:00:5e:00:01:33")
        while True:
            arp = parse_arp(cap.recv(2048))
            if arp is not None and arp.sender_ip == ipaddress.IPv4Address("10.77.0.101"):
                break
        assert arp.gratuitous and arp.op == 1 and arp.eth_dst == b"\xff" * 6
        assert arp.eth_src == arp.sender_mac == bytes.fromhex("00005e000133")
    finally:
        announcer.close(), cap.close()


def test_solicited_node_join_and_leave(net: WireNet) -> None:
    vip = ipaddress.IPv6Address("fd77::1:abcd")
    announcer = sender(net, "a")
    try:
        group = announcer.join_solicited_node(vip)
        assert announcer.join_solicited_node(vip) == group  # idempotent
        assert str(group) == "ff02::1:ff01:abcd"
        assert "ff02::1:ff01:abcd" in ip("-n", net.ns("a"), "-6", "maddr", "show", "dev", "eth0").stdout
        announcer.leave_solicited_node(vip)
        assert "ff02::1:ff01:abcd" not in ip("-n", net.ns("a"), "-6", "maddr", "show", "dev", "eth0").stdout
    finally:
        announcer.close()


def test_missing_interface_is_a_clear_error(net: WireNet) -> None:
    with inside(net.ns("a")), pytest.raises(OSError, match="'nope0' does not exist"):
        AnnouncementSender.open("nope0")


def test_schedule_driven_burst_puts_every_round_on_the_wire(net: WireNet) -> None:
    """The shell's use of the burst helper: arm loop.call_at for each time, send one round per call."""
    vips = [ipaddress.IPv4Address("10.77.0.120"), ipaddress.IPv6Address("fd77::120")]
    sched = AnnouncementSchedule(repeat=3, delay=0.2, interval=0.02)
    with inside(net.ns("b")):
        cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    cap.bind(("eth0", 0))
    cap.setblocking(False)
    announcer = sender(net, "a")
    mac = net.mac("a")
    try:

        async def shell() -> None:
            loop = asyncio.get_running_loop()
            done = loop.create_future()
            times = sched.on_master(loop.time())
            for i, when in enumerate(times):

                def round_(last: bool = i == len(times) - 1) -> None:
                    for vip in vips:
                        announcer.announce(vip, mac)
                    if last:
                        done.set_result(None)

                loop.call_at(when, round_)
            await asyncio.wait_for(done, 5)
            await asyncio.sleep(0.1)

        asyncio.run(shell())
        garps = nas = 0
        while True:
            try:
                frame = cap.recv(2048)
            except BlockingIOError:
                break
            arp = parse_arp(frame)
            garps += arp is not None and arp.sender_ip == vips[0]
            na = parse_na(frame)
            nas += na is not None and na.target == vips[1]
        assert (garps, nas) == (6, 6)
    finally:
        announcer.close(), cap.close()
