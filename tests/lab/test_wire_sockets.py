"""vrrp.io.sockets on real veths: docs/conformance.md items 1, 3, 5, 6, 8 (and 2, 7, 9 as seen on the wire).

Three hosts a, b, c on one bridge. Frames are checked twice: by the receiving VrrpSocket (what the
router gets) and by an independent AF_PACKET capture in c that parses the raw Ethernet frame itself.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import struct
import time
from collections.abc import Iterator

import pytest

from netns_lab.nsenter import inside
from netns_lab.wirenet import WireNet, ip
from vrrp.io.sockets import VRRP_MCAST_V4, VRRP_MCAST_V6, Received, SocketRegistry, VrrpSocket

pytestmark = pytest.mark.lab

PAYLOAD = bytes.fromhex("3101 64 01 0064 0000 0a000064")  # shape of a v3 advert; the socket layer never parses it
ETH_P_ALL = 0x0003


@pytest.fixture(scope="module")
def net() -> Iterator[WireNet]:
    with WireNet(["a", "b", "c"]) as built:
        yield built


def link_local(net: WireNet, host: str) -> ipaddress.IPv6Address:
    out = ip("-n", net.ns(host), "-j", "-6", "addr", "show", "dev", "eth0").stdout
    infos = json.loads(out)[0]["addr_info"]
    return next(ipaddress.IPv6Address(i["local"]) for i in infos if i.get("scope") == "link")


def open_in(net: WireNet, host: str, family: int) -> VrrpSocket:
    with inside(net.ns(host)):
        return VrrpSocket.open("eth0", family)


def capture_socket(net: WireNet, host: str) -> socket.socket:
    with inside(net.ns(host)):
        cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    cap.bind(("eth0", 0))
    cap.settimeout(2)
    return cap


def captured_vrrp(cap: socket.socket) -> bytes:
    """The first IPv4/IPv6 frame with protocol / next header 112 (returned from the Ethernet header on)."""
    while True:
        frame = cap.recv(65535)
        ethertype = struct.unpack("!H", frame[12:14])[0]
        if (ethertype == 0x0800 and frame[14 + 9] == 112) or (ethertype == 0x86DD and frame[14 + 6] == 112):
            return frame


async def recv(sock: VrrpSocket, timeout: float = 2.0) -> Received:
    return await asyncio.wait_for(sock.recv(), timeout)


async def nothing(sock: VrrpSocket, wait: float = 0.3) -> Received | None:
    await asyncio.sleep(wait)
    return sock.recv_nowait()


@pytest.mark.conformance("3", polarity="positive")
def test_3_ipv4_multicast_advert_on_the_wire(net: WireNet) -> None:
    a, b = open_in(net, "a", socket.AF_INET), open_in(net, "b", socket.AF_INET)
    cap = capture_socket(net, "c")
    try:
        b.join()
        src = ipaddress.IPv4Address(net.v4("a"))

        async def go() -> tuple[Received, Received | None]:
            a.send(PAYLOAD, src=src, dst=VRRP_MCAST_V4)
            got = await recv(b)
            return got, await nothing(a)

        sent_ns = time.time_ns()
        got, own = asyncio.run(go())
        assert own is None  # multicast loop is off: the sender never hears itself
        assert got.payload == PAYLOAD
        # the kernel's receive stamp (SO_TIMESTAMPNS): between the send and the read, on the wall clock
        assert got.stamp_ns is not None and sent_ns <= got.stamp_ns <= time.time_ns(), (sent_ns, got.stamp_ns)
        assert (got.src, got.dst, got.ttl) == (src, VRRP_MCAST_V4, 255)
        with inside(net.ns("b")):
            assert got.ifindex == socket.if_nametoindex("eth0")

        frame = captured_vrrp(cap)
        assert frame[0:6] == bytes.fromhex("01005e000012")  # item 2: link-local group's MAC
        assert frame[6:12] == bytes.fromhex(net.mac("a").replace(":", ""))
        ip_header = frame[14:]
        assert ip_header[8] == 255  # item 3: TTL 255
        assert ip_header[9] == 112  # item 5: protocol 112
        assert ipaddress.IPv4Address(ip_header[12:16]) == src  # item 1: primary address, not a VIP
        assert ipaddress.IPv4Address(ip_header[16:20]) == VRRP_MCAST_V4
        assert ip_header[20 : 20 + len(PAYLOAD)] == PAYLOAD
    finally:
        a.close(), b.close(), cap.close()


@pytest.mark.conformance("8", polarity="positive")
def test_8_ipv6_multicast_advert_on_the_wire(net: WireNet) -> None:
    a, b = open_in(net, "a", socket.AF_INET6), open_in(net, "b", socket.AF_INET6)
    cap = capture_socket(net, "c")
    try:
        b.join()
        src = link_local(net, "a")

        async def go() -> Received:
            a.send(PAYLOAD, src=src, dst=VRRP_MCAST_V6)
            return await recv(b)

        got = asyncio.run(go())
        assert got.payload == PAYLOAD  # no IPv6 header in the payload
        assert (got.src, got.dst, got.ttl) == (src, VRRP_MCAST_V6, 255)
        assert got.src.is_link_local  # item 6

        frame = captured_vrrp(cap)
        assert frame[0:6] == bytes.fromhex("333300000012")
        ip6 = frame[14:]
        assert ip6[6] == 112  # item 9: next header 112
        assert ip6[7] == 255  # item 8: hop limit 255
        assert ipaddress.IPv6Address(ip6[8:24]) == src
        assert ipaddress.IPv6Address(ip6[24:40]) == VRRP_MCAST_V6  # item 7
    finally:
        a.close(), b.close(), cap.close()


@pytest.mark.conformance("3", polarity="negative")
@pytest.mark.conformance("8", polarity="negative")
@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["ipv4", "ipv6"])
def test_3_8_multicast_advert_with_another_ttl_is_refused_and_nothing_leaves(net: WireNet, family: int) -> None:
    """keepalived's ``unicast_ttl`` lowers the TTL towards unicast peers only; to the group it stays 255."""
    a = open_in(net, "a", family)
    cap = capture_socket(net, "c")
    cap.settimeout(0.3)
    try:
        v4 = family == socket.AF_INET
        src = ipaddress.IPv4Address(net.v4("a")) if v4 else link_local(net, "a")
        with pytest.raises(ValueError, match="multicast advert is 255"):
            a.send(PAYLOAD, src=src, dst=VRRP_MCAST_V4 if v4 else VRRP_MCAST_V6, ttl=64)
        with pytest.raises(TimeoutError):
            captured_vrrp(cap)
    finally:
        a.close(), cap.close()


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["ipv4", "ipv6"])
def test_ttl_254_is_reported_not_hidden(net: WireNet, family: int) -> None:
    """Items 4 and 8: the socket reports TTL/hop limit 254 so the router can discard and count it."""
    b = open_in(net, "b", family)
    with inside(net.ns("a")):
        rogue = socket.socket(family, socket.SOCK_RAW, 112)
    try:
        b.join()
        rogue.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
        if family == socket.AF_INET:
            rogue.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 254)
            rogue.sendto(PAYLOAD, (str(VRRP_MCAST_V4), 0))
        else:
            with inside(net.ns("a")):
                index = socket.if_nametoindex("eth0")
            rogue.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 254)
            rogue.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
            rogue.sendto(PAYLOAD, (str(VRRP_MCAST_V6), 0, 0, index))
        got = asyncio.run(recv(b))
        assert got.ttl == 254
        assert got.payload == PAYLOAD
    finally:
        b.close(), rogue.close()


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["ipv4", "ipv6"])
def test_unicast_reaches_only_the_peer(net: WireNet, family: int) -> None:
    a, b, c = (open_in(net, h, family) for h in ("a", "b", "c"))
    try:
        c.join()  # c listens to the multicast group too: unicast must still not reach it
        v4 = family == socket.AF_INET
        src = ipaddress.ip_address(net.v4("a") if v4 else net.v6("a"))
        peer = ipaddress.ip_address(net.v4("b") if v4 else net.v6("b"))

        async def go() -> tuple[Received, Received | None, Received]:
            a.send(PAYLOAD, src=src, dst=peer)
            first = await recv(b)
            a.send(PAYLOAD, src=src, dst=peer, ttl=64)  # keepalived's unicast_ttl
            return first, await nothing(c), await recv(b)

        got, at_c, low = asyncio.run(go())
        assert at_c is None
        assert (got.src, got.dst, got.ttl) == (src, peer, 255)
        assert low.ttl == 64
    finally:
        a.close(), b.close(), c.close()


def test_unjoined_socket_hears_no_multicast(net: WireNet) -> None:
    a, b = open_in(net, "a", socket.AF_INET), open_in(net, "b", socket.AF_INET)
    try:

        async def go() -> Received | None:
            a.send(PAYLOAD, src=ipaddress.IPv4Address(net.v4("a")), dst=VRRP_MCAST_V4)
            return await nothing(b)

        assert asyncio.run(go()) is None
    finally:
        a.close(), b.close()


def test_registry_shares_one_socket_per_interface_and_family(net: WireNet) -> None:
    registry = SocketRegistry()
    with inside(net.ns("b")):
        first = registry.acquire("eth0", socket.AF_INET)
        second = registry.acquire("eth0", socket.AF_INET, multicast=False)
        six = registry.acquire("eth0", socket.AF_INET6)
    try:
        assert first is second
        assert six is not first
        assert first.groups == {VRRP_MCAST_V4}
        registry.release(first)  # the multicast user leaves: group left, socket stays for the unicast user
        assert first.groups == frozenset()
        assert first.sock.fileno() >= 0
        registry.release(second, multicast=False)
        assert first.sock.fileno() == -1
        assert registry.sockets() == [six]
    finally:
        registry.close_all()


def test_missing_interface_is_a_clear_error(net: WireNet) -> None:
    with inside(net.ns("a")), pytest.raises(OSError, match="'nope0' does not exist"):
        VrrpSocket.open("nope0", socket.AF_INET)


@pytest.mark.parametrize(
    ("family", "version", "form"),
    [
        (socket.AF_INET, 3, "rfc9568"),
        (socket.AF_INET, 3, "rfc5798"),
        (socket.AF_INET, 2, None),
        (socket.AF_INET6, 3, None),
    ],
    ids=["v3-ipv4-rfc9568", "v3-ipv4-rfc5798", "v2-ipv4", "v3-ipv6"],
)
def test_codec_adverts_survive_the_wire(net: WireNet, family: int, version: int, form: str | None) -> None:
    """encode -> send -> receive -> decode: the src/dst the socket reports are the ones the checksum covers."""
    from vrrp.core.packet import Advertisement, decode, encode

    v4 = family == socket.AF_INET
    vip = ipaddress.ip_address("10.77.0.100" if v4 else "fd77::100")
    auth = bytes(8) if version == 2 else b""  # v2 always carries 8 bytes of auth data
    adv = Advertisement(version=version, vrid=51, priority=150, addresses=[vip], interval_cs=100, auth_data=auth)
    a, b = open_in(net, "a", family), open_in(net, "b", family)
    try:
        b.join()
        src = ipaddress.ip_address(net.v4("a")) if v4 else link_local(net, "a")
        dst = VRRP_MCAST_V4 if v4 else VRRP_MCAST_V6

        async def go() -> Received:
            a.send(encode(adv, family=family, src=src, dst=dst, checksum_form=form), src=src, dst=dst)
            return await recv(b)

        got = asyncio.run(go())
        decoded = decode(got.payload, family=family, src=got.src, dst=got.dst)
        assert decoded == adv
        if form is not None:
            assert decoded.checksum_form == form
    finally:
        a.close(), b.close()


def test_attach_delivers_every_queued_packet_to_the_callback(net: WireNet) -> None:
    a, b = open_in(net, "a", socket.AF_INET), open_in(net, "b", socket.AF_INET)
    src = ipaddress.IPv4Address(net.v4("a"))
    try:
        b.join()
        seen: list[Received] = []

        async def go() -> None:
            loop = asyncio.get_running_loop()
            b.attach(loop, seen.append)
            for vrid in (1, 2, 3):
                a.send(bytes([0x31, vrid]) + PAYLOAD[2:], src=src, dst=VRRP_MCAST_V4)
            deadline = loop.time() + 2
            while len(seen) < 3 and loop.time() < deadline:
                await asyncio.sleep(0.01)
            b.detach()
            a.send(PAYLOAD, src=src, dst=VRRP_MCAST_V4)
            await asyncio.sleep(0.2)

        asyncio.run(go())
        assert [r.payload[1] for r in seen] == [1, 2, 3]
        assert b.recv_nowait() is not None  # after detach the packet stays queued for whoever reads next
    finally:
        a.close(), b.close()


def test_send_on_a_down_link_raises(net: WireNet) -> None:
    a = open_in(net, "a", socket.AF_INET)
    ip("-n", net.ns("a"), "link", "set", "eth0", "down")
    try:
        with pytest.raises(OSError):
            a.send(PAYLOAD, src=ipaddress.IPv4Address(net.v4("a")), dst=VRRP_MCAST_V4)
    finally:
        ip("-n", net.ns("a"), "link", "set", "eth0", "up")
        a.close()
