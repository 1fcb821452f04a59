"""Hypothesis properties of the VRRP codec (RFC 9568 §5, packet-level properties).

* decode(encode(a)) == a for every valid advertisement, v2 and v3, IPv4 and IPv6, both v3 IPv4 checksum forms;
* decode of arbitrary bytes (random, or a valid packet with bytes overwritten) raises nothing but PacketError;
* a single flipped bit anywhere in a valid message is rejected (for v3 IPv4, where both checksum forms are
  accepted, the only escape is "verifies in the *other* form", which the test pins down exactly);
* v2 never uses a pseudo-header; v3 IPv4 uses the configured form and decode reports it.
"""

from __future__ import annotations

import contextlib
import socket
from ipaddress import IPv4Address, IPv6Address

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vrrp.core.packet import Advertisement, PacketError, Reason, decode, encode

SETTINGS = settings(max_examples=300, deadline=None)
V4, V6 = socket.AF_INET, socket.AF_INET6

v4_addr = st.builds(IPv4Address, st.integers(0, 2**32 - 1))
v6_addr = st.builds(IPv6Address, st.integers(0, 2**128 - 1))
forms = st.sampled_from(["rfc9568", "rfc5798"])


@st.composite
def advertisements(draw: st.DrawFn, version: int | None = None, family: int | None = None) -> tuple:
    """(advertisement, family, src, dst) for any valid combination."""
    version = draw(st.sampled_from([2, 3])) if version is None else version
    family = (V4 if version == 2 else draw(st.sampled_from([V4, V6]))) if family is None else family
    addr = v4_addr if family == V4 else v6_addr
    addresses = draw(st.lists(addr, min_size=1, max_size=20))
    common = {
        "version": version,
        "vrid": draw(st.integers(1, 255)),
        "priority": draw(st.integers(0, 255)),
        "addresses": addresses,
    }
    if version == 3:
        adv = Advertisement(**common, interval_cs=draw(st.integers(1, 4095)))
    else:
        adv = Advertisement(
            **common,
            interval_cs=100 * draw(st.integers(1, 255)),
            auth_type=draw(st.integers(0, 2)),
            auth_data=draw(st.binary(min_size=8, max_size=8)),
        )
    return adv, family, draw(addr), draw(addr)


@SETTINGS
@given(case=advertisements(), form=forms)
def test_round_trip(case: tuple, form: str) -> None:
    adv, family, src, dst = case
    msg = encode(adv, family=family, src=src, dst=dst, checksum_form=form)  # type: ignore[arg-type]
    back = decode(msg, family=family, src=src, dst=dst)
    assert back == adv
    assert encode(back, family=family, src=src, dst=dst, checksum_form=form) == msg  # type: ignore[arg-type]


@SETTINGS
@given(data=st.binary(max_size=600), family=st.sampled_from([V4, V6, 4, 6]), pair=st.data())
def test_arbitrary_bytes_raise_only_packet_error(data: bytes, family: int, pair: st.DataObject) -> None:
    addr = v4_addr if family in (V4, 4) else v6_addr
    src, dst = pair.draw(addr), pair.draw(addr)
    try:
        adv = decode(data, family=family, src=src, dst=dst)
    except PacketError as err:
        assert isinstance(err.reason, Reason)
        assert str(err)
    else:
        assert adv.version in (2, 3) and adv.addresses


@SETTINGS
@given(case=advertisements(), form=forms, edits=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255))))
def test_mutated_packets_raise_only_packet_error(case: tuple, form: str, edits: list) -> None:
    adv, family, src, dst = case
    msg = bytearray(encode(adv, family=family, src=src, dst=dst, checksum_form=form))  # type: ignore[arg-type]
    for pos, value in edits:
        msg[pos % len(msg)] = value
    with contextlib.suppress(PacketError):
        decode(bytes(msg), family=family, src=src, dst=dst)


@SETTINGS
@given(case=advertisements(), form=forms, bit=st.integers(0, 2**16))
def test_single_bit_flip_is_rejected(case: tuple, form: str, bit: int) -> None:
    adv, family, src, dst = case
    msg = bytearray(encode(adv, family=family, src=src, dst=dst, checksum_form=form))  # type: ignore[arg-type]
    bit %= len(msg) * 8
    msg[bit // 8] ^= 0x80 >> (bit % 8)
    try:
        back = decode(bytes(msg), family=family, src=src, dst=dst)
    except PacketError:
        return
    # Only possible for v3 IPv4: the flip turned a valid checksum of one form into a valid one of the other.
    assert adv.version == 3 and family == V4
    assert back.checksum_form != form


@SETTINGS
@given(case=advertisements(version=2), other=st.tuples(v4_addr, v4_addr), form=forms)
def test_v2_checksum_never_uses_a_pseudo_header(case: tuple, other: tuple, form: str) -> None:
    adv, family, src, dst = case
    msg = encode(adv, family=family, src=src, dst=dst)
    assert encode(adv, family=family, src=other[0], dst=other[1], checksum_form=form) == msg  # type: ignore[arg-type]
    assert decode(msg, family=family, src=other[0], dst=other[1]) == adv


@SETTINGS
@given(case=advertisements(version=3, family=V4), form=forms)
def test_v3_ipv4_checksum_follows_the_configured_form(case: tuple, form: str) -> None:
    adv, family, src, dst = case
    msg = encode(adv, family=family, src=src, dst=dst, checksum_form=form)  # type: ignore[arg-type]
    other = encode(adv, family=family, src=src, dst=dst, checksum_form="rfc5798" if form == "rfc9568" else "rfc9568")
    # The forms coincide only when the pseudo-header sums to 0 (mod 0xFFFF); then both are the same bytes.
    assume(msg != other)
    assert decode(msg, family=family, src=src, dst=dst).checksum_form == form
