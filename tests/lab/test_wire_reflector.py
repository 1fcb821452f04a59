"""vrrp.io.reflector on a real namespace: link down/up and address add/remove arrive as typed events."""

from __future__ import annotations

import asyncio
import ipaddress
import subprocess
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from netns_lab.nsenter import inside
from netns_lab.wirenet import WireNet, ip
from vrrp.io.reflector import AddressEvent, LinkEvent, NetlinkEvent, Reflector

pytestmark = pytest.mark.lab
T = TypeVar("T")


@pytest.fixture(scope="module")
def net() -> Iterator[WireNet]:
    with WireNet(["a", "b"]) as built:
        yield built


async def first(reflector: Reflector, match: Callable[[NetlinkEvent], bool], timeout: float = 3.0) -> NetlinkEvent:
    async def scan() -> NetlinkEvent:
        async for event in reflector:
            if match(event):
                return event
        raise AssertionError("reflector stopped")

    return await asyncio.wait_for(scan(), timeout)


def in_ns(ns: str, main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``main`` with the reflector's netlink socket opened in ``ns`` (as the daemon would, no fork)."""
    with inside(ns):
        return asyncio.run(main())


async def ip_async(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec("ip", *argv)
    assert await proc.wait() == 0, argv


def test_snapshot_then_link_down_and_up(net: WireNet) -> None:
    ns = net.ns("a")

    async def main() -> tuple[list[NetlinkEvent], NetlinkEvent, NetlinkEvent]:
        async with Reflector() as reflector:
            snapshot = await reflector.snapshot()
            await ip_async("-n", ns, "link", "set", "eth0", "down")
            down = await first(reflector, lambda e: isinstance(e, LinkEvent) and e.ifname == "eth0" and not e.up)
            await ip_async("-n", ns, "link", "set", "eth0", "up")
            up = await first(reflector, lambda e: isinstance(e, LinkEvent) and e.ifname == "eth0" and e.up)
            return snapshot, down, up

    try:
        snapshot, down, up = in_ns(ns, main)
    finally:
        ip("-n", ns, "link", "set", "eth0", "up")
    links = {e.ifname: e for e in snapshot if isinstance(e, LinkEvent)}
    assert links["eth0"].up and links["lo"].up
    addresses = {e.address for e in snapshot if isinstance(e, AddressEvent) and e.ifname == "eth0"}
    assert ipaddress.ip_interface(f"{net.v4('a')}/24") in addresses
    assert isinstance(down, LinkEvent) and not down.admin_up and down.ifindex == links["eth0"].ifindex
    assert isinstance(up, LinkEvent) and up.admin_up and up.running


def test_carrier_loss_is_link_down(net: WireNet) -> None:
    """The peer end of the veth going down drops carrier here: admin up, not running -> not up."""
    ns = net.ns("a")

    async def main() -> NetlinkEvent:
        async with Reflector() as reflector:
            await reflector.snapshot()
            await ip_async("-n", net.switch, "link", "set", net.port("a"), "down")
            return await first(reflector, lambda e: isinstance(e, LinkEvent) and e.ifname == "eth0" and not e.up)

    try:
        event = in_ns(ns, main)
    finally:
        ip("-n", net.switch, "link", "set", net.port("a"), "up")
    assert isinstance(event, LinkEvent) and event.admin_up and not event.running


def test_address_added_and_removed(net: WireNet) -> None:
    ns = net.ns("a")

    async def main() -> tuple[NetlinkEvent, NetlinkEvent, NetlinkEvent]:
        async with Reflector() as reflector:
            await reflector.snapshot()
            await ip_async("-n", ns, "addr", "add", "10.77.0.55/24", "dev", "eth0")
            added = await first(reflector, lambda e: isinstance(e, AddressEvent) and e.added)
            await ip_async("-n", ns, "addr", "add", "fd77::55/64", "dev", "eth0", "nodad")
            added6 = await first(reflector, lambda e: isinstance(e, AddressEvent) and e.added)
            await ip_async("-n", ns, "addr", "del", "10.77.0.55/24", "dev", "eth0")
            removed = await first(reflector, lambda e: isinstance(e, AddressEvent) and not e.added)
            return added, added6, removed

    try:
        added, added6, removed = in_ns(ns, main)
    finally:
        ip("-n", ns, "addr", "del", "10.77.0.55/24", "dev", "eth0", check=False)
        ip("-n", ns, "addr", "del", "fd77::55/64", "dev", "eth0", check=False)
    assert added == AddressEvent(added.ifindex, "eth0", ipaddress.ip_interface("10.77.0.55/24"), True)  # type: ignore[union-attr]
    assert isinstance(added6, AddressEvent) and added6.address == ipaddress.ip_interface("fd77::55/64")
    assert isinstance(removed, AddressEvent) and removed.address == ipaddress.ip_interface("10.77.0.55/24")


def test_noise_is_filtered_and_deletion_reported(net: WireNet) -> None:
    """An MTU change is not a tracking event; deleting an interface is."""
    ns = net.ns("a")

    async def main() -> list[NetlinkEvent]:
        async with Reflector() as reflector:
            await reflector.snapshot()
            await ip_async("-n", ns, "link", "set", "eth0", "mtu", "1400")
            await ip_async("-n", ns, "link", "add", "wrtmp0", "type", "veth", "peer", "name", "wrtmp1")
            await ip_async("-n", ns, "link", "del", "wrtmp0")
            seen: list[NetlinkEvent] = []
            await first(reflector, lambda e: seen.append(e) or (isinstance(e, LinkEvent) and e.deleted))
            return seen

    try:
        seen = in_ns(ns, main)
    finally:
        ip("-n", ns, "link", "set", "eth0", "mtu", "1500")
        ip("-n", ns, "link", "del", "wrtmp0", check=False)
    assert not any(isinstance(e, LinkEvent) and e.ifname == "eth0" for e in seen)
    assert any(isinstance(e, LinkEvent) and e.deleted and e.ifname in ("wrtmp0", "wrtmp1") for e in seen)


def test_overrun_resyncs_instead_of_losing_state(net: WireNet) -> None:
    """A tiny receive buffer makes the kernel drop events (ENOBUFS); the reflector re-dumps the state."""
    ns = net.ns("a")
    names = {f"wro{i}" for i in range(12)}

    async def main() -> tuple[int, set[str]]:
        async with Reflector(rcvbuf=1) as reflector:
            await reflector.snapshot()
            # a blocking call: the loop (a busy daemon) does not read while the kernel queues the events
            batch = "".join(f"link add {name} type veth peer name {name}p\n" for name in sorted(names))
            subprocess.run(["ip", "-n", ns, "-batch", "-"], input=batch, text=True, check=True)
            seen: set[str] = set()
            await first(reflector, lambda e: isinstance(e, LinkEvent) and (seen.add(e.ifname) or names <= seen))
            return reflector.overruns, seen

    try:
        overruns, seen = in_ns(ns, main)
    finally:
        for name in names:
            ip("-n", ns, "link", "del", name, check=False)
    assert overruns >= 1
    assert names <= seen
