"""Hypothesis properties of the host layer (vrrp.core.host), driven by arbitrary packets and timer events:

* nothing but actions comes out of ``receive`` for any bytes (no exception);
* every counted discard is reported exactly once: the ``PacketDiscarded`` facts of a packet equal the counters
  that went up (the host's for packets no instance owns, the instance's router's otherwise);
* a discarded packet changes no router's behaviour (RFC 9568 §7.1: a discard is a no-op);
* the host's order: every ``SendAdvertisement`` of one event comes before any other action of it;
* ``next_deadline`` is the earliest router timer, and ``handle_timers`` leaves none due.
"""

from __future__ import annotations

from collections import Counter
from ipaddress import IPv4Address
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from vrrp.core.actions import PacketDiscarded, SendAdvertisement
from vrrp.core.config import RouterConfig
from vrrp.core.host import Host, Member, Pair
from vrrp.core.packet import MULTICAST_V4, Advertisement, encode

SETTINGS = settings(max_examples=200, deadline=None)
ME = IPv4Address("10.0.0.2")
PEERS = [IPv4Address("10.0.0.3"), IPv4Address("10.0.0.4"), ME]
S = 1_000_000


def host() -> Host:
    """Three instances on two links, two of them in a sync group, one unicast."""
    def cfg(name: str, vrid: int, **kw: Any) -> RouterConfig:
        return RouterConfig(name=name, vrid=vrid, primary_address=ME,
                            virtual_ipaddress=(IPv4Address(f"10.0.{vrid}.100"),), advert_int_cs=10, **kw)

    h = Host(
        [
            Member(cfg("A", 1, priority=150), "eth0"),
            Member(cfg("B", 2), "eth0"),
            Member(cfg("C", 1, unicast_peer=(PEERS[0],)), "eth1"),
        ],
        [("G", ("A", "B"))],
    )
    h.start(0)
    return h


@st.composite
def packets(draw: st.DrawFn) -> tuple[bytes, IPv4Address, int, str]:
    """A valid advert (maybe spoilt, cut or with a bad TTL) or random bytes, from a peer or from us."""
    src = draw(st.sampled_from(PEERS))
    link = draw(st.sampled_from(["eth0", "eth1", "eth9"]))
    ttl = draw(st.sampled_from([255, 255, 254, 1]))
    if draw(st.booleans()):
        return draw(st.binary(max_size=40)), src, ttl, link
    vrid = draw(st.sampled_from([1, 2, 7]))
    adv = Advertisement(3, vrid, draw(st.integers(0, 255)), [IPv4Address(f"10.0.{vrid}.100")], 10)
    data = bytearray(encode(adv, family=4, src=src, dst=MULTICAST_V4))
    if draw(st.booleans()):
        data[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut] if draw(st.booleans()) else data), src, ttl, link


def counters(h: Host) -> Counter[tuple[str | None, str]]:
    c: Counter[tuple[str | None, str]] = Counter({(None, k): v for k, v in h.stats.discards.items()})
    for name in h.names:
        c.update({(name, k): v for k, v in h.router(name).stats.discards.items()})
    return c


def adverts_first(pairs: list[Pair]) -> bool:
    kinds = [isinstance(a, SendAdvertisement) for _, a in pairs]
    return kinds == sorted(kinds, reverse=True)


@SETTINGS
@given(st.lists(st.tuples(packets(), st.integers(0, 400_000)), max_size=25))
def test_discards_are_reported_once_change_nothing_and_adverts_go_first(
    events: list[tuple[tuple[bytes, IPv4Address, int, str], int]],
) -> None:
    h = host()
    now = 0
    for (data, src, ttl, link), wait in events:
        now += wait
        fired = h.handle_timers(now)
        assert adverts_first(fired)
        deadline = h.next_deadline()
        assert deadline is None or deadline > now
        assert deadline == min((t for r in h.routers() if (t := r.get_timer()) is not None), default=None)
        before_counts = counters(h)
        before_state = [r.snapshot() for r in h.routers()]
        out = h.receive(data, src=src, dst=MULTICAST_V4, ttl=ttl, link=link, now=now)
        assert adverts_first(out)
        grew = counters(h) - before_counts
        reported = Counter((name, a.reason.value) for name, a in out if isinstance(a, PacketDiscarded))
        assert reported == grew
        if reported:
            assert [r.snapshot() for r in h.routers()] == before_state
            assert all(isinstance(a, PacketDiscarded) for _, a in out)
