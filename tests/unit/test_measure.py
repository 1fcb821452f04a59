"""Failover measurement (netns_lab.measure) and frame parsing (netns_lab.capture), without a network."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netns_lab.capture import AdvertSeen, BadPacket, Capture, CaptureError, parse_frame
from netns_lab.measure import find_failover, master_down_interval, masters, skew_time
from vrrp.core.packet import Advertisement, encode


@dataclass(frozen=True)
class Adv:
    t: float
    src: str
    vrid: int = 51
    priority: int = 100
    version: int = 3
    interval_cs: int = 100


# ---- the bound (RFC 9568 §6.1 worked numbers)


@pytest.mark.parametrize(
    ("version", "priority", "interval", "expected"),
    [
        (3, 100, 1.0, 3.609375),
        (3, 100, 0.1, 0.3609375),
        (3, 100, 0.01, 0.03609375),
        (3, 254, 1.0, 3.0078125),
        (2, 100, 1.0, 3.609375),
        (2, 100, 2.0, 6.609375),  # v2 skew is in whole seconds / 256, independent of the interval
        (3, 100, 2.0, 7.21875),
    ],
)
def test_master_down_interval_matches_the_rfc_formulas(
    version: int, priority: int, interval: float, expected: float
) -> None:
    assert master_down_interval(version, priority, interval) == pytest.approx(expected)


def test_skew_and_down_adverts() -> None:
    assert skew_time(3, 255, 1.0) == pytest.approx(1 / 256)
    assert skew_time(2, 1, 5.0) == pytest.approx(255 / 256)
    assert master_down_interval(3, 100, 1.0, down_adverts=5) == pytest.approx(5.609375)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((4, 100, 1.0), "version"),
        ((3, 0, 1.0), "priority"),
        ((3, 256, 1.0), "priority"),
        ((3, 100, 0.0), "interval"),
    ],
)
def test_bad_bound_arguments_name_the_field(args: tuple[int, int, float], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        master_down_interval(*args)


# ---- finding the takeover


def _stream(master_until: float, takeover_at: float, interval: float = 1.0) -> list[Adv]:
    old = [Adv(t=i * interval, src="10.0.0.11", priority=150) for i in range(int(master_until / interval) + 1)]
    new = [Adv(t=takeover_at + i * interval, src="10.0.0.12", priority=100) for i in range(3)]
    return old + new


def test_failover_gap_is_last_old_to_first_new() -> None:
    adverts = _stream(master_until=5.0, takeover_at=8.62)
    f = find_failover(adverts, 51, after=5.4)
    assert f is not None
    assert (f.old_master, f.new_master) == ("10.0.0.11", "10.0.0.12")
    assert f.last_old == 5.0 and f.first_new == 8.62
    assert f.gap == pytest.approx(3.62)
    assert f.master_down_interval == pytest.approx(3.609375)  # the new master's priority, the old interval
    assert f.within(1.0) and not f.within(0.001)
    assert f.excess == pytest.approx(3.62 - 3.609375)


def test_startup_adverts_from_the_backup_are_not_a_takeover() -> None:
    adverts = [Adv(0.0, "10.0.0.12"), Adv(0.5, "10.0.0.11", priority=150)] + [
        Adv(1.0 + i, "10.0.0.11", priority=150) for i in range(4)
    ]
    adverts.append(Adv(7.7, "10.0.0.12"))
    f = find_failover(adverts, 51, after=4.2)
    assert f is not None and f.last_old == 4.0 and f.first_new == 7.7


def test_no_takeover_yet_gives_none() -> None:
    adverts = [Adv(float(i), "10.0.0.11") for i in range(5)]
    assert find_failover(adverts, 51, after=2.5) is None
    assert find_failover([], 51) is None
    assert find_failover(adverts, 51, after=-1.0) is None  # nothing before the kill


def test_other_vrids_and_priority_zero_are_ignored() -> None:
    adverts = [Adv(0.0, "10.0.0.11"), Adv(1.0, "10.0.0.11"), Adv(1.5, "10.0.0.12", vrid=52)]
    adverts += [Adv(2.0, "10.0.0.11", priority=0), Adv(5.0, "10.0.0.12")]
    f = find_failover(adverts, 51, after=1.2)
    assert f is not None and f.last_old == 1.0 and f.first_new == 5.0


def test_masters_splits_the_stream_into_spans() -> None:
    spans = masters(_stream(master_until=2.0, takeover_at=5.0), 51)
    assert [(s.src, s.first, s.last, s.count, s.priority) for s in spans] == [
        ("10.0.0.11", 0.0, 2.0, 3, 150),
        ("10.0.0.12", 5.0, 7.0, 3, 100),
    ]


@given(
    interval_cs=st.integers(1, 4095),
    n_before=st.integers(1, 20),
    delay=st.floats(0.0, 50.0, allow_nan=False),
    kill_frac=st.floats(0.0, 0.999),
    priority=st.integers(1, 254),
)
def test_gap_is_recovered_exactly_from_any_stream(
    interval_cs: int, n_before: int, delay: float, kill_frac: float, priority: int
) -> None:
    interval = interval_cs / 100
    old = [Adv(i * interval, "a", priority=255, interval_cs=interval_cs) for i in range(n_before)]
    last = old[-1].t
    kill = last + kill_frac * interval
    first = kill + delay + 1e-6  # the takeover follows the crash
    new = [Adv(first + i * interval, "b", priority=priority, interval_cs=interval_cs) for i in range(2)]
    f = find_failover(old + new, 51, after=kill)
    assert f is not None
    assert (f.old_master, f.new_master) == ("a", "b")
    assert f.gap == pytest.approx(first - last)
    assert f.master_down_interval == pytest.approx(master_down_interval(3, priority, interval))


# ---- frames on the wire


def _eth(ethertype: int, payload: bytes) -> bytes:
    return bytes.fromhex("01005e000012") + bytes.fromhex("0200000000aa") + ethertype.to_bytes(2, "big") + payload


def _ipv4(src: str, dst: str, body: bytes, *, ttl: int = 255, proto: int = 112) -> bytes:
    total = 20 + len(body)
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0xC0,
        total,
        0,
        0,
        ttl,
        proto,
        0,
        IPv4Address(src).packed,
        IPv4Address(dst).packed,
    )
    return header + body


def test_parse_frame_decodes_a_v3_ipv4_advert_with_keepalived_checksum() -> None:
    adv = Advertisement(3, 51, 150, [IPv4Address("10.0.0.100")], 10)
    msg = encode(adv, family=socket.AF_INET, src="10.0.0.11", dst="224.0.0.18", checksum_form="rfc5798")
    frame = _eth(0x0800, _ipv4("10.0.0.11", "224.0.0.18", msg)) + bytes(10)  # Ethernet padding
    seen = parse_frame(frame, 12.5)
    assert isinstance(seen, AdvertSeen)
    assert (seen.t, seen.src, seen.dst, seen.ttl, seen.src_mac) == (
        12.5,
        "10.0.0.11",
        "224.0.0.18",
        255,
        "02:00:00:00:00:aa",
    )
    assert (seen.version, seen.vrid, seen.priority, seen.interval_cs, seen.addresses) == (
        3,
        51,
        150,
        10,
        ("10.0.0.100",),
    )
    assert seen.interval == pytest.approx(0.1)


def test_parse_frame_decodes_v2_behind_a_vlan_tag() -> None:
    adv = Advertisement(2, 7, 100, [IPv4Address("10.0.0.100"), IPv4Address("10.0.0.101")], 100)
    msg = encode(adv, family=socket.AF_INET, src="10.0.0.12", dst="224.0.0.18")
    tagged = bytes.fromhex("000a") + (0x0800).to_bytes(2, "big") + _ipv4("10.0.0.12", "224.0.0.18", msg)
    seen = parse_frame(_eth(0x8100, tagged), 1.0)
    assert isinstance(seen, AdvertSeen)
    assert (seen.version, seen.vrid, seen.addresses, seen.interval_cs) == (
        2,
        7,
        ("10.0.0.100", "10.0.0.101"),
        100,
    )


def test_parse_frame_decodes_ipv6() -> None:
    src, dst = "fe80::1", "ff02::12"
    adv = Advertisement(3, 9, 200, [IPv6Address("fe80::100"), IPv6Address("fd00::100")], 100)
    msg = encode(adv, family=socket.AF_INET6, src=src, dst=dst)
    ip6 = struct.pack("!IHBB16s16s", 6 << 28, len(msg), 112, 255, IPv6Address(src).packed, IPv6Address(dst).packed)
    seen = parse_frame(_eth(0x86DD, ip6 + msg), 2.0)
    assert isinstance(seen, AdvertSeen)
    assert (seen.family, seen.src, seen.priority, seen.addresses) == (
        6,
        "fe80::1",
        200,
        ("fe80::100", "fd00::100"),
    )


def test_parse_frame_reports_a_corrupted_advert_and_skips_other_traffic() -> None:
    adv = Advertisement(3, 51, 150, [IPv4Address("10.0.0.100")], 100)
    msg = bytearray(encode(adv, family=socket.AF_INET, src="10.0.0.11", dst="224.0.0.18"))
    msg[2] ^= 0xFF  # priority flipped, checksum now wrong
    bad = parse_frame(_eth(0x0800, _ipv4("10.0.0.11", "224.0.0.18", bytes(msg))), 3.0)
    assert isinstance(bad, BadPacket) and "checksum" in bad.error.lower()
    assert parse_frame(_eth(0x0800, _ipv4("10.0.0.11", "10.0.0.12", b"x" * 20, proto=6)), 3.0) is None
    assert parse_frame(_eth(0x0806, b"\x00" * 28), 3.0) is None  # ARP
    assert parse_frame(b"\x00" * 10, 3.0) is None


def test_capture_names_a_missing_namespace() -> None:
    capture = Capture("netns-lab-no-such-namespace", "br0")
    with pytest.raises(CaptureError, match="no network namespace 'netns-lab-no-such-namespace'"):
        capture.start()
    capture.stop()  # idempotent after a failed start
