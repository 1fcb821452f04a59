"""Conformance of the codec's checksums: items 19, 25 and v2-checksum (RFC 9568 §5.2.8; RFC 3768 §5.3.8).

Oracles: the textbook RFC 1071 checksum in codec_vectors.py, and packets captured from keepalived 2.2.7.
"""

from __future__ import annotations

import socket
from ipaddress import ip_address

import pytest
from codec_vectors import (
    KEEPALIVED_V2_PASS,
    KEEPALIVED_V2_SRC,
    KEEPALIVED_V3_V4,
    KEEPALIVED_V3_V4_3ADDR,
    KEEPALIVED_V3_V4_SRC,
    KEEPALIVED_V3_V6,
    KEEPALIVED_V3_V6_SRC,
    V4_DST,
    V4_SRC,
    V6_DST,
    V6_SRC,
    build,
    pseudo_header,
    rfc1071,
)

from vrrp.core.packet import Advertisement, PacketError, Reason, decode, encode

V4 = socket.AF_INET
V6 = socket.AF_INET6


def _flip_checksum(msg: bytes) -> bytes:
    return msg[:6] + bytes([msg[6] ^ 0x01]) + msg[7:]


# --- 19: the three checksum forms -----------------------------------------------------------------


@pytest.mark.conformance("19", polarity="positive")
def test_19_v3_ipv4_rfc9568_form_matches_rfc1071_over_message_only() -> None:
    adv = Advertisement(3, 51, 100, [ip_address("192.0.2.100")], 100)
    msg = encode(adv, family=V4, src=V4_SRC, dst=V4_DST, checksum_form="rfc9568")
    assert msg == build(vrid=51, priority=100, addresses=("192.0.2.100",), interval=100)
    assert rfc1071(msg[:6] + b"\0\0" + msg[8:]) == int.from_bytes(msg[6:8], "big")
    assert decode(msg, family=V4, src=V4_SRC, dst=V4_DST).checksum_form == "rfc9568"


@pytest.mark.conformance("19", polarity="positive")
def test_19_v3_ipv4_rfc5798_form_includes_pseudo_header_like_keepalived() -> None:
    adv = decode(KEEPALIVED_V3_V4, family=V4, src=KEEPALIVED_V3_V4_SRC, dst=V4_DST)
    assert adv.checksum_form == "rfc5798"
    # Re-encoding keepalived's advert in the RFC 5798 form gives keepalived's bytes exactly.
    again = encode(adv, family=V4, src=KEEPALIVED_V3_V4_SRC, dst=V4_DST, checksum_form="rfc5798")
    assert again == KEEPALIVED_V3_V4
    ours = encode(adv, family=V4, src=V4_SRC, dst=V4_DST, checksum_form="rfc5798")
    assert ours == build(vrid=52, priority=120, addresses=("192.0.2.102",), interval=50, pseudo=(V4_SRC, V4_DST))


@pytest.mark.conformance("19", polarity="positive")
@pytest.mark.conformance("24", polarity="positive")
@pytest.mark.parametrize("padding", [1, 2, 3])
def test_19_24_rfc5798_pseudo_header_counts_the_message_not_the_ethernet_padding(padding: int) -> None:
    """The pseudo-header's length is the VRRP message's (12 bytes here), also when a minimum-size frame pads the
    IP packet with an odd or even number of bytes after it."""
    msg = build(vrid=52, priority=120, addresses=("192.0.2.102",), interval=50, pseudo=(V4_SRC, V4_DST))
    adv = decode(msg + bytes(padding), family=V4, src=V4_SRC, dst=V4_DST)
    assert (adv.checksum_form, adv.vrid) == ("rfc5798", 52)


@pytest.mark.conformance("19", polarity="positive")
def test_19_v3_ipv6_checksum_includes_pseudo_header_like_keepalived() -> None:
    adv = decode(KEEPALIVED_V3_V6, family=V6, src=KEEPALIVED_V3_V6_SRC, dst=V6_DST)
    assert (adv.vrid, adv.priority, adv.interval_cs) == (54, 100, 30)
    assert adv.addresses == [ip_address("fe80::54"), ip_address("2001:db8::54")]
    assert encode(adv, family=V6, src=KEEPALIVED_V3_V6_SRC, dst=V6_DST) == KEEPALIVED_V3_V6
    msg = encode(adv, family=V6, src=V6_SRC, dst=V6_DST)
    body = msg[:6] + b"\0\0" + msg[8:]
    assert int.from_bytes(msg[6:8], "big") == rfc1071(pseudo_header(V6_SRC, V6_DST, len(msg)) + body)


@pytest.mark.conformance("19", polarity="negative")
def test_19_v3_ipv4_rfc5798_packet_from_another_source_is_rejected() -> None:
    # The pseudo-header binds the checksum to the IP addresses: the same bytes "from" another host fail.
    with pytest.raises(PacketError) as err:
        decode(KEEPALIVED_V3_V4, family=V4, src="192.0.2.99", dst=V4_DST)
    assert err.value.reason is Reason.CHECKSUM


@pytest.mark.conformance("19", polarity="negative")
def test_19_v3_ipv6_message_only_checksum_is_rejected() -> None:
    # RFC 9568 drops the pseudo-header for IPv4 only: an IPv6 advert checksummed without it is corrupt.
    msg = build(addresses=("fe80::1",), interval=100)
    with pytest.raises(PacketError) as err:
        decode(msg, family=V6, src=V6_SRC, dst=V6_DST)
    assert err.value.reason is Reason.CHECKSUM


@pytest.mark.conformance("19", polarity="negative")
def test_19_encode_refuses_unknown_checksum_form() -> None:
    adv = Advertisement(3, 51, 100, [ip_address("192.0.2.100")], 100)
    with pytest.raises(ValueError, match="checksum_form"):
        encode(adv, family=V4, src=V4_SRC, dst=V4_DST, checksum_form="rfc3768")  # type: ignore[arg-type]


# --- 25: receive discards on checksum failure -----------------------------------------------------


@pytest.mark.conformance("25", polarity="positive")
@pytest.mark.parametrize(
    ("msg", "family", "src", "dst"),
    [
        (KEEPALIVED_V3_V4, V4, KEEPALIVED_V3_V4_SRC, V4_DST),
        (KEEPALIVED_V3_V4_3ADDR, V4, KEEPALIVED_V3_V4_SRC, V4_DST),
        (KEEPALIVED_V3_V6, V6, KEEPALIVED_V3_V6_SRC, V6_DST),
        (KEEPALIVED_V2_PASS, V4, KEEPALIVED_V2_SRC, V4_DST),
        (build(interval=1), V4, V4_SRC, V4_DST),
    ],
    ids=["keepalived-v3-v4", "keepalived-v3-v4-3addr", "keepalived-v3-v6", "keepalived-v2", "rfc9568"],
)
def test_25_valid_checksums_are_accepted(msg: bytes, family: int, src: str, dst: str) -> None:
    assert decode(msg, family=family, src=src, dst=dst).checksum == int.from_bytes(msg[6:8], "big")


@pytest.mark.conformance("25", polarity="negative")
@pytest.mark.parametrize(
    ("msg", "family", "src"),
    [
        (KEEPALIVED_V3_V4, V4, KEEPALIVED_V3_V4_SRC),
        (KEEPALIVED_V3_V6, V6, KEEPALIVED_V3_V6_SRC),
        (KEEPALIVED_V2_PASS, V4, KEEPALIVED_V2_SRC),
        (build(interval=1), V4, V4_SRC),
    ],
    ids=["v3-v4", "v3-v6", "v2", "rfc9568"],
)
def test_25_corrupted_checksum_is_discarded(msg: bytes, family: int, src: str) -> None:
    dst = V6_DST if family == V6 else V4_DST
    with pytest.raises(PacketError) as err:
        decode(_flip_checksum(msg), family=family, src=src, dst=dst)
    assert err.value.reason is Reason.CHECKSUM


@pytest.mark.conformance("25", polarity="negative")
def test_25_corrupted_address_is_discarded_as_checksum_error() -> None:
    msg = bytearray(KEEPALIVED_V3_V4_3ADDR)
    msg[-1] ^= 0x80  # last VIP 192.0.2.105 -> 192.0.2.233
    with pytest.raises(PacketError) as err:
        decode(bytes(msg), family=V4, src=KEEPALIVED_V3_V4_SRC, dst=V4_DST)
    assert err.value.reason is Reason.CHECKSUM


# --- v2-checksum: whole message incl. auth data, never a pseudo-header ----------------------------


@pytest.mark.conformance("v2-checksum", polarity="positive")
def test_v2_checksum_covers_auth_data_without_pseudo_header() -> None:
    adv = decode(KEEPALIVED_V2_PASS, family=V4, src=KEEPALIVED_V2_SRC, dst=V4_DST)
    assert adv.auth_data == b"secret12"
    assert rfc1071(KEEPALIVED_V2_PASS[:6] + b"\0\0" + KEEPALIVED_V2_PASS[8:]) == adv.checksum
    # src/dst play no part: the same bytes decode whatever the addresses, and encode ignores the form.
    assert decode(KEEPALIVED_V2_PASS, family=V4, src="10.9.9.9", dst="10.8.8.8") == adv
    assert encode(adv, family=V4, src="10.9.9.9", dst="10.8.8.8", checksum_form="rfc5798") == KEEPALIVED_V2_PASS


@pytest.mark.conformance("v2-checksum", polarity="negative")
def test_v2_checksum_with_pseudo_header_is_rejected() -> None:
    msg = build(version=2, interval=1, pseudo=(V4_SRC, V4_DST))
    with pytest.raises(PacketError) as err:
        decode(msg, family=V4, src=V4_SRC, dst=V4_DST)
    assert err.value.reason is Reason.CHECKSUM


@pytest.mark.conformance("v2-checksum", polarity="negative")
def test_v2_checksum_excluding_auth_data_is_rejected() -> None:
    good = build(version=2, interval=1, auth_type=1, auth_data=b"secret12")
    short_sum = rfc1071(good[:6] + b"\0\0" + good[8:-8])  # checksum over the header and addresses only
    bad = good[:6] + short_sum.to_bytes(2, "big") + good[8:]
    with pytest.raises(PacketError) as err:
        decode(bad, family=V4, src=V4_SRC, dst=V4_DST)
    assert err.value.reason is Reason.CHECKSUM
