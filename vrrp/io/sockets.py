"""Raw IPPROTO_VRRP (112) sockets: the wire edge of the VRRP process.

Why this module exists and what it refuses to do: the sans-IO router decides *what* to send and
*whether* a received packet counts; this module only moves bytes. It never decodes a VRRP message and
never drops a packet for a protocol reason. In particular it reports the received TTL / hop limit
instead of filtering on it, because RFC 9568 §7.1 wants a TTL != 255 packet *counted* as discarded
(RFC 6527 ``vrrpRouterRcvdBadTtl``), which only the router can do.

One socket per (interface index, address family), shared by every instance on that interface
(keepalived does the same: a per-interface socket avoids N copies of every advert for N instances).
:class:`SocketRegistry` hands the shared socket out with reference counts, and joins/leaves multicast
groups with reference counts too, so an instance in unicast mode and one in multicast mode can share
a socket.

Kernel facts this relies on (Linux):

* An IPv4 raw socket receives the IP header; an IPv6 raw socket does not. We strip the IPv4 header and take
  src/dst from it; for IPv6 the source comes from ``recvmsg`` and the destination from ``IPV6_PKTINFO``.
* ``IP_RECVTTL`` / ``IPV6_RECVHOPLIMIT`` give the received TTL / hop limit as ancillary data.
* The source address is chosen per packet with an ``IP_PKTINFO`` / ``IPV6_PKTINFO`` control message, so the
  socket itself stays unbound (binding a raw socket to an address would filter *received* packets by
  destination and lose multicast).
* ``IP_MULTICAST_ALL`` is switched off so a socket only hears the groups it joined itself.
* ``SO_TIMESTAMPNS`` stamps each packet when the kernel received it: a Backup's Master_Down_Timer runs from
  the advert's arrival, not from when a busy or descheduled process got round to reading it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from vrrp.core.checksum import IPPROTO_VRRP as IPPROTO_VRRP
from vrrp.core.packet import MULTICAST_V4, MULTICAST_V6
from vrrp.core.router import VRRP_TTL as VRRP_TTL

# The codec's multicast groups under this module's names (tests and the lab import them from here).
VRRP_MCAST_V4: Final = MULTICAST_V4
VRRP_MCAST_V6: Final = MULTICAST_V6

# Linux values missing from Python's socket module.
_IP_PKTINFO: Final = 8
_IP_RECVTTL: Final = 12
_IP_MULTICAST_ALL: Final = 49
_IPV6_MULTICAST_ALL: Final = 29
_SO_TIMESTAMPNS: Final = 35  # also the SCM_TIMESTAMPNS control message type

_RECV_BUFSIZE: Final = 65535
_CMSG_SPACE: Final = socket.CMSG_SPACE(64) * 4

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class VrrpSocketError(OSError):
    """A socket could not be opened or configured; the message names the interface and the step."""


@dataclass(frozen=True, slots=True)
class Received:
    """One VRRP packet as the router needs it: the VRRP message without any IP header, plus the IP facts.

    ``ttl`` is the IPv4 TTL or IPv6 hop limit as received; the router discards (and counts) anything != 255.
    """

    payload: bytes
    src: IPAddress
    dst: IPAddress
    ttl: int
    ifindex: int
    #: when the kernel received it (CLOCK_REALTIME, ns), or None without the timestamp
    stamp_ns: int | None = None


def _ifindex(ifname: str) -> int:
    try:
        return socket.if_nametoindex(ifname)
    except OSError as exc:
        raise VrrpSocketError(exc.errno or errno.ENODEV, f"interface {ifname!r} does not exist") from exc


def _mreqn(group: ipaddress.IPv4Address, ifindex: int) -> bytes:
    # struct ip_mreqn { in_addr imr_multiaddr; in_addr imr_address; int imr_ifindex; }
    return group.packed + bytes(4) + struct.pack("@i", ifindex)


def _mreq6(group: ipaddress.IPv6Address, ifindex: int) -> bytes:
    # struct ipv6_mreq { in6_addr ipv6mr_multiaddr; unsigned int ipv6mr_interface; }
    return group.packed + struct.pack("@I", ifindex)


def parse_ipv4_header(data: bytes) -> tuple[int, int, ipaddress.IPv4Address, ipaddress.IPv4Address] | None:
    """Return (header length, TTL, src, dst) of an IPv4 packet, or None when it is not a sane IPv4 header.

    Kept public and pure so the unit tier can check it without a socket.
    """
    if len(data) < 20 or data[0] >> 4 != 4:
        return None
    ihl = (data[0] & 0x0F) * 4
    if ihl < 20 or len(data) < ihl:
        return None
    return ihl, data[8], ipaddress.IPv4Address(data[12:16]), ipaddress.IPv4Address(data[16:20])


@dataclass(eq=False)
class VrrpSocket:
    """A raw VRRP socket for one interface and one address family.

    Obtain it from :class:`SocketRegistry` (shared) or :meth:`open` (private, e.g. in tests). Non-blocking:
    :meth:`recv_nowait` returns None when nothing is queued and :meth:`recv` awaits readability on the running
    loop.
    """

    ifname: str
    ifindex: int
    family: int
    sock: socket.socket
    max_batch: int = 64
    _groups: dict[IPAddress, int] = field(default_factory=dict)
    _attached: asyncio.AbstractEventLoop | None = None

    @classmethod
    def open(cls, ifname: str, family: int) -> VrrpSocket:
        """Open and configure the socket in the *current* network namespace, bound to ``ifname``."""
        if family not in (socket.AF_INET, socket.AF_INET6):
            raise ValueError(f"family must be AF_INET or AF_INET6, not {family!r}")
        ifindex = _ifindex(ifname)
        try:
            sock = socket.socket(family, socket.SOCK_RAW, IPPROTO_VRRP)
        except OSError as exc:
            raise VrrpSocketError(exc.errno or errno.EPERM, f"cannot open a raw VRRP socket: {exc.strerror}") from exc
        step = "SO_BINDTODEVICE"
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
            step = "SO_TIMESTAMPNS"
            sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
            if family == socket.AF_INET:
                step = "IPv4 socket options"
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, VRRP_TTL)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, VRRP_TTL)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
                sock.setsockopt(socket.IPPROTO_IP, _IP_MULTICAST_ALL, 0)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, _mreqn(ipaddress.IPv4Address(0), ifindex))
                sock.setsockopt(socket.IPPROTO_IP, _IP_RECVTTL, 1)
                sock.setsockopt(socket.IPPROTO_IP, _IP_PKTINFO, 1)
            else:
                step = "IPv6 socket options"
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, VRRP_TTL)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, VRRP_TTL)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
                sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_MULTICAST_ALL, 0)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise VrrpSocketError(
                exc.errno or errno.EINVAL,
                f"cannot configure the VRRP socket on {ifname!r} ({step}): {exc.strerror}",
            ) from exc
        return cls(ifname=ifname, ifindex=ifindex, family=family, sock=sock)

    def rebind(self) -> bool:
        """Follow ``ifname`` to its current interface index (it was deleted and re-created); True if it moved.

        The same file descriptor stays (the loop's reader and the host's link id remain valid): the device
        binding and the multicast interface are set again and every group is joined afresh on the new index
        (the kernel dropped the memberships with the old device).  Raises OSError while the name is missing.
        """
        ifindex = _ifindex(self.ifname)
        if ifindex == self.ifindex:
            return False
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.ifname.encode())
        if self.family == socket.AF_INET:
            self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, _mreqn(ipaddress.IPv4Address(0), ifindex))
        else:
            self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
        self.ifindex = ifindex
        for group in self._groups:
            with contextlib.suppress(OSError):  # EADDRINUSE: still joined (the old device was not removed)
                if isinstance(group, ipaddress.IPv4Address):
                    self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, _mreqn(group, ifindex))
                else:
                    self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, _mreq6(group, ifindex))
        return True

    # -- multicast membership -------------------------------------------------------------------------------

    def join(self, group: IPAddress | None = None) -> None:
        """Join ``group`` (default 224.0.0.18 / ff02::12) on this interface; reference counted."""
        group = self._group(group)
        count = self._groups.get(group, 0)
        if count == 0:
            if isinstance(group, ipaddress.IPv4Address):
                self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, _mreqn(group, self.ifindex))
            else:
                self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, _mreq6(group, self.ifindex))
        self._groups[group] = count + 1

    def leave(self, group: IPAddress | None = None) -> None:
        """Undo one :meth:`join`; the group is left when its last user leaves.

        Leaving a group that is not joined is a no-op, so shutdown paths need no bookkeeping.
        """
        group = self._group(group)
        count = self._groups.get(group, 0)
        if count == 0:
            return
        if count == 1:
            del self._groups[group]
            with contextlib.suppress(OSError):  # the interface may already be gone
                if isinstance(group, ipaddress.IPv4Address):
                    self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_DROP_MEMBERSHIP, _mreqn(group, self.ifindex))
                else:
                    self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_LEAVE_GROUP, _mreq6(group, self.ifindex))
        else:
            self._groups[group] = count - 1

    @property
    def groups(self) -> frozenset[IPAddress]:
        """The multicast groups currently joined."""
        return frozenset(self._groups)

    def _group(self, group: IPAddress | None) -> IPAddress:
        if group is None:
            return VRRP_MCAST_V4 if self.family == socket.AF_INET else VRRP_MCAST_V6
        if group.version != (4 if self.family == socket.AF_INET else 6) or not group.is_multicast:
            raise ValueError(f"{group} is not a multicast group of this socket's address family")
        return group

    # -- send ---------------------------------------------------------------------------------------------

    def send(self, payload: bytes, *, src: IPAddress, dst: IPAddress, ttl: int | None = None) -> None:
        """Send one VRRP message (no IP header) from ``src`` to ``dst`` out of this interface.

        ``src`` is the interface's primary IPv4 / IPv6 link-local address, or ``unicast_src_ip``; the caller
        chooses it because the VRRP checksum covers it. TTL / hop limit is 255 unless ``ttl`` says
        otherwise (keepalived's ``unicast_ttl``, for peers behind routers). Raises OSError (e.g. ENETDOWN
        while the link is down); the shell counts and logs it, the router is not told.
        """
        if ttl is not None and not 1 <= ttl <= 255:
            raise ValueError(f"ttl must be 1..255, not {ttl}")
        if ttl is not None and ttl != 255 and dst.is_multicast:
            # RFC 9568 §5.1.1.3 / §5.1.2.3: a multicast advert always leaves with 255 (unicast_ttl is for peers)
            raise ValueError(f"the TTL / hop limit of a multicast advert is 255, not {ttl}")
        if src.version != dst.version or src.version != (4 if self.family == socket.AF_INET else 6):
            raise ValueError(f"src {src} / dst {dst} do not match the socket's address family")
        if isinstance(src, ipaddress.IPv4Address):
            # struct in_pktinfo { int ipi_ifindex; in_addr ipi_spec_dst; in_addr ipi_addr; }
            info = struct.pack("@i", self.ifindex) + src.packed + bytes(4)
            cmsg = [(socket.IPPROTO_IP, _IP_PKTINFO, info)]
            if ttl is not None:
                cmsg.append((socket.IPPROTO_IP, socket.IP_TTL, struct.pack("@i", ttl)))
            address: tuple[str, int] | tuple[str, int, int, int] = (str(dst), 0)
        else:
            # struct in6_pktinfo { in6_addr ipi6_addr; unsigned int ipi6_ifindex; }
            info = src.packed + struct.pack("@I", self.ifindex)
            cmsg = [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, info)]
            if ttl is not None:
                cmsg.append((socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT, struct.pack("@i", ttl)))
            scope = self.ifindex if (dst.is_link_local or dst.is_multicast) else 0
            address = (str(dst), 0, 0, scope)
        self.sock.sendmsg([payload], cmsg, 0, address)

    # -- receive ------------------------------------------------------------------------------------------

    def recv_nowait(self) -> Received | None:
        """Return the next queued packet, or None when none is queued. Malformed IPv4 framing is skipped."""
        while True:
            try:
                data, ancdata, _flags, addr = self.sock.recvmsg(_RECV_BUFSIZE, _CMSG_SPACE)
            except (BlockingIOError, InterruptedError):
                return None
            received = self._parse(data, ancdata, addr)
            if received is not None:
                return received

    async def recv(self) -> Received:
        """Await the next packet on the running loop."""
        loop = asyncio.get_running_loop()
        while True:
            received = self.recv_nowait()
            if received is not None:
                return received
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(self.sock.fileno(), _set_ready, ready)
            try:
                await ready
            finally:
                loop.remove_reader(self.sock.fileno())

    def attach(self, loop: asyncio.AbstractEventLoop, on_packet: Callable[[Received], None]) -> None:
        """Call ``on_packet`` for every packet, from ``loop``'s reader callback (the daemon's receive path).

        Each wake-up drains everything queued (bounded by ``max_batch`` per wake-up so one busy
        interface cannot starve the timers), so 255 instances sharing one socket cost one callback per
        burst, not one task switch per packet. Do not mix with :meth:`recv` on the same socket.
        """

        def readable() -> None:
            for _ in range(self.max_batch):
                received = self.recv_nowait()
                if received is None:
                    return
                on_packet(received)

        loop.add_reader(self.sock.fileno(), readable)
        self._attached = loop

    def detach(self) -> None:
        """Stop the :meth:`attach` callback (idempotent)."""
        if self._attached is not None and self.sock.fileno() >= 0:
            self._attached.remove_reader(self.sock.fileno())
        self._attached = None

    def _parse(self, data: bytes, ancdata: list[tuple[int, int, bytes]], addr: object) -> Received | None:
        ttl: int | None = None
        ifindex = self.ifindex
        dst6: ipaddress.IPv6Address | None = None
        stamp: int | None = None
        for level, kind, value in ancdata:
            if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(value) >= 16:
                sec, nsec = struct.unpack("@qq", value[:16])
                stamp = sec * 1_000_000_000 + nsec
            elif level == socket.IPPROTO_IP and kind == socket.IP_TTL and len(value) >= 4:
                ttl = struct.unpack("@i", value[:4])[0]
            elif level == socket.IPPROTO_IP and kind == _IP_PKTINFO and len(value) >= 12:
                ifindex = struct.unpack("@i", value[:4])[0]
            elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_HOPLIMIT and len(value) >= 4:
                ttl = struct.unpack("@i", value[:4])[0]
            elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO and len(value) >= 20:
                dst6 = ipaddress.IPv6Address(value[:16])
                ifindex = struct.unpack("@I", value[16:20])[0]
        if self.family == socket.AF_INET:
            header = parse_ipv4_header(data)
            if header is None:
                return None
            ihl, header_ttl, src4, dst4 = header
            return Received(data[ihl:], src4, dst4, header_ttl if ttl is None else ttl, ifindex, stamp)
        if not isinstance(addr, tuple) or dst6 is None or ttl is None:
            return None
        src6 = ipaddress.IPv6Address(str(addr[0]).split("%", 1)[0])
        return Received(bytes(data), src6, dst6, ttl, ifindex, stamp)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        """Close the socket (the kernel drops its memberships)."""
        self.detach()
        self._groups.clear()
        self.sock.close()


def _set_ready(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


@dataclass
class _Entry:
    sock: VrrpSocket
    users: int = 0


@dataclass
class SocketRegistry:
    """Hands out one shared :class:`VrrpSocket` per (ifindex, family), reference counted.

    The daemon keeps one registry; each instance calls :meth:`acquire` when it starts (with its
    multicast group, or ``multicast=False`` in unicast mode) and :meth:`release` with the same
    arguments when it stops. Sockets are opened in the network namespace that is current when
    :meth:`acquire` first runs for that key.
    """

    _entries: dict[tuple[int, int], _Entry] = field(default_factory=dict)

    def acquire(
        self, ifname: str, family: int, *, group: IPAddress | None = None, multicast: bool = True
    ) -> VrrpSocket:
        """Return the shared socket for ``ifname``/``family``.

        With ``multicast`` it also joins ``group`` (default 224.0.0.18 / ff02::12) on the interface.
        """
        key = (_ifindex(ifname), family)
        entry = self._entries.get(key)
        if entry is None:
            entry = _Entry(VrrpSocket.open(ifname, family))
            self._entries[key] = entry
        try:
            if multicast:
                entry.sock.join(group)
        except OSError:
            if entry.users == 0:
                entry.sock.close()
                del self._entries[key]
            raise
        entry.users += 1
        return entry.sock

    def release(self, sock: VrrpSocket, *, group: IPAddress | None = None, multicast: bool = True) -> None:
        """Undo one :meth:`acquire`; the socket closes when its last user releases it."""
        key = (sock.ifindex, sock.family)
        entry = self._entries.get(key)
        if entry is None or entry.sock is not sock:
            return
        if multicast:
            sock.leave(group)
        entry.users -= 1
        if entry.users <= 0:
            sock.close()
            del self._entries[key]

    def rebind(self, ifname: str) -> list[VrrpSocket]:
        """Re-bind the sockets on ``ifname`` to its new index after it was re-created; those that moved.

        A socket whose interface is still missing stays as it is (OSError is the caller's to log).
        """
        moved = []
        for key, entry in list(self._entries.items()):
            if entry.sock.ifname == ifname and entry.sock.rebind():
                del self._entries[key]
                self._entries[(entry.sock.ifindex, entry.sock.family)] = entry
                moved.append(entry.sock)
        return moved

    def sockets(self) -> list[VrrpSocket]:
        """The open sockets, for the shell's reader registration and for dumps."""
        return [entry.sock for entry in self._entries.values()]

    def close_all(self) -> None:
        for entry in self._entries.values():
            entry.sock.close()
        self._entries.clear()
