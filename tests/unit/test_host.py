"""The sans-IO host layer (vrrp.core.host): demultiplexing, filtering, discard reasons, sync groups, the action
order and the next deadline, on a virtual clock (``now`` in µs; no wall clock anywhere)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from vrrp.core.actions import (
    AddVips,
    OldChecksumAdopted,
    PacketDiscarded,
    PriorityChanged,
    SendAdvertisement,
    SendGratuitous,
    StateChanged,
    SyncGroupStateChanged,
)
from vrrp.core.config import RouterConfig
from vrrp.core.host import Host, Member
from vrrp.core.packet import MULTICAST_V4, Advertisement, PacketError, Reason, encode
from vrrp.core.state import State, TransitionReason
from vrrp.core.tracking import Tracker

ME = IPv4Address("10.0.0.2")
PEER = IPv4Address("10.0.0.3")
OTHER = IPv4Address("10.0.0.9")
S = 1_000_000


def cfg(name: str, vrid: int, **kw: object) -> RouterConfig:
    settings: dict[str, object] = {
        "name": name,
        "vrid": vrid,
        "primary_address": ME,
        "virtual_ipaddress": (IPv4Address(f"10.0.{vrid}.100"),),
    }
    settings.update(kw)
    return RouterConfig(**settings)  # type: ignore[arg-type]


def advert(vrid: int, priority: int = 200, *, src: IPv4Address = PEER, dst: IPv4Address = MULTICAST_V4,
           form: str = "rfc5798") -> bytes:
    adv = Advertisement(3, vrid, priority, [IPv4Address(f"10.0.{vrid}.100")], 100)
    return encode(adv, family=4, src=src, dst=dst, checksum_form=form)  # type: ignore[arg-type]


def two_instances(**kw: object) -> Host:
    host = Host([Member(cfg("A", 1, **kw), "eth0"), Member(cfg("B", 2, **kw), "eth0")])
    host.start(0)
    return host


def test_a_packet_reaches_only_the_instance_with_its_vrid() -> None:
    host = two_instances()
    out = host.receive(advert(2), src=PEER, dst=MULTICAST_V4, ttl=255, link="eth0", now=S)
    assert out == []
    assert host.router("B").stats.adverts_received == 1
    assert host.router("A").stats.adverts_received == 0


def test_unknown_vrid_and_other_link_are_counted_by_the_host() -> None:
    host = two_instances()
    out = host.receive(advert(7), src=PEER, dst=MULTICAST_V4, ttl=255, link="eth0", now=S)
    assert [(n, type(a), a.reason) for n, a in out if isinstance(a, PacketDiscarded)] == [
        (None, PacketDiscarded, Reason.VRID)
    ]
    host.receive(advert(1), src=PEER, dst=MULTICAST_V4, ttl=255, link="eth1", now=S)
    assert host.stats.discards == {"vrid": 2}
    assert host.router("A").stats.adverts_received == 0


@pytest.mark.parametrize("length", [0, 1, 2, 7])
def test_shorter_than_the_header_is_a_length_discard_of_the_host(length: int) -> None:
    host = two_instances()
    out = host.receive(advert(1)[:length], src=PEER, dst=MULTICAST_V4, ttl=255, link="eth0", now=S)
    assert out == [(None, PacketDiscarded(Reason.LENGTH, PEER, f"{length} bytes, shorter than the VRRP header"))]
    assert host.stats.discards == {"length": 1}
    assert host.router("A").stats.discards == {}


def test_a_full_header_with_a_bad_body_is_the_routers_length_discard() -> None:
    host = two_instances()
    out = host.receive(advert(1)[:8], src=PEER, dst=MULTICAST_V4, ttl=255, link="eth0", now=S)
    assert [(n, a.reason) for n, a in out if isinstance(a, PacketDiscarded)] == [("A", Reason.LENGTH)]
    assert host.router("A").stats.discards == {"length": 1}
    assert host.stats.discards == {}


def test_our_own_adverts_are_ignored() -> None:
    host = two_instances()
    before = host.router("A").snapshot()
    assert host.receive(advert(1, src=ME), src=ME, dst=MULTICAST_V4, ttl=255, link="eth0", now=S) == []
    assert host.stats.own_packets == 1
    assert host.router("A").snapshot() == before and host.router("A").stats.discards == {}


def test_router_discards_are_reported_with_their_instance_and_reason() -> None:
    host = two_instances()
    out = host.receive(advert(1), src=PEER, dst=MULTICAST_V4, ttl=254, link="eth0", now=S)
    assert out == [("A", PacketDiscarded(Reason.TTL, PEER, "ttl 254"))]
    spoilt = bytearray(advert(1))
    spoilt[6] ^= 0xFF
    out = host.receive(bytes(spoilt), src=PEER, dst=MULTICAST_V4, ttl=255, link="eth0", now=S)
    assert [(n, a.reason) for n, a in out if isinstance(a, PacketDiscarded)] == [("A", Reason.CHECKSUM)]


def test_a_single_unicast_instance_counts_a_stranger_under_unicast_peer() -> None:
    host = Host([Member(cfg("A", 1, unicast_peer=(PEER,)), "eth0")])
    host.start(0)
    out = host.receive(advert(1, src=OTHER, dst=ME), src=OTHER, dst=ME, ttl=255, link="eth0", now=S)
    assert out == [("A", PacketDiscarded(Reason.UNICAST_PEER, OTHER, ""))]
    assert host.router("A").stats.discards == {"unicast_peer": 1}


def test_instances_sharing_a_vrid_each_take_their_own_peers() -> None:
    a = cfg("A", 1, unicast_peer=(PEER,))
    b = cfg("B", 1, unicast_peer=(OTHER,))
    host = Host([Member(a, "eth0"), Member(b, "eth0")])
    host.start(0)
    host.receive(advert(1, src=OTHER, dst=ME), src=OTHER, dst=ME, ttl=255, link="eth0", now=S)
    assert host.router("B").stats.adverts_received == 1
    assert host.router("A").stats.adverts_received == 0 and host.router("A").stats.discards == {}


def test_becoming_master_sends_the_advert_before_anything_else() -> None:
    host = Host([Member(cfg("A", 1), "eth0")])
    host.start(0)
    deadline = host.next_deadline()
    assert deadline is not None
    assert host.handle_timers(deadline - 1) == []
    out = host.handle_timers(deadline)
    kinds = [type(a) for _, a in out]
    assert kinds[0] is SendAdvertisement
    assert kinds[1:4] == [StateChanged, AddVips, SendGratuitous]
    assert host.router("A").state is State.MASTER


def test_sync_group_adverts_first_and_one_group_fact() -> None:
    host = Host([Member(cfg("A", 1), "eth0"), Member(cfg("B", 2), "eth1")], [("G", ("A", "B"))])
    host.start(0)
    out = host.handle_timers(host.next_deadline() or 0)
    # both down timers fired at once (same settings): both Master, both adverts ahead of everything else
    assert {host.router(n).state for n in ("A", "B")} == {State.MASTER}
    firsts = [type(a) for _, a in out[:2]]
    assert firsts == [SendAdvertisement, SendAdvertisement]
    assert all(not isinstance(a, SendAdvertisement) for _, a in out[2:])
    facts = [a for _, a in out if isinstance(a, SyncGroupStateChanged)]
    assert facts == [SyncGroupStateChanged("G", State.MASTER)]
    assert host.group_states() == {"G": State.MASTER}


def test_sync_group_member_fault_moves_the_group_and_is_reported() -> None:
    tracked = cfg("A", 1, trackers=(Tracker("chk", weight=0),))
    host = Host([Member(tracked, "eth0"), Member(cfg("B", 2), "eth1")], [("G", ("A", "B"))])
    host.start(0)
    out = host.set_tracker_state("A", "chk", False, S)
    assert {host.router(n).state for n in ("A", "B")} == {State.FAULT}
    assert (None, SyncGroupStateChanged("G", State.FAULT)) in out
    out = host.set_tracker_state("A", "chk", True, 2 * S)
    assert {host.router(n).state for n in ("A", "B")} == {State.BACKUP}
    assert (None, SyncGroupStateChanged("G", State.BACKUP)) in out


def test_effective_priority_changes_are_reported_but_not_before_start() -> None:
    host = Host([Member(cfg("A", 1, trackers=(Tracker("chk", weight=-20),)), "eth0")])
    assert host.set_tracker_state("A", "chk", False, 0) == []  # INIT: nothing is "changing" yet
    host.start(0)
    out = host.set_tracker_state("A", "chk", True, S)
    assert out == [("A", PriorityChanged(80, 100, State.BACKUP))]
    assert host.set_tracker_state("A", "chk", True, 2 * S) == []


def test_next_deadline_is_the_earliest_router_timer() -> None:
    host = Host([Member(cfg("A", 1, priority=250), "eth0"), Member(cfg("B", 2, priority=10), "eth0")])
    assert host.next_deadline() is None
    host.start(0)
    timers = [host.router(n).get_timer() for n in ("A", "B")]
    assert host.next_deadline() == min(t for t in timers if t is not None)
    assert host.next_timer() == (host.next_deadline(), "A")  # the higher priority waits less (Skew_Time)


def unicast_v3(mode: str) -> Host:
    host = Host([Member(cfg("A", 1, unicast_peer=(PEER,)), "eth0", old_checksum=mode)])  # type: ignore[arg-type]
    host.start(0)
    return host


def test_old_unicast_checksum_is_learnt_in_auto_mode() -> None:
    host = unicast_v3("auto")
    old_form = advert(1, dst=MULTICAST_V4)  # keepalived <= 1.3.6: summed over the group, sent to us
    out = host.receive(old_form, src=PEER, dst=ME, ttl=255, link="eth0", now=S)
    assert out == [("A", OldChecksumAdopted())]
    assert host.old_checksum("A") and host.router("A").stats.adverts_received == 1
    # from now on only the old form verifies, as keepalived 2.2.7 does
    out = host.receive(advert(1, dst=ME), src=PEER, dst=ME, ttl=255, link="eth0", now=2 * S)
    assert [a.reason for _, a in out if isinstance(a, PacketDiscarded)] == [Reason.CHECKSUM]


def test_an_unlisted_sender_cannot_switch_the_checksum_form() -> None:
    """Learn keepalived's old form only from an advert the router accepts: a stranger's old-form advert is
    discarded as an unlisted peer and the instance keeps verifying the normal form (RFC 9568 §7.1 first)."""
    host = unicast_v3("auto")
    out = host.receive(advert(1, src=OTHER, dst=MULTICAST_V4), src=OTHER, dst=ME, ttl=255, link="eth0", now=S)
    assert [a.reason for _, a in out if isinstance(a, PacketDiscarded)] == [Reason.UNICAST_PEER]
    assert not host.old_checksum("A")
    assert host.receive(advert(1, dst=ME), src=PEER, dst=ME, ttl=255, link="eth0", now=2 * S) == []
    assert host.router("A").stats.adverts_received == 1


def test_old_unicast_checksum_never_and_always() -> None:
    never = unicast_v3("never")
    out = never.receive(advert(1, dst=MULTICAST_V4), src=PEER, dst=ME, ttl=255, link="eth0", now=S)
    assert [a.reason for _, a in out if isinstance(a, PacketDiscarded)] == [Reason.CHECKSUM]
    assert not never.old_checksum("A")
    always = unicast_v3("always")
    assert always.old_checksum("A")
    assert always.receive(advert(1, dst=MULTICAST_V4), src=PEER, dst=ME, ttl=255, link="eth0", now=S) == []
    assert always.router("A").stats.adverts_received == 1


def test_multicast_instances_never_learn_the_old_checksum() -> None:
    host = two_instances()
    spoilt = advert(1, dst=IPv4Address("224.0.0.19"))
    host.receive(spoilt, src=PEER, dst=MULTICAST_V4, ttl=255, link="eth0", now=S)
    assert not host.old_checksum("A")


def test_shutdown_stops_every_instance_without_group_moves() -> None:
    host = Host([Member(cfg("A", 1), "eth0"), Member(cfg("B", 2), "eth1")], [("G", ("A", "B"))])
    host.start(0)
    host.handle_timers(host.next_deadline() or 0)
    out = host.shutdown(5 * S)
    assert {host.router(n).state for n in ("A", "B")} == {State.INIT}
    prio0 = [a for _, a in out if isinstance(a, SendAdvertisement)]
    assert [a.priority for a in prio0] == [0, 0]


def test_bad_configuration_names_the_instance() -> None:
    with pytest.raises(ValueError, match="'A' is configured twice"):
        Host([Member(cfg("A", 1), "eth0"), Member(cfg("A", 2), "eth0")])
    with pytest.raises(ValueError, match="unknown instance"):
        Host([Member(cfg("A", 1), "eth0")], [("G", ("A", "Z"))])


def test_the_router_judges_the_real_destination_even_with_the_old_unicast_checksum() -> None:
    """keepalived's receive check (multicast vs unicast destination) sees the packet's own destination, while the
    old v3 unicast checksum is verified over the group: a unicast advert in the old form is accepted, the same
    advert sent to the group is discarded by a unicast instance, and a multicast instance discards unicast."""
    uni = Host([Member(cfg("A", 1, unicast_peer=(PEER,)), "eth0", old_checksum="always")])
    uni.start(0)
    old_form = advert(1, dst=MULTICAST_V4)  # summed over the group, sent to us
    assert uni.receive(old_form, src=PEER, dst=ME, ttl=255, link="eth0", now=S) == []
    assert uni.router("A").stats.adverts_received == 1
    out = uni.receive(old_form, src=PEER, dst=MULTICAST_V4, ttl=255, link="eth0", now=2 * S)
    assert out == [("A", PacketDiscarded(Reason.ADDRESS_LIST, PEER, ""))]
    multi = Host([Member(cfg("B", 2), "eth0")])
    multi.start(0)
    out = multi.receive(advert(2, dst=ME), src=PEER, dst=ME, ttl=255, link="eth0", now=S)
    assert out == [("B", PacketDiscarded(Reason.ADDRESS_LIST, PEER, ""))]


# ----------------------------------------------------------------- every event reaches the right router, once


def test_priority_tracker_value_and_any_event_reach_their_instance_and_report_the_change() -> None:
    files = cfg("A", 1, trackers=(Tracker("f", kind="value", weight=10),))
    host = Host([Member(files, "eth0"), Member(cfg("B", 2), "eth0")])
    host.start(0)
    assert host.set_priority("A", 150, S) == [("A", PriorityChanged(100, 150, State.BACKUP))]
    assert host.set_tracker_value("A", "f", 2, 2 * S) == [("A", PriorityChanged(150, 170, State.BACKUP))]
    assert host.router("A").effective_priority == 170 and host.router("B").effective_priority == 100
    out = host.event("B", lambda r, now: r.set_priority(120, now), 3 * S)
    assert out == [("B", PriorityChanged(100, 120, State.BACKUP))]
    with pytest.raises(KeyError) as err:
        host.set_priority("Z", 1, S)
    assert err.value.args[0] == "no instance 'Z'; instances are A, B"


def test_a_vrid_shared_by_two_multicast_instances_reaches_both() -> None:
    a, b = cfg("A", 1), cfg("B", 1, virtual_ipaddress=(IPv4Address("10.0.1.100"),))
    host = Host([Member(a, "eth0"), Member(b, "eth0")])
    host.start(0)
    host.receive(advert(1), src=PEER, dst=MULTICAST_V4, ttl=255, link="eth0", now=S)
    assert [host.router(n).stats.adverts_received for n in ("A", "B")] == [1, 1]
    assert [host.router(n).get_timer() for n in ("A", "B")] == [S + host.router("A").master_down_interval_us()] * 2


def test_host_discards_say_what_and_from_whom() -> None:
    host = Host([Member(cfg("A", 1), "eth0")])
    host.start(0)
    assert host.receive(advert(9), src=PEER, dst=MULTICAST_V4, ttl=255, link="eth0", now=S) == [
        (None, PacketDiscarded(Reason.VRID, PEER, "no instance with VRID 9"))
    ]
    bad = bytearray(advert(1))
    bad[7] ^= 1
    out = host.receive(bytes(bad), src=PEER, dst=MULTICAST_V4, ttl=255, link="eth0", now=S)
    assert out == [("A", PacketDiscarded(Reason.CHECKSUM, PEER, out[0][1].detail))]  # type: ignore[union-attr]
    assert out[0][1].detail.startswith("VRRPv3 IPv4 checksum")  # type: ignore[union-attr]
    for _ in range(2):
        host.receive(advert(1, src=ME), src=ME, dst=MULTICAST_V4, ttl=255, link="eth0", now=S)
    assert host.stats.own_packets == 2


def test_learning_the_old_checksum_still_handles_the_advert() -> None:
    host = Host([Member(cfg("A", 1, unicast_peer=(PEER,)), "eth0")])
    host.start(0)
    deadline = host.next_deadline() or 0
    host.handle_timers(deadline)
    assert host.router("A").state is State.MASTER
    old_form = advert(1, priority=250, dst=MULTICAST_V4)  # summed over the group, sent to us
    out = host.receive(old_form, src=PEER, dst=ME, ttl=255, link="eth0", now=deadline + 1)
    assert out[0] == ("A", OldChecksumAdopted())
    assert [(n, a.new) for n, a in out if isinstance(a, StateChanged)] == [("A", State.BACKUP)]


def test_stopping_the_host_stops_each_member_itself_not_through_its_group() -> None:
    host = Host([Member(cfg("A", 1), "eth0"), Member(cfg("B", 2), "eth1")], [("G", ("A", "B"))])
    host.start(0)
    host.handle_timers(host.next_deadline() or 0)
    out = host.shutdown(10 * S)
    changes = [(n, a.old, a.new, a.reason.value) for n, a in out if isinstance(a, StateChanged)]
    assert changes == [("A", State.MASTER, State.INIT, "shutdown"), ("B", State.MASTER, State.INIT, "shutdown")]
    assert [a.priority for _, a in out if isinstance(a, SendAdvertisement)] == [0, 0]


def test_start_timers_and_shared_vrids_report_every_instance_not_just_the_last() -> None:
    host = Host([Member(cfg("A", 1), "eth0"), Member(cfg("B", 2), "eth0")])
    started = host.start(0)
    assert [(n, a.new) for n, a in started if isinstance(a, StateChanged)] == [("A", State.BACKUP), ("B", State.BACKUP)]
    fired = host.handle_timers(host.next_deadline() or 0)  # same settings: both down timers are due together
    assert sorted(n for n, a in fired if isinstance(a, StateChanged)) == ["A", "B"]
    b = cfg("B", 1, virtual_ipaddress=(IPv4Address("10.0.1.7"),))
    shared = Host([Member(cfg("A", 1), "eth0"), Member(b, "eth0")])
    shared.start(0)
    out = shared.receive(advert(1), src=PEER, dst=MULTICAST_V4, ttl=254, link="eth0", now=S)
    ttl = PacketDiscarded(Reason.TTL, PEER, "ttl 254")
    assert out == [("A", ttl), ("B", ttl)]


def test_a_sync_group_naming_an_unknown_instance_is_refused() -> None:
    with pytest.raises(ValueError) as err:
        Host([Member(cfg("A", 1), "eth0")], [("G", ("A", "X", "Y"))])
    assert str(err.value) == "sync group 'G': unknown instance(s) X, Y"


# ----------------------------------------------------------------- what the mutation run showed untested


def test_a_shared_decode_cache_is_filled_and_trusted() -> None:
    """The simulator hands one cache to every host of a LAN (``receive(cache=)``): the codec's verdict is stored
    under the family (under (family, group) for keepalived's old unicast checksum) and a stored verdict is used as
    it is, not decoded again."""
    host = Host([Member(cfg("A", 1), "eth0")])
    host.start(0)
    cache: dict[object, object] = {}
    data = advert(1)
    assert host.receive(data, src=PEER, dst=MULTICAST_V4, ttl=255, link="eth0", now=S, cache=cache) == []  # type: ignore[arg-type]
    assert list(cache) == [4] and isinstance(cache[4], Advertisement)
    trusted = {4: PacketError(Reason.CHECKSUM, "judged by another host")}
    out = host.receive(data, src=PEER, dst=MULTICAST_V4, ttl=255, link="eth0", now=S, cache=trusted)  # type: ignore[arg-type]
    assert out == [("A", PacketDiscarded(Reason.CHECKSUM, PEER, "judged by another host"))]
    always = unicast_v3("always")
    old_form = advert(1, dst=MULTICAST_V4)
    cache = {}
    assert always.receive(old_form, src=PEER, dst=ME, ttl=255, link="eth0", now=S, cache=cache) == []  # type: ignore[arg-type]
    assert list(cache) == [(4, MULTICAST_V4)] and isinstance(cache[(4, MULTICAST_V4)], Advertisement)
    trusted_old = {(4, MULTICAST_V4): PacketError(Reason.CHECKSUM, "judged by another host")}
    out = always.receive(old_form, src=PEER, dst=ME, ttl=255, link="eth0", now=2 * S, cache=trusted_old)  # type: ignore[arg-type]
    assert out == [("A", PacketDiscarded(Reason.CHECKSUM, PEER, "judged by another host"))]
    auto = unicast_v3("auto")
    cache = {}
    assert auto.receive(old_form, src=PEER, dst=ME, ttl=255, link="eth0", now=S, cache=cache) == [  # type: ignore[arg-type]
        ("A", OldChecksumAdopted())]
    assert list(cache) == [4, (4, MULTICAST_V4)]
    assert isinstance(cache[4], PacketError) and isinstance(cache[(4, MULTICAST_V4)], Advertisement)


@pytest.mark.parametrize("family", [4, 6])
def test_the_old_unicast_checksum_is_only_for_v3_ipv4_unicast(family: int) -> None:
    """keepalived's old_unicast_checksum concerns the VRRPv3 IPv4 pseudo-header only: an IPv6 unicast instance and
    a VRRPv2 unicast instance (no pseudo-header) never use it, even in "always" mode, and accept the normal form."""
    if family == 6:
        me, peer = IPv6Address("fe80::2"), IPv6Address("fe80::3")
        vips: tuple[IPv4Address | IPv6Address, ...] = (IPv6Address("fe80::100"),)
        settings: dict[str, object] = {"primary_address": me, "virtual_ipaddress": vips, "unicast_peer": (peer,)}
        adv = Advertisement(3, 1, 200, list(vips), 100)
    else:
        me, peer = ME, PEER  # type: ignore[assignment]
        settings = {"version": 2, "unicast_peer": (peer,)}
        adv = Advertisement(2, 1, 200, [IPv4Address("10.0.1.100")], 100)
    host = Host([Member(cfg("A", 1, **settings), "eth0", old_checksum="always")])
    host.start(0)
    assert not host.old_checksum("A")
    data = encode(adv, family=family, src=peer, dst=me)
    assert host.receive(data, src=peer, dst=me, ttl=255, link="eth0", now=S) == []
    assert host.router("A").stats.adverts_received == 1


def test_an_event_with_two_actions_still_puts_the_advert_first() -> None:
    """A Master learning the old checksum from a priority-0 advert answers with its own advert at once: two pairs,
    the advert first (the host's one order holds for every length)."""
    host = unicast_v3("auto")
    host.handle_timers(host.next_deadline() or 0)
    assert host.router("A").state is State.MASTER
    out = host.receive(advert(1, priority=0, dst=MULTICAST_V4), src=PEER, dst=ME, ttl=255, link="eth0", now=5 * S)
    assert [(n, type(a)) for n, a in out] == [("A", SendAdvertisement), ("A", OldChecksumAdopted)]


def test_the_earliest_timer_wins_whichever_instance_holds_it_and_ties_go_to_the_first() -> None:
    host = Host([Member(cfg("A", 1, priority=10), "eth0"), Member(cfg("B", 2, priority=250), "eth0")])
    host.start(0)
    b_timer = host.router("B").get_timer()
    assert b_timer is not None and b_timer < (host.router("A").get_timer() or 0)
    assert host.next_deadline() == b_timer and host.next_timer() == (b_timer, "B")
    same = Host([Member(cfg("A", 1), "eth0"), Member(cfg("B", 2), "eth0")])
    same.start(0)
    assert same.router("A").get_timer() == same.router("B").get_timer()
    assert same.next_timer() == (same.next_deadline(), "A")


def test_start_reports_no_priority_change_even_after_one_before_start() -> None:
    host = Host([Member(cfg("A", 1, trackers=(Tracker("chk", weight=-20),)), "eth0")])
    host.set_tracker_state("A", "chk", False, 0)
    assert host.start(0) == [("A", StateChanged(State.INIT, State.BACKUP, TransitionReason.STARTUP, 80))]


def test_an_owner_started_after_its_partner_pulls_it_to_master_at_that_moment() -> None:
    """Sync group (keepalived's vrrp_sync_group): B starts Backup, then the address owner A starts Master and B
    follows at once, its Adver_Timer armed from the start time."""
    host = Host([Member(cfg("B", 2), "eth1"), Member(cfg("A", 1, priority=255), "eth0")], [("G", ("B", "A"))])
    out = host.start(7 * S)
    assert {host.router(n).state for n in ("A", "B")} == {State.MASTER}
    assert host.router("B").get_timer() == 7 * S + S
    assert (None, SyncGroupStateChanged("G", State.MASTER)) in out


def grouped_pair(a: RouterConfig) -> Host:
    host = Host([Member(a, "eth0"), Member(cfg("B", 2), "eth1")], [("G", ("A", "B"))])
    host.start(0)
    return host


def test_priority_events_move_the_instance_and_its_group_at_their_time() -> None:
    """A priority event that makes A the address owner makes it Master now; its group partner follows now."""
    for event in ("set_priority", "event"):
        host = grouped_pair(cfg("A", 1))
        if event == "set_priority":
            out = host.set_priority("A", 255, 3 * S)
        else:
            out = host.event("A", lambda r, now: r.set_priority(255, now), 3 * S)
        assert {host.router(n).state for n in ("A", "B")} == {State.MASTER}, event
        assert [host.router(n).get_timer() for n in ("A", "B")] == [4 * S, 4 * S], event
        assert (None, SyncGroupStateChanged("G", State.MASTER)) in out


def test_a_track_file_fault_clears_at_its_time_for_the_whole_group() -> None:
    host = grouped_pair(cfg("A", 1, trackers=(Tracker("f", kind="value", weight=0),)))
    host.set_tracker_value("A", "f", 1, S)
    assert {host.router(n).state for n in ("A", "B")} == {State.FAULT}
    out = host.set_tracker_value("A", "f", 0, 3 * S)
    assert {host.router(n).state for n in ("A", "B")} == {State.BACKUP}
    mdi = host.router("A").master_down_interval_us()
    assert [host.router(n).get_timer() for n in ("A", "B")] == [3 * S + mdi] * 2
    assert (None, SyncGroupStateChanged("G", State.BACKUP)) in out


def test_the_group_reports_fault_once_as_soon_as_a_member_faults() -> None:
    """A member starting faulted puts the group in FAULT at once (reported right after it); a member that recovers
    while another is still faulted goes back to FAULT without the group reporting FAULT again."""
    a = cfg("A", 1, trackers=(Tracker("chk", weight=0, initial_up=False),))
    c = cfg("C", 3, trackers=(Tracker("chk", weight=0),))
    host = Host([Member(a, "eth0"), Member(cfg("B", 2), "eth1"), Member(c, "eth2")], [("G", ("A", "B", "C"))])
    out = host.start(0)
    assert [(n, type(x).__name__) for n, x in out] == [
        ("A", "StateChanged"), (None, "SyncGroupStateChanged"), ("B", "StateChanged"), ("C", "StateChanged")]
    assert host.group_states() == {"G": State.FAULT}
    host.set_tracker_state("C", "chk", False, S)
    out = host.set_tracker_state("A", "chk", True, 2 * S)
    assert host.router("A").state is State.FAULT
    assert not any(isinstance(x, SyncGroupStateChanged) for _, x in out)


def test_a_preempted_master_takes_its_group_to_backup_at_that_moment() -> None:
    host = Host([Member(cfg("A", 1), "eth0"), Member(cfg("B", 2), "eth1")], [("G", ("A", "B"))])
    host.start(0)
    host.handle_timers(host.next_deadline() or 0)
    assert {host.router(n).state for n in ("A", "B")} == {State.MASTER}
    out = host.receive(advert(1, priority=250), src=PEER, dst=MULTICAST_V4, ttl=255, link="eth0", now=9 * S)
    assert {host.router(n).state for n in ("A", "B")} == {State.BACKUP}
    assert host.router("B").get_timer() == 9 * S + host.router("B").master_down_interval_us()
    assert (None, SyncGroupStateChanged("G", State.BACKUP)) in out
