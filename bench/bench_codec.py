"""VRRP codec: decodes and encodes per second, side by side with the cost floor.

Anchor ("floor"): for decode, ``struct.unpack_from`` of the 8-byte header plus one ``int.from_bytes`` over the
message — the least any Python decoder does to read the fields and touch every byte for the checksum; for
encode, one ``struct.pack`` of the header plus the packed addresses joined.  The ratio ours/floor is what the
codec's validation, the checksum forms and object construction cost on top.  keepalived's C decoder is not a
fair anchor: it cannot be timed per packet apart from its socket loop.

Context: the simulator must reach >= 100,000 protocol events per second and may decode on every delivery, so
decode must stay well above that rate.

One repetition = 10,000 messages, an even mix of v3 IPv4 (RFC 9568 form), v3 IPv4 (RFC 5798 form), v3 IPv6
(2 addresses) and v2 with PASS authentication.

    .venv/bin/python -m bench codec_decode codec_encode   # through the bench runner (ratio table)
    .venv/bin/python -m bench.bench_codec [--json]        # per-case rates per second
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import sys
import time
from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address

from bench.registry import register
from vrrp.core.packet import MULTICAST_V4, MULTICAST_V6, Advertisement, ChecksumForm, decode, encode

PER_REPETITION = 10_000
_HDR = struct.Struct("!BBBBHH")
SRC4, SRC6 = IPv4Address("192.0.2.1"), IPv6Address("fe80::1")


def _cases() -> list[tuple[str, Advertisement, int, object, object, ChecksumForm]]:
    v4 = [IPv4Address("192.0.2.100")]
    v6 = [IPv6Address("fe80::100"), IPv6Address("2001:db8::1")]
    v2 = Advertisement(2, 51, 100, v4, 100, auth_type=1, auth_data=b"secret12")
    af4, af6 = socket.AF_INET, socket.AF_INET6
    return [
        ("v3 IPv4 rfc9568", Advertisement(3, 51, 100, v4, 100), af4, SRC4, MULTICAST_V4, "rfc9568"),
        ("v3 IPv4 rfc5798", Advertisement(3, 51, 100, v4, 100), af4, SRC4, MULTICAST_V4, "rfc5798"),
        ("v3 IPv6 2 addr", Advertisement(3, 51, 100, v6, 100), af6, SRC6, MULTICAST_V6, "rfc9568"),
        ("v2 PASS", v2, af4, SRC4, MULTICAST_V4, "rfc9568"),
    ]


CASES = _cases()
MESSAGES = [
    (encode(adv, family=fam, src=src, dst=dst, checksum_form=form), fam, src, dst)
    for _, adv, fam, src, dst, form in CASES
]
_ROUNDS = PER_REPETITION // len(CASES)


def decode_ours() -> None:
    for _ in range(_ROUNDS):
        for msg, fam, src, dst in MESSAGES:
            decode(msg, family=fam, src=src, dst=dst)


def decode_floor() -> None:
    unpack, from_bytes = _HDR.unpack_from, int.from_bytes
    for _ in range(_ROUNDS):
        for msg, _fam, _src, _dst in MESSAGES:
            unpack(msg)
            from_bytes(msg, "big") % 0xFFFF


def encode_ours() -> None:
    for _ in range(_ROUNDS):
        for _name, adv, fam, src, dst, form in CASES:
            encode(adv, family=fam, src=src, dst=dst, checksum_form=form)


def encode_floor() -> None:
    pack = _HDR.pack
    for _ in range(_ROUNDS):
        for _name, adv, _fam, _src, _dst, _form in CASES:
            pack(0x31, adv.vrid, adv.priority, len(adv.addresses), adv.interval_cs, 0) + b"".join(
                a.packed for a in adv.addresses
            )


register(
    "codec_decode",
    ours=decode_ours,
    anchor=decode_floor,
    description=f"decode {PER_REPETITION:,} VRRP messages (v3 v4 both checksum forms, v3 v6, v2 PASS)",
    ours_label="vrrp.core.packet.decode",
    anchor_label="struct.unpack + int.from_bytes (floor)",
    runs=7,
    warmup=1,
)
register(
    "codec_encode",
    ours=encode_ours,
    anchor=encode_floor,
    description=f"encode {PER_REPETITION:,} VRRP messages (same mix)",
    ours_label="vrrp.core.packet.encode",
    anchor_label="struct.pack + join (floor)",
    runs=7,
    warmup=1,
)


def _rate(fn: Callable[[], object], min_time: float, repeats: int = 5) -> float:
    """Best-of-``repeats`` calls per second, each repeat running at least ``min_time`` seconds."""
    n = 1000
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = time.perf_counter() - t0
        if best >= min_time:
            break
        n *= 2
    for _ in range(repeats - 1):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def per_case(min_time: float) -> list[dict[str, object]]:
    """Decode/encode rate per message kind, each with its floor."""
    rows: list[dict[str, object]] = []
    for (name, adv, fam, src, dst, form), (msg, *_) in zip(CASES, MESSAGES, strict=True):
        r_floor = _rate(lambda m=msg: (_HDR.unpack_from(m), int.from_bytes(m, "big") % 0xFFFF), min_time)
        r_dec = _rate(lambda m=msg, f=fam, s=src, d=dst: decode(m, family=f, src=s, dst=d), min_time)
        r_enc = _rate(
            lambda a=adv, f=fam, s=src, d=dst, c=form: encode(a, family=f, src=s, dst=d, checksum_form=c),
            min_time,
        )
        rows.append({
            "case": name, "floor_per_s": round(r_floor), "decode_per_s": round(r_dec),
            "encode_per_s": round(r_enc), "decode_x_floor": round(r_floor / r_dec, 2),
        })  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="VRRP codec decode/encode rate per message kind")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--min-time", type=float, default=0.2, help="seconds per timed repeat (default 0.2)")
    ns = parser.parse_args(argv)
    rows = per_case(ns.min_time)
    if ns.json:
        print(json.dumps({"benchmark": "codec", "python": sys.version.split()[0], "rows": rows}, indent=1))
        return 0
    print(f"{'case':<16} {'floor/s':>10} {'decode/s':>10} {'encode/s':>10} {'decode x floor':>15}")
    for r in rows:
        print(f"{r['case']:<16} {r['floor_per_s']:>10,} {r['decode_per_s']:>10,} {r['encode_per_s']:>10,} "
              f"{r['decode_x_floor']:>15}")  # fmt: skip
    print("decode x floor: times slower than struct.unpack + int.from_bytes of the same bytes (lower is better)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
