"""Conformance of the codec's packet format and receive checks (RFC 9568 §5, §7.1; RFC 3768 §5).

Packets are built field by field with codec_vectors.build (struct + RFC 1071), independent of the encoder.
"""

from __future__ import annotations

import socket
from ipaddress import ip_address

import pytest
from codec_vectors import V4_DST, V4_SRC, V6_DST, V6_SRC, build

from vrrp.core.packet import Advertisement, PacketError, Reason, decode, encode

V4 = socket.AF_INET
V6 = socket.AF_INET6
VIP = ip_address("192.0.2.100")


def _reject(msg: bytes, family: int = V4, **kw: bool) -> Reason:
    src, dst = (V6_SRC, V6_DST) if family == V6 else (V4_SRC, V4_DST)
    with pytest.raises(PacketError) as err:
        decode(msg, family=family, src=src, dst=dst, **kw)
    return err.value.reason


def _accept(msg: bytes, family: int = V4, **kw: bool) -> Advertisement:
    src, dst = (V6_SRC, V6_DST) if family == V6 else (V4_SRC, V4_DST)
    return decode(msg, family=family, src=src, dst=dst, **kw)


def _enc(adv: Advertisement, family: int = V4) -> bytes:
    src, dst = (V6_SRC, V6_DST) if family == V6 else (V4_SRC, V4_DST)
    return encode(adv, family=family, src=src, dst=dst)


# --- 10: Version = 3 ------------------------------------------------------------------------------


@pytest.mark.conformance("10", polarity="positive")
def test_10_v3_encodes_version_3_in_the_high_nibble() -> None:
    msg = _enc(Advertisement(3, 7, 100, [VIP], 100))
    assert msg[0] >> 4 == 3
    assert msg == build(vrid=7)


@pytest.mark.conformance("10", polarity="negative")
def test_10_encoder_refuses_a_version_other_than_2_or_3() -> None:
    with pytest.raises(ValueError, match="version"):
        _enc(Advertisement(4, 7, 100, [VIP], 100))


# --- 11: Type 1 only ------------------------------------------------------------------------------


@pytest.mark.conformance("11", polarity="positive")
def test_11_type_1_advertisement_is_accepted_and_encoded() -> None:
    assert _accept(build(type_=1)).type == 1
    assert _enc(Advertisement(3, 51, 100, [VIP], 100))[0] & 0x0F == 1


@pytest.mark.conformance("11", polarity="negative")
@pytest.mark.parametrize("type_", [0, *range(2, 16)])
def test_11_unknown_type_is_discarded(type_: int) -> None:
    assert _reject(build(type_=type_)) is Reason.TYPE
    assert _reject(build(version=2, type_=type_, interval=1)) is Reason.TYPE


# --- 12: VRID 1-255 -------------------------------------------------------------------------------


@pytest.mark.conformance("12", polarity="positive")
@pytest.mark.parametrize("vrid", [1, 255])
def test_12_vrid_bounds_round_trip(vrid: int) -> None:
    msg = _enc(Advertisement(3, vrid, 100, [VIP], 100))
    assert msg[1] == vrid
    assert _accept(msg).vrid == vrid


@pytest.mark.conformance("12", polarity="negative")
@pytest.mark.parametrize("vrid", [0, 256, -1])
def test_12_encoder_refuses_vrid_outside_1_255(vrid: int) -> None:
    with pytest.raises(ValueError, match="vrid"):
        _enc(Advertisement(3, vrid, 100, [VIP], 100))


@pytest.mark.conformance("12", polarity="negative")
def test_12_decoder_refuses_vrid_0_like_the_encoder() -> None:
    """One rule (``VRIDS``) for both directions: what the encoder refuses to send is not decoded either."""
    assert _reject(build(vrid=0)) is Reason.VRID
    assert _reject(build(version=2, vrid=0, interval=1)) is Reason.VRID
    assert _accept(build(vrid=1)).vrid == 1


# --- 16: Count >= 1; Count 0 ignored --------------------------------------------------------------


@pytest.mark.conformance("16", polarity="positive")
@pytest.mark.parametrize("n", [1, 2, 20])
def test_16_count_matches_the_address_list(n: int) -> None:
    addrs = tuple(f"192.0.2.{i}" for i in range(1, n + 1))
    msg = build(addresses=addrs)
    assert msg[3] == n
    assert [str(a) for a in _accept(msg).addresses] == list(addrs)
    assert _enc(Advertisement(3, 51, 100, [ip_address(a) for a in addrs], 100)) == msg


@pytest.mark.conformance("16", polarity="negative")
def test_16_count_0_is_discarded_and_never_encoded() -> None:
    assert _reject(build(addresses=())) is Reason.ADDRESS_LIST
    assert _reject(build(version=2, interval=1, addresses=())) is Reason.ADDRESS_LIST
    with pytest.raises(ValueError, match="addresses"):
        _enc(Advertisement(3, 51, 100, [], 100))


# --- 17: Rsvd zero on transmit, ignored on receive ------------------------------------------------


@pytest.mark.conformance("17", polarity="positive")
@pytest.mark.parametrize("rsvd", [0x1, 0x8, 0xF])
def test_17_reserved_bits_are_ignored_on_receive(rsvd: int) -> None:
    adv = _accept(build(rsvd=rsvd, interval=100))
    assert adv.interval_cs == 100  # the reserved nibble does not leak into Max Adver Int
    assert adv == _accept(build(rsvd=0, interval=100))


@pytest.mark.conformance("17", polarity="negative")
def test_17_reserved_bits_are_never_sent() -> None:
    adv = _accept(build(rsvd=0xF, interval=4095))
    msg = _enc(adv)
    assert msg[4] >> 4 == 0
    assert msg == build(rsvd=0, interval=4095)


# --- 18: Max Adver Int, 12 bits of centiseconds, 1-4095 -------------------------------------------


@pytest.mark.conformance("18", polarity="positive")
@pytest.mark.parametrize("cs", [1, 100, 4095])
def test_18_interval_bounds_round_trip_in_centiseconds(cs: int) -> None:
    msg = _enc(Advertisement(3, 51, 100, [VIP], cs))
    assert int.from_bytes(msg[4:6], "big") == cs
    assert _accept(msg).interval_cs == cs


@pytest.mark.conformance("18", polarity="negative")
@pytest.mark.parametrize("cs", [0, 4096, 10000])
def test_18_encoder_refuses_interval_outside_1_4095(cs: int) -> None:
    with pytest.raises(ValueError, match="interval_cs"):
        _enc(Advertisement(3, 51, 100, [VIP], cs))


@pytest.mark.conformance("18", polarity="negative")
def test_18_received_interval_0_is_discarded() -> None:
    assert _reject(build(interval=0)) is Reason.INTERVAL
    assert _reject(build(interval=0, rsvd=0xF)) is Reason.INTERVAL  # reserved bits do not make it non-zero


# --- 20: never mixed families ---------------------------------------------------------------------


@pytest.mark.conformance("20", polarity="positive")
def test_20_one_family_per_advert_round_trips() -> None:
    v6 = [ip_address("fe80::1"), ip_address("2001:db8::1")]
    assert _accept(_enc(Advertisement(3, 51, 100, v6, 100), V6), V6).addresses == v6
    v4 = [VIP, ip_address("198.51.100.1")]
    assert _accept(_enc(Advertisement(3, 51, 100, v4, 100))).addresses == v4


@pytest.mark.conformance("20", polarity="negative")
def test_20_encoder_refuses_mixed_or_foreign_families() -> None:
    with pytest.raises(ValueError, match="never mix"):
        _enc(Advertisement(3, 51, 100, [VIP, ip_address("fe80::1")], 100))
    with pytest.raises(ValueError, match="never mix"):
        _enc(Advertisement(3, 51, 100, [ip_address("fe80::1")], 100), V4)
    with pytest.raises(ValueError, match="never mix"):
        _enc(Advertisement(3, 51, 100, [VIP], 100), V6)


# --- 21: IPv6 first address link-local (erratum 8300; opt-in on receive) --------------------------


@pytest.mark.conformance("21", polarity="positive")
def test_21_link_local_first_is_accepted_in_strict_mode() -> None:
    msg = build(addresses=("fe80::1", "2001:db8::1"), pseudo=(V6_SRC, V6_DST))
    assert _accept(msg, V6, require_link_local_first=True).addresses[0] == ip_address("fe80::1")


@pytest.mark.conformance("21", polarity="negative")
def test_21_global_first_is_discarded_in_strict_mode_only() -> None:
    msg = build(addresses=("2001:db8::1", "fe80::1"), pseudo=(V6_SRC, V6_DST))
    assert _reject(msg, V6, require_link_local_first=True) is Reason.ADDRESS_LIST
    # Default (keepalived interop): accepted, the router may still log it.
    assert _accept(msg, V6).addresses[0] == ip_address("2001:db8::1")


# --- 23: version check ----------------------------------------------------------------------------


@pytest.mark.conformance("23", polarity="positive")
def test_23_versions_2_and_3_are_decoded_as_such() -> None:
    assert _accept(build(version=3)).version == 3
    assert _accept(build(version=2, interval=1)).version == 2


@pytest.mark.conformance("23", polarity="negative")
@pytest.mark.parametrize("version", [0, 1, 4, 15])
def test_23_other_versions_are_discarded(version: int) -> None:
    assert _reject(build(version=version)) is Reason.VERSION


# --- 24: the complete packet, Ethernet padding tolerated ------------------------------------------


@pytest.mark.conformance("24", polarity="positive")
@pytest.mark.parametrize(("version", "pad"), [(3, 14), (3, 1), (2, 6)])
def test_24_ethernet_padding_up_to_the_minimum_frame_is_tolerated(version: int, pad: int) -> None:
    # A 20-byte IP header + this message + pad == 46 bytes, the minimum Ethernet payload.
    msg = build(version=version, interval=1 if version == 2 else 100)
    assert _accept(msg + b"\xaa" * pad) == _accept(msg)


@pytest.mark.conformance("24", polarity="negative")
@pytest.mark.parametrize("cut", [1, 4, 7, 11])
def test_24_truncated_packets_are_discarded(cut: int) -> None:
    assert _reject(build(addresses=("192.0.2.1", "192.0.2.2"))[:-cut]) is Reason.LENGTH


@pytest.mark.conformance("24", polarity="negative")
def test_24_over_long_packets_beyond_padding_are_discarded() -> None:
    msg = build()  # 12 bytes; 20 + 12 + 15 > 46
    assert _reject(msg + bytes(15)) is Reason.LENGTH
    v6 = build(addresses=("fe80::1",), pseudo=(V6_SRC, V6_DST))  # IPv6 packets are never padded
    assert _reject(v6 + bytes(1), V6) is Reason.LENGTH
    # Count says 2 addresses but 5 are there: more than padding could explain.
    five = tuple(f"192.0.2.{i}" for i in range(1, 6))
    assert _reject(build(addresses=five, count=2)) is Reason.LENGTH


@pytest.mark.conformance("24", polarity="negative")
@pytest.mark.parametrize("n", range(8))
def test_24_shorter_than_the_fixed_header_is_discarded(n: int) -> None:
    assert _reject(build()[:n]) is Reason.LENGTH


# --- 29: (RFC 9568) type 1 and Max Adver Int != 0 -------------------------------------------------


@pytest.mark.conformance("29", polarity="positive")
def test_29_type_1_with_nonzero_interval_is_accepted() -> None:
    adv = _accept(build(type_=1, interval=1))
    assert (adv.type, adv.interval_cs) == (1, 1)


@pytest.mark.conformance("29", polarity="negative")
def test_29_type_or_interval_zero_is_discarded() -> None:
    assert _reject(build(type_=0)) is Reason.TYPE
    assert _reject(build(interval=0)) is Reason.INTERVAL


# --- v2-families: VRRPv2 is IPv4 only -------------------------------------------------------------


@pytest.mark.conformance("v2-families", polarity="positive")
def test_v2_families_ipv4_round_trips() -> None:
    adv = Advertisement(2, 51, 100, [VIP], 100, auth_data=bytes(8))
    assert _accept(_enc(adv)) == adv


@pytest.mark.conformance("v2-families", polarity="negative")
def test_v2_families_ipv6_is_refused_both_ways() -> None:
    with pytest.raises(ValueError, match="IPv4 only"):
        _enc(Advertisement(2, 51, 100, [ip_address("fe80::1")], 100), V6)
    v2_over_v6 = build(version=2, interval=1, addresses=("fe80::1",))
    assert _reject(v2_over_v6, V6) is Reason.VERSION


# --- v2-format: Auth Type, Adver Int (s), 8 bytes of Authentication Data --------------------------


@pytest.mark.conformance("v2-format", polarity="positive")
def test_v2_format_fields_are_where_rfc3768_puts_them() -> None:
    adv = Advertisement(2, 9, 200, [VIP, ip_address("192.0.2.101")], 300, auth_type=1, auth_data=b"abcdefgh")
    msg = _enc(adv)
    assert msg == build(
        version=2,
        vrid=9,
        priority=200,
        addresses=("192.0.2.100", "192.0.2.101"),
        interval=3,
        auth_type=1,
        auth_data=b"abcdefgh",
    )
    assert (msg[4], msg[5], msg[-8:]) == (1, 3, b"abcdefgh")
    assert len(msg) == 8 + 2 * 4 + 8
    assert _accept(msg) == adv


@pytest.mark.conformance("v2-format", polarity="negative")
def test_v2_format_missing_auth_data_is_a_length_error() -> None:
    full = build(version=2, interval=1, addresses=("192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"))
    # Without the 8 auth bytes the message is 24 bytes: 20 + 24 = 44 <= 46 would look like "padding" if the
    # codec did not require the trailer first.
    assert _reject(full[:-8]) is Reason.LENGTH


# --- v2-advert-int: whole seconds, 1-255 ----------------------------------------------------------


@pytest.mark.conformance("v2-advert-int", polarity="positive")
@pytest.mark.parametrize("secs", [1, 3, 255])
def test_v2_advert_int_seconds_become_centiseconds(secs: int) -> None:
    adv = _accept(build(version=2, interval=secs))
    assert adv.interval_cs == secs * 100
    assert _enc(adv)[5] == secs


@pytest.mark.conformance("v2-advert-int", polarity="negative")
@pytest.mark.parametrize("cs", [0, 50, 150, 25600])
def test_v2_advert_int_sub_second_or_out_of_range_is_refused(cs: int) -> None:
    with pytest.raises(ValueError, match="whole number of seconds"):
        _enc(Advertisement(2, 51, 100, [VIP], cs))


@pytest.mark.conformance("v2-advert-int", polarity="negative")
def test_v2_advert_int_zero_is_discarded() -> None:
    assert _reject(build(version=2, interval=0)) is Reason.INTERVAL


# --- v2-auth-data: zero on transmit without auth, ignored on receive ------------------------------


@pytest.mark.conformance("v2-auth-data", polarity="positive")
def test_v2_auth_data_is_ignored_on_receive_without_auth() -> None:
    adv = _accept(build(version=2, interval=1, auth_type=0, auth_data=b"\xff" * 8))
    assert adv.auth_type == 0  # accepted; the bytes are reported but carry no meaning


@pytest.mark.conformance("v2-auth-data", polarity="negative")
def test_v2_auth_data_is_zero_on_transmit_without_auth() -> None:
    msg = _enc(Advertisement(2, 51, 100, [VIP], 100))
    assert msg[-8:] == bytes(8)
    assert msg[4] == 0
