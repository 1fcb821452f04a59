"""The netlink reflector: link and address events from the kernel, as typed values.

keepalived's VRRP process keeps an interface table current from rtnetlink broadcasts ("netlink reflector")
and turns it into ``track_interface`` and FAULT transitions. This module is the listening half only: it
yields :class:`LinkEvent` / :class:`AddressEvent` values; the daemon maps them to router events (it is the
one that knows which instance tracks which interface).

Design choices:

* It binds its *own* ``AsyncIPRoute`` to RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR, because a
  socket that receives broadcasts must not also be used for requests by other code.
* :meth:`Reflector.snapshot` dumps the current links and addresses *after* binding, so nothing that happens
  between the dump and the first event is lost (at worst a state is reported twice).
* When the kernel drops events (ENOBUFS, the socket buffer overflowed), the reflector reopens, dumps the
  state again and reports it as events (plus deletions of links that vanished), counting ``overruns``;
  ``rcvbuf`` is keepalived's ``vrrp_netlink_monitor_rcv_bufs``.
* The kernel sends RTM_NEWLINK for many reasons (statistics, MTU, master changes); link events are
  reported only when what tracking cares about changed: the name, IFF_UP, IFF_RUNNING, or deletion.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Final

from pyroute2.iproute.linux import AsyncIPRoute

RTMGRP_LINK: Final = 0x1
RTMGRP_IPV4_IFADDR: Final = 0x10
RTMGRP_IPV6_IFADDR: Final = 0x100
IFF_UP: Final = 0x1
IFF_RUNNING: Final = 0x40

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


@dataclass(frozen=True, slots=True)
class LinkEvent:
    """An interface appeared, changed state, or was deleted.

    ``up`` is what keepalived means by an interface being up: administratively up *and* running (carrier).
    """

    ifindex: int
    ifname: str
    admin_up: bool
    running: bool
    deleted: bool = False

    @property
    def up(self) -> bool:
        return self.admin_up and self.running and not self.deleted


@dataclass(frozen=True, slots=True)
class AddressEvent:
    """An address was added to or removed from an interface."""

    ifindex: int
    ifname: str | None
    address: IPInterface
    added: bool

    @property
    def family(self) -> int:
        return socket.AF_INET if self.address.version == 4 else socket.AF_INET6


NetlinkEvent = LinkEvent | AddressEvent


def link_event(msg: Any) -> LinkEvent | None:
    """RTM_NEWLINK / RTM_DELLINK message -> LinkEvent (None for anything else)."""
    kind = msg.get("event")
    if kind not in ("RTM_NEWLINK", "RTM_DELLINK"):
        return None
    flags = int(msg.get("flags", 0))
    return LinkEvent(
        ifindex=int(msg["index"]),
        ifname=str(msg.get("IFLA_IFNAME") or ""),
        admin_up=bool(flags & IFF_UP),
        running=bool(flags & IFF_RUNNING),
        deleted=kind == "RTM_DELLINK",
    )


def address_event(msg: Any, names: dict[int, str]) -> AddressEvent | None:
    """RTM_NEWADDR / RTM_DELADDR message -> AddressEvent (None for anything else)."""
    kind = msg.get("event")
    if kind not in ("RTM_NEWADDR", "RTM_DELADDR"):
        return None
    family = msg.get("family")
    addr = msg.get("IFA_LOCAL") if family == socket.AF_INET else None
    addr = addr or msg.get("IFA_ADDRESS")
    if addr is None:
        return None
    index = int(msg["index"])
    return AddressEvent(
        ifindex=index,
        ifname=names.get(index),
        address=ipaddress.ip_interface(f"{addr}/{msg['prefixlen']}"),
        added=kind == "RTM_NEWADDR",
    )


@dataclass
class Reflector:
    """``async with Reflector() as r: async for event in r: ...`` — link and address events, in order.

    The netlink socket opens in the network namespace current at :meth:`open` (the daemon's own). There is
    deliberately no ``netns=`` argument: pyroute2 implements it by forking a child from inside the running
    loop, which we saw hang under load; a caller that watches another namespace enters it (setns) around
    :meth:`open`.
    """

    groups: int = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR
    rcvbuf: int | None = None
    overruns: int = 0
    _ipr: Any = None
    _links: dict[int, LinkEvent] = field(default_factory=dict)

    async def __aenter__(self) -> Reflector:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        self._ipr = AsyncIPRoute()
        try:
            await self._ipr.bind(groups=self.groups)
            if self.rcvbuf is not None:
                self._ipr.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._ipr is not None:
            ipr, self._ipr = self._ipr, None
            await _maybe_await(ipr.close())

    @property
    def interfaces(self) -> dict[int, LinkEvent]:
        """The last known state of every interface seen so far (by index)."""
        return dict(self._links)

    async def snapshot(self) -> list[NetlinkEvent]:
        """The current links and addresses, as events (links first); also primes the interface cache."""
        if self._ipr is None:
            raise RuntimeError("Reflector.snapshot() before open()")
        events: list[NetlinkEvent] = []
        async for msg in await self._ipr.link("dump"):
            link = link_event(msg)
            if link is not None:
                self._links[link.ifindex] = link
                events.append(link)
        names = {index: link.ifname for index, link in self._links.items()}
        async for msg in await self._ipr.addr("dump"):
            address = address_event(msg, names)
            if address is not None:
                events.append(address)
        return events

    def __aiter__(self) -> AsyncIterator[NetlinkEvent]:
        return self.events()

    async def events(self) -> AsyncIterator[NetlinkEvent]:
        """Live events until the reflector is closed."""
        if self._ipr is None:
            raise RuntimeError("Reflector.events() before open()")
        while self._ipr is not None:
            try:
                async for msg in self._ipr.get():
                    event = self._translate(msg)
                    if event is not None:
                        yield event
            except OSError as exc:
                if exc.errno != errno.ENOBUFS or self._ipr is None:
                    raise
                self.overruns += 1
                for event in await self._resync():
                    yield event

    async def _resync(self) -> list[NetlinkEvent]:
        """After an overrun (ENOBUFS: the kernel dropped events) reopen and report the state afresh.

        Links that vanished meanwhile are reported deleted; everything else comes from a new snapshot,
        so a state-driven consumer ends up right even though individual events were lost.
        """
        before = dict(self._links)
        await self.close()
        await self.open()
        self._links.clear()
        events = await self.snapshot()
        gone: list[NetlinkEvent] = [
            LinkEvent(index, old.ifname, old.admin_up, old.running, deleted=True)
            for index, old in before.items()
            if index not in self._links
        ]
        return gone + events

    def _translate(self, msg: Any) -> NetlinkEvent | None:
        link = link_event(msg)
        if link is not None:
            if link.deleted:
                self._links.pop(link.ifindex, None)
                return link
            if not link.ifname and link.ifindex in self._links:  # partial message: keep the known name
                link = LinkEvent(link.ifindex, self._links[link.ifindex].ifname, link.admin_up, link.running)
            if self._links.get(link.ifindex) == link:
                return None  # statistics / MTU / other noise: nothing tracking cares about changed
            self._links[link.ifindex] = link
            return link
        names = {index: known.ifname for index, known in self._links.items()}
        return address_event(msg, names)


async def _maybe_await(value: object) -> None:
    if hasattr(value, "__await__"):
        await value
