"""vrrp/core/tracking.py, timers.py and checksum.py at their edges: keepalived's weight rules (weight 1, reverse,
the value tracker's fault), integer arithmetic where a float would slip through, and the checksum's zero."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from vrrp.core import checksum
from vrrp.core.packet import MULTICAST_V4, Advertisement, decode, encode
from vrrp.core.timers import master_down_interval_us, skew_time_us
from vrrp.core.tracking import Contribution, Tracker, TrackerSet, state_contribution, value_contribution


@pytest.mark.parametrize(
    ("weight", "reverse", "up", "delta"),
    [
        (1, False, True, 1),  # the smallest positive weight counts while up
        (1, False, False, 0),
        (-1, False, False, -1),  # the smallest negative weight counts while down
        (-1, False, True, 0),
        (10, True, False, 10),  # reverse: "down" is up
        (10, True, True, 0),
        (-10, True, True, -10),
    ],
)
def test_state_tracker_weights(weight: int, reverse: bool, up: bool, delta: int) -> None:
    assert state_contribution(Tracker("t", weight=weight, reverse=reverse), up) == Contribution(delta=delta)


@pytest.mark.parametrize(
    ("weight", "reverse", "value", "expected"),
    [
        (0, False, 0, Contribution()),
        (0, False, 1, Contribution(fault=True)),  # weight 0: any non-zero value is FAULT
        (0, False, -1, Contribution(fault=True)),
        (1, False, 5, Contribution(delta=5)),
        (2, False, 3, Contribution(delta=6)),
        (2, True, 3, Contribution(delta=-6)),  # reverse negates
        (1, True, -3, Contribution(delta=3)),
        (1, False, -253, Contribution(delta=-253)),  # the boundary: -253 is still a priority change
        (1, False, -254, Contribution(fault=True)),  # below it, FAULT
        (-1, True, -254, Contribution(fault=True)),
    ],
)
def test_value_tracker_weights(weight: int, reverse: bool, value: int, expected: Contribution) -> None:
    got = value_contribution(Tracker("f", kind="value", weight=weight, reverse=reverse), value)
    assert got == expected and type(got.delta) is int


def test_tracker_set_membership_and_misuse() -> None:
    ts = TrackerSet([Tracker("s"), Tracker("f", kind="value")])
    assert "s" in ts and "f" in ts and "x" not in ts
    with pytest.raises(ValueError) as err:
        ts.set_value("s", 1)
    assert str(err.value) == "tracker 's' is a state tracker, not a value tracker"
    with pytest.raises(KeyError, match="unknown tracker 'x'"):
        ts.set_up("x", True)
    with pytest.raises(ValueError) as err:
        TrackerSet([Tracker("s"), Tracker("s")])
    assert str(err.value) == "tracker 's' configured twice"


def test_timer_arithmetic_stays_integer() -> None:
    assert skew_time_us(101, 100, version=2) == 605_468  # (256-101)/256 s, floored
    assert type(skew_time_us(101, 100, version=2)) is int
    assert skew_time_us(101, 100) == 605_468 and type(skew_time_us(101, 7)) is int
    assert master_down_interval_us(101, 100, version=2) == 3_605_468


@pytest.mark.parametrize("data", [b"\xff\xff", b"\x12\x34\xed\xcb", b"\x80\x00\x7f\xff"])
def test_checksum_of_words_summing_to_all_ones_is_zero(data: bytes) -> None:
    """RFC 1071: a sum of 0xFFFF complements to 0 (a checksum of 0xFFFF would also verify, but is not what the
    textbook algorithm - or keepalived - puts on the wire)."""
    assert checksum.finish(checksum.word_sum(data)) == 0
    assert checksum.word_sum(b"\x01") == 0x0100  # an odd byte is the high half of a zero-padded word


def test_address_cache_is_bounded() -> None:
    from vrrp.core import packet

    for i in range(packet._ADDRESS_CACHE_MAX + 10):
        wire = encode(Advertisement(3, 1, 100, [IPv4Address(i + 1)], 100), family=4, src="10.0.0.1", dst=MULTICAST_V4)
        assert decode(wire, family=4, src="10.0.0.1", dst=MULTICAST_V4).addresses == [IPv4Address(i + 1)]
        assert len(packet._ADDRESS_CACHE) <= packet._ADDRESS_CACHE_MAX


def test_decoded_advertisement_has_every_field() -> None:
    wire = encode(Advertisement(3, 7, 100, [IPv4Address("10.0.0.100")], 100), family=4, src="10.0.0.1",
                  dst=MULTICAST_V4)  # fmt: skip
    adv = decode(wire, family=4, src="10.0.0.1", dst=MULTICAST_V4)
    assert (adv.type, adv.vrid, adv.auth_type, adv.auth_data, adv.checksum) == (1, 7, 0, b"", int.from_bytes(wire[6:8]))
