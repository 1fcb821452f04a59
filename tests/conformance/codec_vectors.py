"""Oracles for the codec conformance tests, written independently of vrrp/core/packet.py.

``rfc1071`` is the textbook word-by-word Internet checksum (RFC 1071 §4.1), deliberately not the modulo trick
vrrp/core/checksum.py uses, and ``build`` packs a VRRP message field by field with struct.  Tests compare the codec
against these, and against packets captured from real keepalived 2.2.7 (``KEEPALIVED_*`` below).
"""

from __future__ import annotations

import struct
from ipaddress import ip_address

V4_SRC = "192.0.2.1"
V4_DST = "224.0.0.18"
V6_SRC = "fe80::1"
V6_DST = "ff02::12"


def rfc1071(data: bytes) -> int:
    """Internet checksum of ``data`` (odd length zero-padded): fold 16-bit words, then complement."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def pseudo_header(src: str, dst: str, length: int) -> bytes:
    """IPv4 (src, dst, 0, 112, len16) or IPv6 (src, dst, len32, 0, 0, 0, 112) pseudo-header bytes."""
    s, d = ip_address(src), ip_address(dst)
    if s.version == 4:
        return s.packed + d.packed + struct.pack("!BBH", 0, 112, length)
    return s.packed + d.packed + struct.pack("!I3xB", length, 112)


def build(
    *,
    version: int = 3,
    type_: int = 1,
    vrid: int = 51,
    priority: int = 100,
    addresses: tuple[str, ...] = ("192.0.2.100",),
    count: int | None = None,
    word2: int | None = None,
    interval: int = 100,
    rsvd: int = 0,
    auth_type: int = 0,
    auth_data: bytes = bytes(8),
    pseudo: tuple[str, str] | None = None,
    checksum: int | None = None,
) -> bytes:
    """A VRRP message packed by hand.  ``interval`` is centiseconds for v3, seconds for v2.

    ``pseudo=(src, dst)`` includes that pseudo-header in the checksum; ``checksum`` overrides it; ``count``
    overrides the Count field; ``word2`` overrides bytes 4-5 entirely.
    """
    body = b"".join(ip_address(a).packed for a in addresses)
    if version == 2:
        body += auth_data
        w2 = (auth_type << 8) | interval
    else:
        w2 = (rsvd << 12) | interval
    if word2 is not None:
        w2 = word2
    n = len(addresses) if count is None else count
    msg = struct.pack("!BBBBHH", (version << 4) | type_, vrid, priority, n, w2, 0) + body
    if checksum is None:
        prefix = pseudo_header(pseudo[0], pseudo[1], len(msg)) if pseudo else b""
        checksum = rfc1071(prefix + msg)
    return msg[:6] + struct.pack("!H", checksum) + msg[8:]


# Captured from Debian's keepalived 2.2.7 by ``python -m netns_lab.keepalived_vectors`` (2026-11-25; the IPv4 bytes
# reproduce exactly, the IPv6 source and so its checksum change with the veth's random MAC).  Sources
# 192.0.2.1 and fe80::54f4:2bff:fe71:f98c, TTL / Hop Limit 255.
# keepalived 2.2.7 always uses the RFC 5798 IPv4 pseudo-header for v3: it rejects ``v3_checksum_as_v2``
# ("Unknown keyword") both in global_defs and in vrrp_instance, so no RFC 9568 IPv4 capture exists here.
#
#   vrrp_instance { version 2; virtual_router_id 51; priority 150; advert_int 1;
#                   authentication { auth_type PASS; auth_pass secret12 }; VIPs 192.0.2.100, .101 }
KEEPALIVED_V2_PASS = bytes.fromhex("2133960201015580c0000264c00002657365637265743132")
KEEPALIVED_V2_SRC = "192.0.2.1"
#   version 3; virtual_router_id 52; priority 120; advert_int 0.5; VIP 192.0.2.102
KEEPALIVED_V3_V4 = bytes.fromhex("313478010032f1a0c0000266")
#   version 3; virtual_router_id 53; priority 254; advert_int 0.25; VIPs 192.0.2.103-.105
KEEPALIVED_V3_V4_3ADDR = bytes.fromhex("3135fe030019e6dac0000267c0000268c0000269")
KEEPALIVED_V3_V4_SRC = "192.0.2.1"
#   version 3; native_ipv6; virtual_router_id 54; priority 100; advert_int 0.3; VIPs fe80::54, 2001:db8::54
KEEPALIVED_V3_V6 = bytes.fromhex("31366402001ec6a6fe80000000000000000000000000005420010db8000000000000000000000054")
KEEPALIVED_V3_V6_SRC = "fe80::54f4:2bff:fe71:f98c"
