"""The lab's one packet capture: VRRP advertisements (decoded) and, on request, every Ethernet frame, seen by an
AF_PACKET socket on a lab bridge, with kernel timestamps.

Failover is measured from packets, never from polling daemons or wall-clock sleeps (RFC 9568 §6.1:
"measure with packet timestamps from one capture point"). The capture point is the bridge of a switch
namespace: with multicast snooping off the bridge floods every advert to all ports *and* passes it up to its
own interface, so one socket bound there sees each advert exactly once, whoever sent it, while unicast
traffic between hosts is not delivered to it (the socket does not make the bridge promiscuous).

Timestamps come from the kernel (``SO_TIMESTAMPNS``, CLOCK_REALTIME) when the frame reached the bridge, so a
busy Python thread does not skew them; compare them with :func:`time.time` for events the lab causes.

Decoding goes through one function, :func:`decode_vrrp`, which uses the project's codec
(:func:`vrrp.core.packet.decode`), so what the lab calls an advertisement is exactly what the daemon accepts.
Frames (``keep_frames=True``) are for what is not VRRP: gratuitous ARP, unsolicited NA, traffic to a VIP.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, NamedTuple

from netns_lab.nsenter import NetnsError, call_in_netns

if TYPE_CHECKING:
    from netns_lab.lab import Lab

__all__ = [
    "AdvertSeen",
    "BadPacket",
    "Capture",
    "CaptureError",
    "DecodedVrrp",
    "Frame",
    "decode_vrrp",
    "parse_frame",
]

IPPROTO_VRRP = 112
_ETH_P_ALL = 0x0003
_ETH_P_IP = 0x0800
_ETH_P_IPV6 = 0x86DD
_ETH_P_8021Q = 0x8100
_ETH_P_8021AD = 0x88A8
_SO_TIMESTAMPNS = 35  # SO_TIMESTAMPNS_OLD on every Linux ABI Python runs on; also the cmsg type
_PACKET_OUTGOING = 4
_TIMESPEC = struct.Struct("@qq")


class CaptureError(RuntimeError):
    """The capture could not start (no such namespace or interface, not root); the message names which."""


class Frame(NamedTuple):
    """One Ethernet frame as it reached the bridge: kernel timestamp (epoch seconds) and the bytes."""

    t: float
    data: bytes


@dataclass(frozen=True)
class DecodedVrrp:
    """The fields of a VRRP message the lab reasons about (version-neutral, interval in centiseconds)."""

    version: int
    vrid: int
    priority: int
    interval_cs: int
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class AdvertSeen:
    """One VRRP advertisement seen on the wire.

    ``t`` is the kernel receive timestamp (seconds since the epoch, like :func:`time.time`); ``ttl`` is the
    IPv4 TTL or IPv6 hop limit (RFC 9568 requires 255); ``src_mac`` shows whether a virtual MAC was used;
    ``payload`` is the VRRP message as sent (golden vectors, re-decoding).
    """

    t: float
    family: int
    src: str
    dst: str
    src_mac: str
    ttl: int
    version: int
    vrid: int
    priority: int
    interval_cs: int
    addresses: tuple[str, ...]
    payload: bytes = b""

    @property
    def interval(self) -> float:
        """Advertisement interval in seconds."""
        return self.interval_cs / 100


@dataclass(frozen=True)
class BadPacket:
    """An IP packet with protocol 112 that the codec rejected (kept: a bad advert is a finding, not noise)."""

    t: float
    family: int
    src: str
    dst: str
    error: str


def decode_vrrp(payload: bytes, *, family: int, src: str, dst: str) -> DecodedVrrp:
    """Decode a VRRP message (the IP payload) with the project's codec; raises ValueError when invalid.

    The single place the lab turns bytes into VRRP fields, so switching codecs touches only this function.
    """
    from vrrp.core.packet import PacketError, decode

    try:
        adv = decode(payload, family=family, src=src, dst=dst)
    except PacketError as exc:
        raise ValueError(str(exc)) from None
    return DecodedVrrp(
        version=adv.version,
        vrid=adv.vrid,
        priority=adv.priority,
        interval_cs=adv.interval_cs,
        addresses=tuple(str(a) for a in adv.addresses),
    )


def parse_frame(frame: bytes, t: float) -> AdvertSeen | BadPacket | None:
    """Turn one Ethernet frame into an :class:`AdvertSeen` / :class:`BadPacket`, or None if it is not VRRP."""
    if len(frame) < 14:
        return None
    src_mac = ":".join(f"{b:02x}" for b in frame[6:12])
    off = 12
    ethertype = int.from_bytes(frame[off : off + 2], "big")
    while ethertype in (_ETH_P_8021Q, _ETH_P_8021AD) and len(frame) >= off + 6:
        off += 4
        ethertype = int.from_bytes(frame[off : off + 2], "big")
    ip = frame[off + 2 :]
    if ethertype == _ETH_P_IP:
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != IPPROTO_VRRP:
            return None
        ihl = (ip[0] & 0x0F) * 4
        total = int.from_bytes(ip[2:4], "big")
        family, ttl = 4, ip[8]
        src, dst = str(ipaddress.IPv4Address(ip[12:16])), str(ipaddress.IPv4Address(ip[16:20]))
        payload = ip[ihl:total] if ihl <= total <= len(ip) else ip[ihl:]
    elif ethertype == _ETH_P_IPV6:
        # VRRP is sent with no extension headers (RFC 9568 §5.1.2); a packet with them is not ours to judge.
        if len(ip) < 40 or ip[0] >> 4 != 6 or ip[6] != IPPROTO_VRRP:
            return None
        plen = int.from_bytes(ip[4:6], "big")
        family, ttl = 6, ip[7]
        src, dst = str(ipaddress.IPv6Address(ip[8:24])), str(ipaddress.IPv6Address(ip[24:40]))
        payload = ip[40 : 40 + plen]
    else:
        return None
    try:
        d = decode_vrrp(bytes(payload), family=family, src=src, dst=dst)
    except ValueError as exc:
        return BadPacket(t=t, family=family, src=src, dst=dst, error=str(exc))
    return AdvertSeen(
        t=t,
        family=family,
        src=src,
        dst=dst,
        src_mac=src_mac,
        ttl=ttl,
        version=d.version,
        vrid=d.vrid,
        priority=d.priority,
        interval_cs=d.interval_cs,
        addresses=d.addresses,
        payload=bytes(payload),
    )


def open_packet_socket(netns: str | None, ifname: str) -> socket.socket:
    """An AF_PACKET socket bound to ``ifname`` in ``netns`` (None: the caller's namespace), with SO_TIMESTAMPNS.

    The socket is made by a thread inside the namespace (:func:`~netns_lab.nsenter.call_in_netns`), so it
    belongs there while the caller's threads stay where they are.
    """

    def make() -> socket.socket:
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
        except PermissionError:
            raise CaptureError("capture: AF_PACKET sockets need root (CAP_NET_RAW)") from None
        try:
            sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
            sock.bind((ifname, _ETH_P_ALL))
        except OSError as exc:
            sock.close()
            where = f" in namespace {netns!r}" if netns else ""
            raise CaptureError(f"capture: cannot bind to interface {ifname!r}{where}: {exc}") from None
        return sock

    try:
        return call_in_netns(netns, make)
    except NetnsError as exc:
        raise CaptureError(f"capture: {exc}") from None


class Capture:
    """Capture on ``ifname`` in namespace ``netns`` in a background thread: VRRP adverts always, every frame
    too when ``keep_frames``.

    Use as a context manager (``with Capture.on_switch(lab, "lan") as cap``, or
    ``Capture(lab.switch_netns("lan"), lab.bridge_ifname("lan"))``) or call :meth:`start` / :meth:`stop`.
    ``on_advert`` runs in the capture thread for each advert (keep it short: printing progress is fine).
    Frames the bridge itself sends out of a port (PACKET_OUTGOING: a forwarded copy) are not counted twice.
    Reading methods are thread-safe.
    """

    def __init__(
        self,
        netns: str | None,
        ifname: str,
        *,
        on_advert: Callable[[AdvertSeen], None] | None = None,
        keep_frames: bool = False,
    ) -> None:
        self.netns = netns
        self.ifname = ifname
        self.on_advert = on_advert
        self.keep_frames = keep_frames
        self._frames: list[Frame] = []
        self._adverts: list[AdvertSeen] = []
        self._bad: list[BadPacket] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = -1, -1
        self.frame_count = 0

    @classmethod
    def on_switch(
        cls,
        lab: Lab,
        switch: str = "lan",
        *,
        on_advert: Callable[[AdvertSeen], None] | None = None,
        keep_frames: bool = False,
    ) -> Capture:
        """A capture (not started) on the bridge of ``switch``: the one point that sees every host's adverts."""
        return cls(
            lab.switch_namespace(switch), lab.bridge_ifname(switch), on_advert=on_advert, keep_frames=keep_frames
        )

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Capture:
        if self._thread is not None:
            raise CaptureError("capture already started")
        self._sock = open_packet_socket(self.netns, self.ifname)
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name=f"netns-lab-capture-{self.ifname}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and close the socket (idempotent)."""
        self._stop.set()
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._wake_r = self._wake_w = -1
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Capture:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self) -> None:
        sock = self._sock
        assert sock is not None
        cmsg_size = socket.CMSG_SPACE(_TIMESPEC.size)
        sock_fd = sock.fileno()
        while not self._stop.is_set():
            ready, _, _ = select.select([sock_fd, self._wake_r], [], [], 1.0)
            if sock_fd not in ready:
                continue
            try:
                frame, ancdata, _flags, addr = sock.recvmsg(65535, cmsg_size)
            except OSError:
                if self._stop.is_set():
                    return
                raise
            if len(addr) > 2 and addr[2] == _PACKET_OUTGOING:
                continue
            t = time.time()
            for level, kind, data in ancdata:
                if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
                    sec, nsec = _TIMESPEC.unpack_from(data)
                    t = sec + nsec / 1e9
            self.frame_count += 1
            if self.keep_frames:
                with self._cond:
                    self._frames.append(Frame(t, frame))
            item = parse_frame(frame, t)
            if item is None:
                continue
            with self._cond:
                if isinstance(item, AdvertSeen):
                    self._adverts.append(item)
                else:
                    self._bad.append(item)
                self._cond.notify_all()
            if isinstance(item, AdvertSeen) and self.on_advert is not None:
                self.on_advert(item)

    # ------------------------------------------------------------------ reading
    def adverts(self, vrid: int | None = None) -> list[AdvertSeen]:
        """Adverts seen so far, in arrival order (optionally only those of ``vrid``)."""
        with self._cond:
            return [a for a in self._adverts if vrid is None or a.vrid == vrid]

    def frames(self, since: float = 0.0) -> list[Frame]:
        """Every frame seen at or after ``since`` (epoch seconds), in arrival order; needs ``keep_frames``."""
        if not self.keep_frames:
            raise CaptureError("capture: frames() needs Capture(..., keep_frames=True)")
        with self._cond:
            return [f for f in self._frames if f.t >= since]

    def bad_packets(self) -> list[BadPacket]:
        """VRRP packets the codec rejected."""
        with self._cond:
            return list(self._bad)

    def wait_for(self, predicate: Callable[[AdvertSeen], bool], timeout: float) -> AdvertSeen | None:
        """Block until an advert matching ``predicate`` was seen (earlier ones count); None on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            checked = 0
            while True:
                for adv in self._adverts[checked:]:
                    if predicate(adv):
                        return adv
                checked = len(self._adverts)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(min(remaining, 0.5))

    def __iter__(self) -> Iterator[AdvertSeen]:
        return iter(self.adverts())
