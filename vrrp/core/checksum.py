"""Internet checksum (RFC 1071) arithmetic for VRRP, done with big-integer modulo instead of a word loop.

Why modulo: 2**16 == 1 (mod 0xFFFF), so the one's-complement sum of the 16-bit big-endian words of a buffer
is congruent to ``int.from_bytes(buffer, "big")`` modulo 0xFFFF.  One C-level ``int.from_bytes`` plus one
``%`` is an order of magnitude faster in CPython than unpacking and folding words, and the decoder runs on
every packet.

A buffer whose checksum field is correct sums to 0xFFFF (== 0 mod 0xFFFF); :func:`verifies` tests that.
Pseudo-headers are added as integers too: a 32-bit address is congruent to the sum of its two 16-bit halves, a
128-bit one to the sum of its eight.
"""

from __future__ import annotations

_M = 0xFFFF
#: IP protocol number of VRRP (RFC 9568 §5.1.1.4, §5.1.2.4), part of every pseudo-header.
IPPROTO_VRRP = 112


def word_sum(data: bytes) -> int:
    """Return the one's-complement sum of ``data`` reduced modulo 0xFFFF (odd length is zero-padded)."""
    if len(data) & 1:
        data += b"\x00"
    return int.from_bytes(data, "big") % _M


def pseudo_sum(src: int, dst: int, length: int) -> int:
    """Sum of an IPv4 (RFC 791) or IPv6 (RFC 8200 §8.1) pseudo-header for protocol 112, modulo 0xFFFF.

    ``src``/``dst`` are the addresses as integers (``int(ipaddress_obj)``); ``length`` is the VRRP message
    length.
    The zero bytes of either layout contribute nothing, so one formula serves both families.
    """
    return (src + dst + IPPROTO_VRRP + length) % _M


def finish(partial: int) -> int:
    """Turn a sum (modulo 0xFFFF) taken with the checksum field zeroed into the value to put in that field."""
    partial %= _M
    return _M - partial if partial else 0


def verifies(partial: int) -> bool:
    """True when a sum (modulo 0xFFFF) that includes the transmitted checksum field is the all-ones value."""
    return partial % _M == 0
