"""UDP_CHECK (keepalived's check_udp.c): send the payload on a connected socket; an ICMP unreachable fails the
check. With ``require_reply`` a reply must come back within the timeout, sized min..max_reply_length and equal to
the expected octets where the mask is 0 (only the shorter of reply and pattern is compared); without it, silence
until the timeout is a pass."""

from __future__ import annotations

import asyncio

from checkers.core.spec import ProbeResult, Target, UdpProbe
from checkers.io.sockets import connect_udp


def reply_matches(probe: UdpProbe, data: bytes) -> bool:
    if not probe.min_len <= len(data) <= probe.max_len:
        return False
    for i in range(min(len(data), len(probe.reply))):
        mask = probe.reply_mask[i] if i < len(probe.reply_mask) else 0
        if (data[i] ^ probe.reply[i]) & ~mask & 0xFF:
            return False
    return True


def parse_hex(text: str) -> tuple[bytes, bytes]:
    """keepalived's read_hex_str: hex digits (spaces ignored), ``X``/``x`` a wildcard nibble -> (data, mask)."""
    digits = "".join(text.split())
    if len(digits) % 2:
        digits += "0"
    data = bytearray()
    mask = bytearray()
    for i in range(0, len(digits), 2):
        d = m = 0
        for ch in digits[i:i + 2]:
            d <<= 4
            m <<= 4
            if ch in "xX":
                m |= 0xF
            else:
                d |= int(ch, 16)
        data.append(d)
        mask.append(m)
    return bytes(data), (bytes(mask) if any(mask) else b"")


async def probe_udp(target: Target, probe: UdpProbe, timeout: float) -> ProbeResult:
    loop = asyncio.get_running_loop()
    try:
        sock = await connect_udp(target)
    except OSError as exc:
        return ProbeResult(False, f"UDP connection failed ({exc.strerror or exc}) to")
    try:
        await loop.sock_sendall(sock, probe.payload)
        try:
            async with asyncio.timeout(timeout):
                data = await loop.sock_recv(sock, probe.max_len + 1)
        except TimeoutError:
            if probe.require_reply:
                return ProbeResult(False, "UDP check got no reply from")
            return ProbeResult(True)
        if probe.require_reply and not reply_matches(probe, data):
            return ProbeResult(False, "UDP check reply data mismatch from")
        return ProbeResult(True)
    except OSError as exc:
        return ProbeResult(False, f"UDP connection failed ({exc.strerror or exc}) to")
    finally:
        sock.close()
