"""The sans-IO core's refusals, word for word: each bad input names its field (RouterConfig: the keepalived
keyword) and what was seen, and each boundary value one step inside is accepted.

These messages are what a user reads in the daemon's log or in ``-t`` output, so they are pinned here; the
mutation run over vrrp/core (docs/mutation.md) relies on this table to notice a message or a bound that
changed."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from tests.router_kit import config
from vrrp.core.config import RouterConfigError
from vrrp.core.packet import (
    AUTH_AH,
    AUTH_PASS,
    MULTICAST_V4,
    MULTICAST_V6,
    Advertisement,
    PacketError,
    Reason,
    check_v2_auth,
    decode,
    encode,
)
from vrrp.core.tracking import Tracker

V6 = IPv6Address("fe80::2")
LL = IPv6Address("fe80::1")
S4, S6 = IPv4Address("10.0.0.1"), IPv6Address("fe80::1")
VIPS = [IPv4Address("10.0.0.100")]

# ------------------------------------------------------------------------------------------ RouterConfig

CONFIG_REFUSALS: list[tuple[dict[str, object], str]] = [
    ({"vrid": 0}, "virtual_router_id: must be 1..255, not 0"),
    ({"vrid": 256}, "virtual_router_id: must be 1..255, not 256"),
    ({"priority": 0}, "priority: must be 1..255, not 0"),
    ({"priority": 256}, "priority: must be 1..255, not 256"),
    ({"version": 4}, "version: must be 2 or 3, not 4"),
    ({"version": 2, "primary_address": V6, "virtual_ipaddress": (LL,)},
     "version: VRRPv2 is IPv4 only; use version 3 for IPv6"),
    ({"version": 2, "advert_int_cs": 150}, "advert_int: VRRPv2 needs whole seconds 1..255, not 1.5 s"),
    ({"version": 2, "advert_int_cs": 0}, "advert_int: VRRPv2 needs whole seconds 1..255, not 0 s"),
    ({"version": 2, "advert_int_cs": 25600}, "advert_int: VRRPv2 needs whole seconds 1..255, not 256 s"),
    ({"advert_int_cs": 0}, "advert_int: VRRPv3 needs 0.01..40.95 s, not 0 s"),
    ({"advert_int_cs": 4096}, "advert_int: VRRPv3 needs 0.01..40.95 s, not 40.96 s"),
    ({"virtual_ipaddress": ()}, "virtual_ipaddress: at least one address is required"),
    ({"virtual_ipaddress": (LL,)}, "virtual_ipaddress: addresses must all be IPv4 like the source address"),
    ({"unicast_peer": (LL,)}, "unicast_peer: peers must be IPv4"),
    ({"preempt_delay_us": -1}, "preempt_delay: must be 0..1000 s"),
    ({"preempt_delay_us": 1000 * 1_000_000 + 1}, "preempt_delay: must be 0..1000 s"),
    ({"down_timer_adverts": 0}, "down_timer_adverts: must be 1..100, not 0"),
    ({"down_timer_adverts": 101}, "down_timer_adverts: must be 1..100, not 101"),
    ({"garp_master_repeat": -1}, "garp_master_repeat: must not be negative"),
    ({"garp_lower_prio_repeat": -1}, "garp_lower_prio_repeat: must not be negative"),
    ({"auth_type": 3}, "auth_type: must be PASS or AH, not 3"),
    ({"trackers": (Tracker("a"), Tracker("a"))}, "track: a tracker is listed twice"),
]  # fmt: skip


@pytest.mark.parametrize(("settings", "message"), CONFIG_REFUSALS)
def test_router_config_refusals_name_the_keyword_and_the_value(settings: dict[str, object], message: str) -> None:
    with pytest.raises(RouterConfigError) as err:
        config(**settings)
    assert str(err.value) == message
    assert err.value.field == message.split(":", 1)[0]


@pytest.mark.parametrize(
    "settings",
    [
        {"vrid": 255},
        {"vrid": 1},
        {"priority": 1},
        {"priority": 255},
        {"version": 2, "advert_int_cs": 100},
        {"version": 2, "advert_int_cs": 25500},
        {"advert_int_cs": 1},
        {"advert_int_cs": 4095},
        {"preempt_delay_us": 0},
        {"preempt_delay_us": 1000 * 1_000_000},
        {"down_timer_adverts": 1},
        {"down_timer_adverts": 100},
        {"garp_master_repeat": 0},
        {"garp_lower_prio_repeat": 0},
        {"auth_type": AUTH_AH},
    ],
)
def test_router_config_accepts_every_bound(settings: dict[str, object]) -> None:
    cfg = config(**settings)
    for key, value in settings.items():
        assert getattr(cfg, key) == value


# ------------------------------------------------------------------------------------------ decode

# (hex of a VRRP message, family, what decode says): built once with the encoder and patched by hand
DECODE_REFUSALS: list[tuple[str, int, Reason, str]] = [
    ("3101", 4, Reason.LENGTH, "2 bytes is shorter than the 8-byte VRRP header"),
    ("21016401000170980a0000640000000000000000", 6, Reason.VERSION,
     "VRRPv2 advertisement received over IPv6 (v2 is IPv4 only)"),
    ("41016401006450350a000064", 4, Reason.VERSION, "version 4 is neither 2 nor 3"),
    ("31016401006460350a00", 4, Reason.LENGTH, "10 bytes, but version 3 with Count 1 needs exactly 12"),
    ("21016401000100010a0000640000000000000000", 4, Reason.CHECKSUM, "VRRPv2 checksum 0x0001 does not verify"),
    ("31016401006400010a000064", 4, Reason.CHECKSUM,
     "VRRPv3 IPv4 checksum 0x0001 verifies neither without (RFC 9568) nor with (RFC 5798) the pseudo-header"),
    ("3101640100640001fe800000000000000000000000000100", 6, Reason.CHECKSUM,
     "VRRPv3 IPv6 checksum 0x0001 does not verify"),
    ("3201640100645f350a000064", 4, Reason.TYPE, "type 2 is not 1 (ADVERTISEMENT)"),
    ("31006401006460360a000064", 4, Reason.VRID, "VRID 0 is not 1-255 (RFC 9568 §5.2.3)"),
    ("3101640000646a9a", 4, Reason.ADDRESS_LIST, "Count IPvX Addr is 0 (RFC 9568 erratum 8299: ignore)"),
    ("31016401000060990a000064", 4, Reason.INTERVAL, "Max Adver Int is 0 (RFC 9568 erratum 8301)"),
    ("21016401000070990a0000640000000000000000", 4, Reason.INTERVAL, "Adver Int is 0 seconds"),
    ("2101640103016d980a0000640000000000000000", 4, Reason.AUTH_TYPE,
     "Auth Type 3 is not 0 (none), 1 (PASS) or 2 (AH)"),
]  # fmt: skip


@pytest.mark.parametrize(("wire", "family", "reason", "detail"), DECODE_REFUSALS)
def test_decode_refusals_say_what_was_seen(wire: str, family: int, reason: Reason, detail: str) -> None:
    src, dst = (S4, MULTICAST_V4) if family == 4 else (S6, MULTICAST_V6)
    with pytest.raises(PacketError) as err:
        decode(bytes.fromhex(wire), family=family, src=src, dst=dst)
    assert (err.value.reason, err.value.detail, str(err.value)) == (reason, detail, f"{reason.value}: {detail}")


def test_decode_strict_link_local_refusal_names_the_address() -> None:
    wire = bytes.fromhex("3101640100643ec020010db8000000000000000000000001")
    with pytest.raises(PacketError) as err:
        decode(wire, family=6, src=S6, dst=MULTICAST_V6, require_link_local_first=True)
    assert err.value.detail == "first IPv6 address 2001:db8::1 is not link-local (erratum 8300)"
    two = encode(Advertisement(3, 1, 100, [LL, IPv6Address("2001:db8::1")], 100), family=6, src=S6, dst=MULTICAST_V6)
    assert decode(two, family=6, src=S6, dst=MULTICAST_V6, require_link_local_first=True).addresses[0] == LL


def test_decode_takes_a_bytearray_or_memoryview_and_refuses_other_types() -> None:
    wire = encode(Advertisement(3, 1, 100, VIPS, 100), family=4, src=S4, dst=MULTICAST_V4)
    for view in (bytearray(wire), memoryview(wire)):
        assert decode(view, family=4, src=S4, dst=MULTICAST_V4).addresses == VIPS  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^data must be bytes, not str$"):
        decode("31", family=4, src=S4, dst=MULTICAST_V4)  # type: ignore[arg-type]


def test_decode_family_may_be_given_as_4_or_af_inet() -> None:
    import socket

    wire = encode(Advertisement(3, 1, 100, VIPS, 100), family=4, src=S4, dst=MULTICAST_V4)
    for family in (4, socket.AF_INET):
        assert decode(wire, family=family, src=S4, dst=MULTICAST_V4).addresses == VIPS


# ------------------------------------------------------------------------------------------ encode

ENCODE_REFUSALS: list[tuple[Advertisement, int, object, object, str]] = [
    (Advertisement(5, 1, 100, VIPS, 100), 4, S4, MULTICAST_V4, "version must be 2 or 3, not 5"),
    (Advertisement(2, 1, 100, [LL], 100), 6, S6, MULTICAST_V6, "VRRPv2 is IPv4 only"),
    (Advertisement(3, 0, 100, VIPS, 100), 4, S4, MULTICAST_V4, "vrid must be 1-255, not 0"),
    (Advertisement(3, 1, 256, VIPS, 100), 4, S4, MULTICAST_V4, "priority must be 0-255, not 256"),
    (Advertisement(3, 1, -1, VIPS, 100), 4, S4, MULTICAST_V4, "priority must be 0-255, not -1"),
    (Advertisement(3, 1, 100, VIPS, 100, type=16), 4, S4, MULTICAST_V4, "type must be 0-15, not 16"),
    (Advertisement(3, 1, 100, VIPS, 100, type=-1), 4, S4, MULTICAST_V4, "type must be 0-15, not -1"),
    (Advertisement(3, 1, 100, [], 100), 4, S4, MULTICAST_V4, "addresses must hold 1-255 addresses, not 0"),
    (Advertisement(3, 1, 100, [IPv4Address(i) for i in range(1, 257)], 100), 4, S4, MULTICAST_V4,
     "addresses must hold 1-255 addresses, not 256"),
    (Advertisement(3, 1, 100, [LL], 100), 4, S4, MULTICAST_V4,
     "address IPv6Address('fe80::1') is not an IPv4 address (families never mix, item 20)"),
    (Advertisement(3, 1, 100, VIPS, 0), 4, S4, MULTICAST_V4, "interval_cs must be 1-4095 for VRRPv3, not 0"),
    (Advertisement(3, 1, 100, VIPS, 4096), 4, S4, MULTICAST_V4, "interval_cs must be 1-4095 for VRRPv3, not 4096"),
    (Advertisement(2, 1, 100, VIPS, 150), 4, S4, MULTICAST_V4,
     "interval_cs must be a whole number of seconds 1-255 (100-25500) for VRRPv2, not 150"),
    (Advertisement(2, 1, 100, VIPS, 25600), 4, S4, MULTICAST_V4,
     "interval_cs must be a whole number of seconds 1-255 (100-25500) for VRRPv2, not 25600"),
    (Advertisement(2, 1, 100, VIPS, 100, auth_type=256), 4, S4, MULTICAST_V4, "auth_type must be 0-255, not 256"),
    (Advertisement(2, 1, 100, VIPS, 100, auth_type=-1), 4, S4, MULTICAST_V4, "auth_type must be 0-255, not -1"),
    (Advertisement(2, 1, 100, VIPS, 100, auth_data=b"abc"), 4, S4, MULTICAST_V4,
     "auth_data must be 8 bytes (see pass_auth_data) or empty, not 3"),
    (Advertisement(3, 1, 100, [LL], 100), 6, S4, MULTICAST_V6, "src 10.0.0.1 is not an IPv6 address"),
    (Advertisement(3, 1, 100, [LL], 100), 6, S6, MULTICAST_V4, "dst 224.0.0.18 is not an IPv6 address"),
    (Advertisement(3, 1, 100, VIPS, 100), 4, S6, MULTICAST_V4, "src fe80::1 is not an IPv4 address"),
    (Advertisement(3, 1, 100, [LL], 100), 6, bytes(4), MULTICAST_V6, "src must be 16 packed bytes, got 4"),
    (Advertisement(3, 1, 100, VIPS, 100), 7, S4, MULTICAST_V4,
     "family must be socket.AF_INET, socket.AF_INET6, 4 or 6, not 7"),
]  # fmt: skip


@pytest.mark.parametrize(("adv", "family", "src", "dst", "message"), ENCODE_REFUSALS)
def test_encode_refusals_name_the_field(
    adv: Advertisement, family: int, src: object, dst: object, message: str
) -> None:
    with pytest.raises(ValueError) as err:
        encode(adv, family=family, src=src, dst=dst, checksum_form="rfc5798")
    assert str(err.value) == message


def test_encode_refuses_an_unknown_checksum_form_and_a_source_of_no_known_type() -> None:
    with pytest.raises(ValueError) as err:
        encode(Advertisement(3, 1, 100, VIPS, 100), family=4, src=S4, dst=MULTICAST_V4, checksum_form="x")  # type: ignore[arg-type]
    assert str(err.value) == "checksum_form must be 'rfc9568' or 'rfc5798', not 'x'"
    with pytest.raises(TypeError) as terr:
        encode(Advertisement(3, 1, 100, [LL], 100), family=6, src=1.5, dst=MULTICAST_V6)
    assert str(terr.value) == "src must be an ipaddress object, str or bytes, not float"


@pytest.mark.parametrize(
    "adv",
    [
        Advertisement(3, 1, 100, VIPS, 100, type=0),
        Advertisement(3, 1, 100, VIPS, 100, type=15),
        Advertisement(3, 1, 0, VIPS, 100),
        Advertisement(3, 1, 255, VIPS, 4095),
        Advertisement(3, 1, 100, [IPv4Address(i) for i in range(1, 256)], 1),
        Advertisement(2, 1, 100, VIPS, 25500, auth_type=255, auth_data=bytes(8)),
        Advertisement(2, 1, 100, VIPS, 100, auth_type=0),
    ],
)
def test_encode_accepts_every_bound(adv: Advertisement) -> None:
    wire = encode(adv, family=4, src=S4, dst=MULTICAST_V4, checksum_form="rfc5798")
    assert wire[0] & 0x0F == adv.type and wire[2] == adv.priority and wire[3] == len(adv.addresses)


def test_encode_takes_packed_and_text_addresses_for_the_pseudo_header() -> None:
    adv = Advertisement(3, 1, 100, [LL], 100)
    want = encode(adv, family=6, src=S6, dst=MULTICAST_V6)
    assert encode(adv, family=6, src=S6.packed, dst=MULTICAST_V6.packed) == want
    assert encode(adv, family=6, src=str(S6), dst=str(MULTICAST_V6)) == want
    assert decode(want, family=6, src=S6.packed, dst=str(MULTICAST_V6)).addresses == [LL]


# ------------------------------------------------------------------------------------------ v2 auth


def test_check_v2_auth_refusals_say_why() -> None:
    none = Advertisement(2, 1, 100, VIPS, 100, auth_type=0, auth_data=bytes(8))
    with pytest.raises(PacketError) as err:
        check_v2_auth(none, auth_type=AUTH_PASS, auth_data=b"x")
    assert (err.value.reason, err.value.detail) == (Reason.AUTH_TYPE_MISMATCH, "Auth Type 0 received, 1 configured")
    wrong = Advertisement(2, 1, 100, VIPS, 100, auth_type=AUTH_PASS, auth_data=bytes(8))
    with pytest.raises(PacketError) as err:
        check_v2_auth(wrong, auth_type=AUTH_PASS, auth_data=b"x")
    assert (err.value.reason, err.value.detail) == (Reason.AUTH, "PASS authentication data does not match")
    ah = Advertisement(2, 1, 100, VIPS, 100, auth_type=AUTH_AH, auth_data=bytes(8))
    with pytest.raises(PacketError) as err:
        check_v2_auth(ah, auth_type=AUTH_AH, auth_data=b"")
    assert (err.value.reason, err.value.detail) == (Reason.AUTH, "AH authentication is not supported")
    check_v2_auth(Advertisement(3, 1, 100, VIPS, 100), auth_type=AUTH_PASS, auth_data=b"x")  # v3: nothing to check


# ------------------------------------------------------------------------------------------ trackers


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"kind": "x"}, "tracker 't': kind must be 'state' or 'value', not 'x'"),
        ({"weight": 255}, "tracker 't': weight must be in -254..254, not 255"),
        ({"weight": -255}, "tracker 't': weight must be in -254..254, not -255"),
    ],
)
def test_tracker_refusals(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as err:
        Tracker("t", **settings)  # type: ignore[arg-type]
    assert str(err.value) == message


@pytest.mark.parametrize("settings", [{"weight": 254}, {"weight": -254}, {"kind": "value", "weight": 1000}])
def test_tracker_bounds_are_accepted(settings: dict[str, object]) -> None:
    assert Tracker("t", **settings).weight == settings["weight"]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("family", "src", "dst", "message"),
    [
        (4, S6, MULTICAST_V4, "src fe80::1 is not an IPv4 address"),
        (4, S4, MULTICAST_V6, "dst ff02::12 is not an IPv4 address"),
        (6, S4, MULTICAST_V6, "src 10.0.0.1 is not an IPv6 address"),
        (6, S6, MULTICAST_V4, "dst 224.0.0.18 is not an IPv6 address"),
    ],
)
def test_decode_names_a_pseudo_header_address_of_the_wrong_family(
    family: int, src: object, dst: object, message: str
) -> None:
    """A programming error in the caller (ValueError), not a bad packet: the message says which argument."""
    if family == 4:  # the RFC 5798 form is the one that needs the pseudo-header
        wire = encode(Advertisement(3, 1, 100, VIPS, 100), family=4, src=S4, dst=MULTICAST_V4, checksum_form="rfc5798")
    else:
        wire = encode(Advertisement(3, 1, 100, [LL], 100), family=6, src=S6, dst=MULTICAST_V6)
    with pytest.raises(ValueError) as err:
        decode(wire, family=family, src=src, dst=dst)
    assert str(err.value) == message


# ------------------------------------------------------------------------------------------ specs


def test_route_and_rule_text_is_what_ip_route_and_ip_rule_print() -> None:
    from ipaddress import IPv4Network

    from vrrp.core.specs import VirtualRoute, VirtualRule

    net = IPv4Network("192.0.2.0/24")
    assert str(VirtualRoute(net)) == "192.0.2.0/24"
    full = VirtualRoute(net, via=IPv4Address("10.0.0.1"), dev="eth0", table=100, type="blackhole")
    assert str(full) == "blackhole 192.0.2.0/24 via 10.0.0.1 dev eth0 table 100"
    assert str(VirtualRule(table=100)) == "from all lookup 100"
    rule = VirtualRule(table=100, src=IPv4Network("10.0.0.0/24"), dst=IPv4Network("10.1.0.0/16"), priority=5,
                       iif="eth0", oif="eth1", fwmark=255)  # fmt: skip
    assert str(rule) == "5: from 10.0.0.0/24 to 10.1.0.0/16 iif eth0 oif eth1 fwmark 0xff lookup 100"
    assert str(VirtualRule(table=7, fwmark=0)) == "from all fwmark 0x0 lookup 7"


@pytest.mark.parametrize(("value", "scope"), [("host", 254), ("link", 253), ("200", 200), (0, 0), (255, 255)])
def test_scopes_by_name_or_number(value: str | int, scope: int) -> None:
    from vrrp.core.specs import parse_scope

    assert parse_scope(value) == scope


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (256, "scope 256 is not in 0..255"),
        (-1, "scope -1 is not in 0..255"),
        ("256", "scope 256 is not in 0..255"),
        ("nope", "unknown scope 'nope' (expected one of global, host, link, nowhere, site, universe or 0..255)"),
    ],
)
def test_bad_scopes_are_refused_with_the_choices(value: str | int, message: str) -> None:
    from vrrp.core.specs import parse_scope

    with pytest.raises(ValueError) as err:
        parse_scope(value)
    assert str(err.value) == message
