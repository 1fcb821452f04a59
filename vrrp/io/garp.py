"""Gratuitous ARP and unsolicited Neighbour Advertisements: telling the LAN where a VIP now lives.

A new Master must move every neighbour's cache entry for its VIPs to its MAC (the physical MAC, or the
virtual MAC with ``use_vmac``); RFC 9568 §6.4.2 asks for a gratuitous ARP per IPv4 VIP and an unsolicited
NA per IPv6 VIP. The frames are built by pure functions (unit-tested byte for byte) and sent whole through
an AF_PACKET socket, as keepalived does, because only a hand-built frame lets us choose the Ethernet source
MAC and, for NA, an IPv6 source equal to the VIP.

Frame formats, following keepalived (``vrrp_arp.c``, ``vrrp_ndisc.c``):

* GARP: Ethernet broadcast; ARP *request*, sender = target = VIP, sender MAC = announced MAC, target MAC
  ff:ff:ff:ff:ff:ff.
* Unsolicited NA: Ethernet 33:33:00:00:00:01, IPv6 VIP -> ff02::1, hop limit 255, ICMPv6 136 with
  S=0 O=1, R from the sending interface's ``net.ipv6.conf.<if>.forwarding`` (as keepalived's ``vrrp_ndisc.c``:
  a host that does not forward must not claim to be a router, RFC 4861 §4.4), and a Target Link-Layer
  Address option.

Timing belongs to the shell: :class:`AnnouncementSchedule` turns ``garp_master_repeat`` /
``garp_master_delay`` / ``vrrp_garp_interval`` / ``garp_master_refresh`` into absolute send times that the
shell arms on its loop; nothing here sleeps.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

ETH_BROADCAST: Final = b"\xff" * 6
ETH_P_ARP: Final = 0x0806
ETH_P_IPV6: Final = 0x86DD
ALL_NODES: Final = ipaddress.IPv6Address("ff02::1")
ALL_NODES_MAC: Final = bytes.fromhex("333300000001")
ICMPV6_NA: Final = 136
NA_ROUTER: Final = 0x80000000
NA_SOLICITED: Final = 0x40000000
NA_OVERRIDE: Final = 0x20000000
ND_OPT_TARGET_LL_ADDR: Final = 2
NDISC_HOP_LIMIT: Final = 255
_ICMP6_FILTER: Final = 1


def mac_bytes(mac: str | bytes) -> bytes:
    """``"00:00:5e:00:01:01"`` (or 6 raw bytes) -> 6 bytes; ValueError naming the bad value otherwise."""
    if isinstance(mac, bytes):
        if len(mac) != 6:
            raise ValueError(f"a MAC address is 6 bytes, not {len(mac)}")
        return mac
    parts = mac.replace("-", ":").split(":")
    try:
        raw = bytes(int(p, 16) for p in parts)
    except ValueError:
        raw = b""
    if len(parts) != 6 or len(raw) != 6 or any(len(p) not in (1, 2) for p in parts):
        raise ValueError(f"{mac!r} is not a MAC address (expected six hex octets like 00:00:5e:00:01:01)")
    return raw


def mac_str(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


# -- gratuitous ARP ---------------------------------------------------------------------------------


def build_garp(vip: ipaddress.IPv4Address, mac: str | bytes) -> bytes:
    """One gratuitous ARP frame (42 bytes; the kernel pads it to the Ethernet minimum)."""
    hw = mac_bytes(mac)
    eth = ETH_BROADCAST + hw + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + hw + vip.packed + ETH_BROADCAST + vip.packed
    return eth + arp


@dataclass(frozen=True, slots=True)
class ArpFrame:
    """The fields of an ARP frame that observers and tests look at."""

    eth_src: bytes
    eth_dst: bytes
    op: int
    sender_mac: bytes
    sender_ip: ipaddress.IPv4Address
    target_mac: bytes
    target_ip: ipaddress.IPv4Address

    @property
    def gratuitous(self) -> bool:
        return self.sender_ip == self.target_ip


def parse_arp(frame: bytes) -> ArpFrame | None:
    """Parse an Ethernet/IPv4 ARP frame; None when the frame is anything else."""
    if len(frame) < 42 or struct.unpack("!H", frame[12:14])[0] != ETH_P_ARP:
        return None
    htype, ptype, hlen, plen, op = struct.unpack("!HHBBH", frame[14:22])
    if (htype, ptype, hlen, plen) != (1, 0x0800, 6, 4):
        return None
    body = frame[22:42]
    return ArpFrame(
        eth_src=frame[6:12],
        eth_dst=frame[0:6],
        op=op,
        sender_mac=body[0:6],
        sender_ip=ipaddress.IPv4Address(body[6:10]),
        target_mac=body[10:16],
        target_ip=ipaddress.IPv4Address(body[16:20]),
    )


# -- unsolicited neighbour advertisement ------------------------------------------------------------


def icmpv6_checksum(src: ipaddress.IPv6Address, dst: ipaddress.IPv6Address, message: bytes) -> int:
    """RFC 4443 §2.3 checksum over the IPv6 pseudo-header and ``message`` (checksum field zeroed)."""
    data = src.packed + dst.packed + struct.pack("!I3xB", len(message), 58) + message
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def build_unsolicited_na(
    target: ipaddress.IPv6Address,
    mac: str | bytes,
    *,
    src: ipaddress.IPv6Address | None = None,
    router: bool = True,
) -> bytes:
    """One unsolicited NA frame announcing ``target`` at ``mac`` (86 bytes).

    ``src`` defaults to the target itself, as keepalived sends it; ``router`` is the R flag.
    """
    hw = mac_bytes(mac)
    source = target if src is None else src
    flags = (NA_ROUTER if router else 0) | NA_OVERRIDE
    option = struct.pack("!BB", ND_OPT_TARGET_LL_ADDR, 1) + hw
    body = struct.pack("!I", flags) + target.packed + option
    checksum = icmpv6_checksum(source, ALL_NODES, struct.pack("!BBH", ICMPV6_NA, 0, 0) + body)
    icmp = struct.pack("!BBH", ICMPV6_NA, 0, checksum) + body
    ip6 = struct.pack("!IHBB", 6 << 28, len(icmp), 58, NDISC_HOP_LIMIT) + source.packed + ALL_NODES.packed
    return ALL_NODES_MAC + hw + struct.pack("!H", ETH_P_IPV6) + ip6 + icmp


@dataclass(frozen=True, slots=True)
class NeighbourAdvert:
    """The fields of an NA frame that observers and tests look at."""

    eth_src: bytes
    eth_dst: bytes
    src: ipaddress.IPv6Address
    dst: ipaddress.IPv6Address
    hop_limit: int
    router: bool
    solicited: bool
    override: bool
    target: ipaddress.IPv6Address
    target_mac: bytes | None
    checksum_ok: bool


def parse_na(frame: bytes) -> NeighbourAdvert | None:
    """Parse an Ethernet/IPv6/ICMPv6 Neighbour Advertisement (no extension headers); None otherwise."""
    if len(frame) < 14 + 40 + 24 or struct.unpack("!H", frame[12:14])[0] != ETH_P_IPV6:
        return None
    ip6 = frame[14:54]
    payload_len, next_header, hop_limit = struct.unpack("!HBB", ip6[4:8])
    icmp = frame[54 : 54 + payload_len]
    if next_header != 58 or len(icmp) < 24 or icmp[0] != ICMPV6_NA:
        return None
    src, dst = ipaddress.IPv6Address(ip6[8:24]), ipaddress.IPv6Address(ip6[24:40])
    (flags,) = struct.unpack("!I", icmp[4:8])
    target_mac = None
    options = icmp[24:]
    while len(options) >= 8 and options[1]:
        size = options[1] * 8
        if options[0] == ND_OPT_TARGET_LL_ADDR and size >= 8:
            target_mac = options[2:8]
        options = options[size:]
    zeroed = icmp[:2] + b"\0\0" + icmp[4:]
    return NeighbourAdvert(
        eth_src=frame[6:12],
        eth_dst=frame[0:6],
        src=src,
        dst=dst,
        hop_limit=hop_limit,
        router=bool(flags & NA_ROUTER),
        solicited=bool(flags & NA_SOLICITED),
        override=bool(flags & NA_OVERRIDE),
        target=ipaddress.IPv6Address(icmp[8:24]),
        target_mac=target_mac,
        checksum_ok=struct.unpack("!H", icmp[2:4])[0] == icmpv6_checksum(src, dst, zeroed),
    )


def solicited_node_group(address: ipaddress.IPv6Address) -> ipaddress.IPv6Address:
    """RFC 4291 §2.7.1: ff02::1:ffXX:XXXX from the low 24 bits of ``address``."""
    return ipaddress.IPv6Address(int(ipaddress.IPv6Address("ff02::1:ff00:0")) | (int(address) & 0xFFFFFF))


def announcement_frame(
    vip: ipaddress.IPv4Address | ipaddress.IPv6Address, mac: str | bytes, *, router: bool = True
) -> bytes:
    """The GARP (IPv4) or unsolicited NA (IPv6, ``router`` its R flag) frame that announces ``vip`` at ``mac``."""
    if isinstance(vip, ipaddress.IPv4Address):
        return build_garp(vip, mac)
    return build_unsolicited_na(vip, mac, router=router)


def ipv6_forwarding(ifname: str, proc: Path = Path("/proc/sys/net/ipv6/conf")) -> bool:
    """Whether ``ifname`` forwards IPv6 in the current network namespace (keepalived's ``get_ipv6_forwarding``).

    Read at each announcement, as the operator may turn forwarding on or off while we are Master; an
    unreadable setting (no IPv6 on the interface) counts as not forwarding.
    """
    try:
        return (proc / ifname / "forwarding").read_text().strip() not in ("", "0")
    except OSError:
        return False


# -- schedule ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AnnouncementSchedule:
    """keepalived's GARP/NA timing knobs, as given in the config.

    ``repeat`` (garp_master_repeat, default 5) rounds are sent on becoming Master, ``interval``
    (vrrp_garp_interval / vrrp_gna_interval, default 0) apart; a second burst of ``repeat`` rounds follows
    ``delay`` seconds later (garp_master_delay, default 5; 0 disables it). With ``refresh`` > 0
    (garp_master_refresh), ``refresh_repeat`` rounds are sent every ``refresh`` seconds while Master.
    """

    repeat: int = 5
    delay: float = 5.0
    interval: float = 0.0
    refresh: float = 0.0
    refresh_repeat: int = 1

    def __post_init__(self) -> None:
        for name in ("repeat", "refresh_repeat"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        for name in ("delay", "interval", "refresh"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, not {getattr(self, name)}")

    def burst(self, start: float) -> list[float]:
        """Send times of one burst of ``repeat`` rounds starting at ``start``."""
        return [start + i * self.interval for i in range(self.repeat)]

    def on_master(self, now: float) -> list[float]:
        """Absolute times (same clock as ``now``) of every round owed for becoming Master at ``now``."""
        times = self.burst(now)
        if self.delay > 0:
            times += self.burst(now + self.delay)
        return times

    def next_refresh(self, now: float) -> list[float]:
        """The refresh round due ``refresh`` seconds after ``now``; empty when refresh is off."""
        if self.refresh <= 0:
            return []
        start = now + self.refresh
        return [start + i * self.interval for i in range(self.refresh_repeat)]


# -- sending ----------------------------------------------------------------------------------------


@dataclass(eq=False)
class AnnouncementSender:
    """An AF_PACKET socket on one interface that sends prebuilt GARP / NA frames.

    The socket is send-only (protocol 0 binds it to no ethertype, so it never queues received frames).
    Open it in the network namespace that holds the interface.
    """

    ifname: str
    ifindex: int
    sock: socket.socket
    mld: socket.socket
    _groups: dict[ipaddress.IPv6Address, ipaddress.IPv6Address] = field(default_factory=dict)

    @classmethod
    def open(cls, ifname: str) -> AnnouncementSender:
        """Open the sockets in the *current* network namespace (the one that holds ``ifname``)."""
        try:
            ifindex = socket.if_nametoindex(ifname)
        except OSError as exc:
            raise OSError(exc.errno, f"interface {ifname!r} does not exist") from exc
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            sock.bind((ifname, 0))
            sock.setblocking(False)
            # holds solicited-node memberships; its ICMPv6 filter blocks every type so it never queues data
            mld = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        except OSError:
            sock.close()
            raise
        try:
            mld.setsockopt(socket.IPPROTO_ICMPV6, _ICMP6_FILTER, b"\xff" * 32)
        except OSError:
            sock.close()
            mld.close()
            raise
        return cls(ifname=ifname, ifindex=ifindex, sock=sock, mld=mld)

    def send_frame(self, frame: bytes) -> None:
        """Send one whole Ethernet frame; OSError (e.g. ENETDOWN) is the caller's to count and log."""
        self.sock.send(frame)

    def announce(self, vip: ipaddress.IPv4Address | ipaddress.IPv6Address, mac: str | bytes) -> None:
        """Send one GARP (IPv4) or unsolicited NA (IPv6; R set when this interface forwards IPv6) for ``vip``."""
        router = isinstance(vip, ipaddress.IPv6Address) and ipv6_forwarding(self.ifname)
        self.send_frame(announcement_frame(vip, mac, router=router))

    def join_solicited_node(self, address: ipaddress.IPv6Address) -> ipaddress.IPv6Address:
        """Join the solicited-node group of ``address`` on this interface (idempotent); returns the group.

        The kernel joins it for addresses it owns, but not for a VIP that lives on another interface
        (a VMAC, ``vmac_xmit_base``) or before the address is added; joining here makes NS for the VIP
        reach us in those cases too. Several VIPs can share a group; it is left when the last one leaves.
        """
        group = solicited_node_group(address)
        if address in self._groups:
            return group
        if group not in self._groups.values():
            mreq = group.packed + struct.pack("@I", self.ifindex)
            self.mld.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
        self._groups[address] = group
        return group

    def leave_solicited_node(self, address: ipaddress.IPv6Address) -> None:
        group = self._groups.pop(address, None)
        if group is None or group in self._groups.values():
            return
        with contextlib.suppress(OSError):  # the interface may be gone, and the membership with it
            mreq = group.packed + struct.pack("@I", self.ifindex)
            self.mld.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_LEAVE_GROUP, mreq)

    def close(self) -> None:
        self._groups.clear()
        self.mld.close()
        self.sock.close()
