"""vrrp.io.vmac on real veths: the macvlan exists with the RFC virtual MAC, keepalived's sysctls and a random
link-local; a peer learns the VIP at the virtual MAC (by GARP and by its own ARP), never the physical one;
removal is idempotent and restores the parent."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyroute2 import AsyncIPRoute

from netns_lab.nsenter import inside
from netns_lab.wirenet import WireNet, ip, tcp_connects
from vrrp.io.addresses import NetlinkConfigurator, VirtualAddress
from vrrp.io.garp import AnnouncementSender
from vrrp.io.vmac import VmacError, VmacManager, VmacSpec, vmac_address

pytestmark = pytest.mark.lab

SPEC = VmacSpec(parent="eth0", vrid=7)
VIP = VirtualAddress(ipaddress.ip_interface("10.77.0.107/24"), "vrrp.7")


@pytest.fixture(scope="module")
def net() -> Iterator[WireNet]:
    with WireNet(["a", "b"]) as built:
        yield built


def sysctl(net: WireNet, host: str, ifname: str, name: str) -> str:
    with inside(net.ns(host)):
        return Path(f"/proc/sys/net/ipv4/conf/{ifname}/{name}").read_text().strip()


def in_a(net: WireNet, coro_fn):  # type: ignore[no-untyped-def]
    """Run ``coro_fn(manager, configurator)`` with everything opened inside host a."""

    async def main():  # type: ignore[no-untyped-def]
        async with AsyncIPRoute() as ipr:
            return await coro_fn(VmacManager(ipr), NetlinkConfigurator(ipr))

    with inside(net.ns("a")):
        return asyncio.run(main())


def link_json(net: WireNet, ifname: str) -> dict[str, object] | None:
    out = ip("-n", net.ns("a"), "-d", "-j", "link", "show", "dev", ifname, check=False).stdout
    return json.loads(out)[0] if out.strip() else None


def test_vmac_lifecycle_and_keepalived_settings(net: WireNet) -> None:
    def check_created() -> None:
        link = link_json(net, "vrrp.7")
        assert link is not None
        assert link["address"] == "00:00:5e:00:01:07" == vmac_address(7, socket.AF_INET)
        info = link["linkinfo"]["info_data"]  # type: ignore[index]
        assert link["linkinfo"]["info_kind"] == "macvlan" and info["mode"] == "bridge"  # type: ignore[index]
        assert link["inet6_addr_gen_mode"] == "random"
        assert "UP" in link["flags"]  # type: ignore[operator]
        for name, want in {"arp_ignore": "1", "accept_local": "1", "rp_filter": "0"}.items():
            assert sysctl(net, "a", "vrrp.7", name) == want, name
        for name, want in {"arp_ignore": "1", "arp_filter": "1", "arp_announce": "2"}.items():
            assert sysctl(net, "a", "eth0", name) == want, name
        # RFC 9568 §7.4: the link-local is not the EUI-64 of the virtual MAC
        out = ip("-n", net.ns("a"), "-6", "-j", "addr", "show", "dev", "vrrp.7").stdout
        deadline = time.monotonic() + 2
        while "fe80" not in out and time.monotonic() < deadline:
            time.sleep(0.05)
            out = ip("-n", net.ns("a"), "-6", "-j", "addr", "show", "dev", "vrrp.7").stdout
        assert "fe80" in out and "fe80::200:5eff:fe00:107" not in out

    async def lifecycle(vm: VmacManager, _: NetlinkConfigurator) -> tuple[bool, bool]:
        first = await vm.create(SPEC)
        try:
            again = await vm.create(SPEC)
            assert first.created and not again.created and first.ifindex == again.ifindex
            check_created()
        finally:
            removed = await vm.remove(SPEC), await vm.remove(SPEC)
        return removed

    assert in_a(net, lifecycle) == (True, False)
    assert link_json(net, "vrrp.7") is None
    for name in ("arp_ignore", "arp_filter", "arp_announce"):
        assert sysctl(net, "a", "eth0", name) == "0", name


def test_parent_sysctls_are_restored(net: WireNet) -> None:
    assert sysctl(net, "a", "eth0", "arp_ignore") == "0" and sysctl(net, "a", "eth0", "arp_filter") == "0"
    six = VmacSpec(parent="eth0", vrid=7, family=socket.AF_INET6)

    async def body(vm: VmacManager, _: NetlinkConfigurator) -> list[str]:
        v4 = await vm.create(SPEC)
        v6 = await vm.create(six)
        assert v6.mac == "00:00:5e:00:02:07" and v6.ifname == "vrrp6.7" and v4.ifname == "vrrp.7"
        held = [sysctl(net, "a", "eth0", "arp_filter")]
        await vm.remove(SPEC)
        await vm.remove(six)
        return held

    with_vmacs = in_a(net, body)
    assert with_vmacs == ["1"]
    assert sysctl(net, "a", "eth0", "arp_ignore") == "0" and sysctl(net, "a", "eth0", "arp_filter") == "0"
    assert link_json(net, "vrrp6.7") is None


def test_peer_learns_vip_at_the_virtual_mac(net: WireNet) -> None:
    """GARP from the VMAC moves the peer's entry, and the peer's own ARP resolves to the VMAC too."""
    ip(
        "-n",
        net.ns("b"),
        "neigh",
        "replace",
        "10.77.0.107",
        "lladdr",
        "02:00:00:00:00:99",
        "dev",
        "eth0",
        "nud",
        "stale",
    )

    async def body(vm: VmacManager, cfg: NetlinkConfigurator) -> tuple[str | None, str | None]:
        await vm.create(SPEC)
        try:
            await cfg.add_address(VIP)
            announcer = AnnouncementSender.open("vrrp.7")
            try:
                announcer.announce(VIP.address.ip, vmac_address(7, socket.AF_INET))
            finally:
                announcer.close()
            deadline = time.monotonic() + 2
            while net.neigh("b", "10.77.0.107") != "00:00:5e:00:01:07" and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            after_garp = net.neigh("b", "10.77.0.107")
            ip("-n", net.ns("b"), "neigh", "flush", "dev", "eth0")
            assert tcp_connects(net, server="a", client="b", address="10.77.0.107")
            return after_garp, net.neigh("b", "10.77.0.107")
        finally:
            await cfg.remove_address(VIP)
            await vm.remove(SPEC)
            ip("-n", net.ns("b"), "neigh", "flush", "dev", "eth0")

    after_garp, after_own_arp = in_a(net, body)
    assert after_garp == "00:00:5e:00:01:07"
    # resolved by b's own ARP: only the VMAC answered (the parent's arp_ignore/arp_filter), and a's ARP
    # for b (replies leave through eth0) did not re-point b's entry (the parent's arp_announce)
    assert after_own_arp == "00:00:5e:00:01:07"
    assert sysctl(net, "a", "eth0", "arp_ignore") == "0"  # the parent is restored


def test_name_taken_by_another_interface_is_a_clear_error(net: WireNet) -> None:
    async def body(vm: VmacManager, _: NetlinkConfigurator) -> bool:
        with pytest.raises(VmacError, match="'lo' exists but is not the VMAC 00:00:5e:00:01:07"):
            await vm.create(VmacSpec(parent="eth0", vrid=7, name="lo"))
        with pytest.raises(VmacError, match="parent interface 'nope0' does not exist"):
            await vm.create(VmacSpec(parent="nope0", vrid=7))
        return await vm.remove(VmacSpec(parent="eth0", vrid=7, name="lo"))  # not ours: left alone

    assert in_a(net, body) is False
    assert link_json(net, "lo") is not None


def test_adverts_from_the_vmac_carry_the_virtual_mac(net: WireNet) -> None:
    """Conformance item 52: with use_vmac the advert leaves with source MAC 00:00:5e:00:01:VRID, source IP
    the parent's primary address; and adverts from the other router reach a socket on the VMAC."""
    from vrrp.io.sockets import VRRP_MCAST_V4, VrrpSocket

    payload = bytes.fromhex("3107640100640000 0a00006b")

    async def body(vm: VmacManager, _: NetlinkConfigurator) -> tuple[bytes, bytes, bytes]:
        await vm.create(SPEC)
        on_vmac = VrrpSocket.open("vrrp.7", socket.AF_INET)  # we are inside host a here
        with inside(net.ns("b")):
            peer = VrrpSocket.open("eth0", socket.AF_INET)
            cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
        try:
            cap.bind(("eth0", 0))
            cap.settimeout(2)
            peer.join()
            on_vmac.join()
            on_vmac.send(payload, src=ipaddress.IPv4Address(net.v4("a")), dst=VRRP_MCAST_V4)
            while True:
                frame = cap.recv(2048)
                if frame[14 + 9] == 112:
                    break
            got = await asyncio.wait_for(peer.recv(), 2)
            peer.send(payload, src=ipaddress.IPv4Address(net.v4("b")), dst=VRRP_MCAST_V4)
            back = await asyncio.wait_for(on_vmac.recv(), 2)
            return frame, got.payload, back.payload
        finally:
            on_vmac.close(), peer.close(), cap.close()
            await vm.remove(SPEC)

    frame, got, back = in_a(net, body)
    assert frame[6:12] == bytes.fromhex("00005e000107")
    assert ipaddress.IPv4Address(frame[26:30]) == ipaddress.IPv4Address(net.v4("a"))
    assert got == back == payload
    assert sysctl(net, "a", "eth0", "arp_ignore") == "0"
