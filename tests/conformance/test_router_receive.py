"""Conformance of the virtual router's receive checks (RFC 9568 §5.1, §7.1; RFC 3768 §7.1).

The codec rejects what the bytes alone show; these are the checks that need the configuration or the IP
header, made by ``VirtualRouter.receive_advertisement``.  Every discard is asserted by its ``Reason`` counter
*and* by an unchanged ``snapshot()`` (item 27: a discard is a no-op for the state machine).
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address

import pytest

from vrrp.core.config import RouterConfig
from vrrp.core.packet import Advertisement, Reason, encode
from vrrp.core.router import VirtualRouter
from vrrp.core.state import State

ME = IPv4Address("10.0.0.2")
PEER = IPv4Address("10.0.0.1")
VIP = IPv4Address("10.0.0.100")
ME6 = IPv6Address("fe80::2")
PEER6 = IPv6Address("fe80::1")
VIP6 = IPv6Address("fe80::100")
GROUP4 = IPv4Address("224.0.0.18")
GROUP6 = IPv6Address("ff02::12")
S = 1_000_000


def router(*, start: bool = True, **kw: object) -> VirtualRouter:
    settings: dict[str, object] = {"vrid": 1, "primary_address": ME, "virtual_ipaddress": (VIP,)}
    settings.update(kw)
    r = VirtualRouter(RouterConfig(**settings))  # type: ignore[arg-type]
    if start:
        r.start(0)
    return r


def v3(priority: int = 200, **kw: object) -> Advertisement:
    return Advertisement(3, kw.pop("vrid", 1), priority, kw.pop("addresses", [VIP]), 100, **kw)  # type: ignore[arg-type]


def v2(priority: int = 200, interval_cs: int = 100, **kw: object) -> Advertisement:
    return Advertisement(
        2,
        1,
        priority,
        kw.pop("addresses", [VIP]),
        interval_cs,
        auth_data=bytes(8),
        **kw,  # type: ignore[arg-type]
    )


def accepted(r: VirtualRouter, adv: Advertisement, *, src: IPv4Address | IPv6Address = PEER, ttl: int = 255) -> None:
    """The advert was processed: no discard counted, and (from Backup) the down timer was reset."""
    r.receive_advertisement(adv, src=src, ttl=ttl, now=S)
    assert r.stats.discards == {}
    assert r.stats.adverts_received == 1
    assert r.get_timer() == S + r.master_down_interval_us()


def discarded(
    r: VirtualRouter,
    adv: Advertisement,
    reason: Reason,
    *,
    src: IPv4Address | IPv6Address = PEER,
    ttl: int = 255,
    dst: IPv4Address | IPv6Address | None = None,
) -> None:
    """The advert was discarded for ``reason`` and nothing but that counter changed."""
    before = r.snapshot()
    assert r.receive_advertisement(adv, src=src, ttl=ttl, now=S, dst=dst) == []
    assert r.snapshot() == before
    assert r.stats.discards == {reason.value: 1}
    assert r.stats.adverts_received == 0


# --- 4 / 22: IPv4 TTL 255 ------------------------------------------------------------------------


@pytest.mark.conformance("4", polarity="positive")
@pytest.mark.conformance("22", polarity="positive")
def test_4_22_ttl_255_is_accepted() -> None:
    accepted(router(), v3(), ttl=255)


@pytest.mark.conformance("4", polarity="negative")
@pytest.mark.conformance("22", polarity="negative")
@pytest.mark.parametrize("ttl", [0, 1, 64, 254])
def test_4_22_ttl_other_than_255_is_discarded(ttl: int) -> None:
    discarded(router(), v3(), Reason.TTL, ttl=ttl)


def test_a_unicast_peer_may_send_with_any_ttl_as_keepalived_allows() -> None:
    """keepalived deviates from 7.1 for unicast: peers behind routers arrive with ``unicast_ttl`` minus the hops,
    so the TTL is checked only when the instance has no ``unicast_peer`` (vrrp.c vrrp_check_packet)."""
    accepted(router(unicast_peer=(PEER,)), v3(), ttl=64)
    accepted(router(unicast_peer=(PEER,)), v3(), ttl=1)
    discarded(router(), v3(), Reason.TTL, ttl=64)  # multicast: still the RFC's MUST


# --- 8: IPv6 Hop Limit 255 -----------------------------------------------------------------------


def _v6_router() -> VirtualRouter:
    return router(primary_address=ME6, virtual_ipaddress=(VIP6,))


@pytest.mark.conformance("8", polarity="positive")
def test_8_hop_limit_255_is_accepted() -> None:
    accepted(_v6_router(), v3(addresses=[VIP6]), src=PEER6, ttl=255)


@pytest.mark.conformance("8", polarity="negative")
@pytest.mark.parametrize("hop_limit", [0, 1, 64, 254])
def test_8_hop_limit_other_than_255_is_discarded(hop_limit: int) -> None:
    discarded(_v6_router(), v3(addresses=[VIP6]), Reason.TTL, src=PEER6, ttl=hop_limit)


@pytest.mark.conformance("8", polarity="positive")
@pytest.mark.conformance("8", polarity="negative")
def test_8_raw_ipv6_packets_are_judged_by_their_hop_limit() -> None:
    """The daemon's path: bytes plus the hop limit the socket reported (IPV6_RECVHOPLIMIT)."""
    wire = encode(v3(addresses=[VIP6]), family=6, src=PEER6, dst=GROUP6)
    r = _v6_router()
    before = r.snapshot()
    r.receive_packet(wire, src=PEER6, dst=GROUP6, ttl=254, now=S)
    assert r.stats.discards == {"ttl": 1} and r.snapshot() == before
    r.receive_packet(wire, src=PEER6, dst=GROUP6, ttl=255, now=S)
    assert r.stats.adverts_received == 1 and r.get_timer() == S + r.master_down_interval_us()


# --- 23: the configured version -------------------------------------------------------------------


@pytest.mark.conformance("23", polarity="positive")
def test_23_the_configured_version_is_accepted_by_the_router() -> None:
    accepted(router(), v3())
    accepted(router(version=2), v2())


@pytest.mark.conformance("23", polarity="negative")
def test_23_the_other_version_is_discarded_by_the_router() -> None:
    """The codec decodes both versions (test_codec_format.py); the router keeps only the configured one."""
    discarded(router(), v2(), Reason.VERSION)
    discarded(router(version=2), v3(), Reason.VERSION)
    r = router()  # and as bytes, the daemon's path
    wire = encode(v2(), family=4, src=PEER, dst=GROUP4)
    before = r.snapshot()
    r.receive_packet(wire, src=PEER, dst=GROUP4, ttl=255, now=S)
    assert r.stats.discards == {"version": 1} and r.snapshot() == before


# --- 26: VRID configured; owner check ------------------------------------------------------------


@pytest.mark.conformance("26", polarity="positive")
def test_26_configured_vrid_is_accepted_and_v3_owner_still_listens() -> None:
    accepted(router(), v3(vrid=1))
    owner = router(priority=255)
    owner.receive_advertisement(v3(255), src=IPv4Address("10.0.0.9"), ttl=255, now=S)
    assert owner.stats.discards == {}  # RFC 9568 (erratum 8298): the owner only SHOULD log
    assert owner.state is State.BACKUP  # a second owner with a larger address: the RFC tie-break


@pytest.mark.conformance("26", polarity="negative")
@pytest.mark.parametrize("vrid", [2, 255])
def test_26_unconfigured_vrid_is_discarded(vrid: int) -> None:
    discarded(router(), v3(vrid=vrid), Reason.VRID)


@pytest.mark.conformance("26", polarity="negative")
@pytest.mark.parametrize("vrid", [0, 2, 255])
def test_26_unconfigured_vrid_is_discarded_from_the_wire(vrid: int) -> None:
    """As bytes (the daemon's path); VRID 0, which no instance can have, already in the codec."""
    msg = bytearray(encode(v3(vrid=vrid or 1), family=4, src=PEER, dst=GROUP4))
    if vrid == 0:  # the encoder refuses VRID 0: patch it in and fix the checksum (RFC 1071 incremental)
        msg[1] = 0
        msg[6:8] = (int.from_bytes(msg[6:8], "big") + 1).to_bytes(2, "big")
    r = router()
    before = r.snapshot()
    r.receive_packet(bytes(msg), src=PEER, dst=GROUP4, ttl=255, now=S)
    assert r.stats.discards == {"vrid": 1} and r.snapshot() == before


# --- 27: a discard is a no-op --------------------------------------------------------------------


@pytest.mark.conformance("27", polarity="positive")
def test_27_an_accepted_advert_does_change_state() -> None:
    r = router()
    before = r.snapshot()
    r.receive_advertisement(v3(), src=PEER, ttl=255, now=S)
    assert r.snapshot() != before  # so the unchanged snapshots below are meaningful


@pytest.mark.conformance("27", polarity="negative")
@pytest.mark.parametrize("state", [State.BACKUP, State.MASTER])
def test_27_every_discard_reason_leaves_backup_and_master_unchanged(state: State) -> None:
    cases: list[tuple[dict[str, object], Advertisement, int, Reason]] = [
        ({}, v3(), 254, Reason.TTL),
        ({}, v3(vrid=9), 255, Reason.VRID),
        ({}, v2(), 255, Reason.VERSION),
        ({"unicast_peer": (IPv4Address("10.0.0.7"),)}, v3(), 255, Reason.UNICAST_PEER),
        ({"version": 2}, v2(interval_cs=300), 255, Reason.INTERVAL),
        ({"version": 2}, v2(addresses=[IPv4Address("10.9.9.9")]), 255, Reason.ADDRESS_LIST),
        ({"version": 2, "auth_type": 1, "auth_pass": b"pw"}, v2(), 255, Reason.AUTH_TYPE_MISMATCH),
    ]
    for settings, adv, ttl, reason in cases:
        r = router(**settings)
        if state is State.MASTER:
            r.handle_timer(r.get_timer() or 0)
        assert r.state is state
        discarded(r, adv, reason, ttl=ttl)
    # bytes the codec rejects take the same path
    r = router()
    good = encode(v3(), family=4, src=PEER, dst=IPv4Address("224.0.0.18"))
    before = r.snapshot()
    r.receive_packet(good[:-2], src=PEER, dst=IPv4Address("224.0.0.18"), ttl=255, now=S)
    assert r.snapshot() == before and r.stats.discards == {"length": 1}


def _discard_cases() -> list[tuple[dict[str, object], Advertisement, dict[str, object], Reason]]:
    """One case per router-side Reason: (settings, advert, receive keywords, reason)."""
    other = IPv4Address("10.9.9.9")
    return [
        ({}, v3(), {"ttl": 254}, Reason.TTL),
        ({}, v2(), {}, Reason.VERSION),
        ({}, v3(vrid=9), {}, Reason.VRID),
        ({}, v3(), {"dst": ME}, Reason.ADDRESS_LIST),  # unicast destination, multicast instance
        ({}, v3(), {"src": PEER6}, Reason.ADDRESS_LIST),  # source of the other family
        ({"unicast_peer": (IPv4Address("10.0.0.7"),)}, v3(), {}, Reason.UNICAST_PEER),
        ({"version": 2}, v2(interval_cs=300), {}, Reason.INTERVAL),
        ({"version": 2}, v2(addresses=[VIP, other]), {}, Reason.ADDRESS_LIST),
        ({"version": 2, "auth_type": 1, "auth_pass": b"pw"}, v2(), {}, Reason.AUTH_TYPE_MISMATCH),
        ({"version": 2, "auth_type": 1, "auth_pass": b"pw"}, v2(auth_type=1), {}, Reason.AUTH),
        ({"version": 2, "priority": 255}, v2(), {}, Reason.OWNER),
    ]


# bytes only the codec can reject: (how to spoil a good v3 message, reason)
_CODEC_CASES: list[tuple[Callable[[bytes], bytes], Reason]] = [
    (lambda m: m[:-2], Reason.LENGTH),
    (lambda m: bytes([0x43]) + m[1:], Reason.VERSION),
    (lambda m: m[:6] + bytes([m[6] ^ 0xFF]) + m[7:], Reason.CHECKSUM),
]


@pytest.mark.conformance("27", polarity="negative")
@pytest.mark.parametrize("state", [State.BACKUP, State.MASTER])
def test_27_every_discard_reason_is_a_no_op_and_none_is_left_out(state: State) -> None:
    """Each Reason the router counts (codec and router alike) leaves the snapshot as it was; a Reason added
    without a case here fails the last assertion."""
    seen: set[Reason] = set()
    for settings, adv, kw, reason in _discard_cases():
        r = router(**settings)  # type: ignore[arg-type]
        if state is State.MASTER and r.state is not State.MASTER:
            r.handle_timer(r.get_timer() or 0)
        discarded(r, adv, reason, **kw)  # type: ignore[arg-type]
        seen.add(reason)
    good = encode(v3(), family=4, src=PEER, dst=GROUP4)
    for spoil, reason in _CODEC_CASES:
        r = router()
        if state is State.MASTER:
            r.handle_timer(r.get_timer() or 0)
        before = r.snapshot()
        assert r.receive_packet(spoil(good), src=PEER, dst=GROUP4, ttl=255, now=S) == []
        assert r.snapshot() == before and r.stats.discards == {reason.value: 1}
        seen.add(reason)
    codec_only = {Reason.TYPE, Reason.INTERVAL, Reason.AUTH_TYPE}  # shown in test_codec_format.py / _auth.py
    assert seen | codec_only == set(Reason)


# --- 28: address list check (v3: MAY verify, SHOULD log only) ----------------------------------


@pytest.mark.conformance("28", polarity="positive")
def test_28_v3_mismatched_address_list_is_counted_but_processed() -> None:
    r = router()
    r.receive_advertisement(v3(addresses=[IPv4Address("10.9.9.9")]), src=PEER, ttl=255, now=S)
    assert r.stats.address_list_mismatch == 1
    assert r.stats.discards == {} and r.get_timer() == S + r.master_down_interval_us()


@pytest.mark.conformance("28", polarity="negative")
def test_28_matching_address_list_is_not_reported() -> None:
    r = router(virtual_ipaddress=(VIP, IPv4Address("10.0.0.101")))
    r.receive_advertisement(v3(addresses=[IPv4Address("10.0.0.101"), VIP]), src=PEER, ttl=255, now=S)
    assert r.stats.address_list_mismatch == 0


# --- v2-interval: Adver Int must equal the local one ---------------------------------------------


@pytest.mark.conformance("v2-interval", polarity="positive")
def test_v2_interval_equal_to_local_is_accepted() -> None:
    accepted(router(version=2, advert_int_cs=300), v2(interval_cs=300))


@pytest.mark.conformance("v2-interval", polarity="negative")
@pytest.mark.parametrize("interval_cs", [100, 200, 25500])
def test_v2_interval_mismatch_is_discarded(interval_cs: int) -> None:
    discarded(router(version=2, advert_int_cs=300), v2(interval_cs=interval_cs), Reason.INTERVAL)


# --- v2-addrlist: list mismatch from a non-owner is dropped -------------------------------------


@pytest.mark.conformance("v2-addrlist", polarity="positive")
def test_v2_addrlist_match_or_owner_sender_is_accepted() -> None:
    accepted(router(version=2), v2(addresses=[VIP]))
    accepted(router(version=2), v2(255, addresses=[IPv4Address("10.9.9.9")]))


@pytest.mark.conformance("v2-addrlist", polarity="negative")
def test_v2_addrlist_mismatch_from_non_owner_is_discarded() -> None:
    discarded(router(version=2), v2(addresses=[VIP, IPv4Address("10.9.9.9")]), Reason.ADDRESS_LIST)


# --- v2-owner: the owner verifies it is not the owner -------------------------------------------


@pytest.mark.conformance("v2-owner", polarity="positive")
def test_v2_owner_check_lets_a_non_owner_process_adverts() -> None:
    accepted(router(version=2), v2())


@pytest.mark.conformance("v2-owner", polarity="negative")
@pytest.mark.conformance("26", polarity="negative")
def test_v2_owner_discards_adverts_and_stays_master() -> None:
    r = router(version=2, priority=255)
    assert r.state is State.MASTER
    discarded(r, v2(255), Reason.OWNER, src=IPv4Address("10.0.0.200"))
    assert r.state is State.MASTER
