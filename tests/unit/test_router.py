"""Unit tests of the sans-IO virtual router (vrrp/core/router.py): one rule per test, explicit ``now`` in µs."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest

from tests.router_kit import VIP, S, backup, config, master
from vrrp.core.actions import (
    AddVips,
    ReceivedLowerPriority,
    RemoveVips,
    SendAdvertisement,
    SendGratuitous,
    StateChanged,
)
from vrrp.core.config import AUTH_AH, AUTH_PASS, RouterConfigError
from vrrp.core.packet import Advertisement, Reason, encode
from vrrp.core.router import Snapshot, VirtualRouter
from vrrp.core.state import TRANSITIONS, State, TransitionReason
from vrrp.core.timers import master_down_interval_us, skew_time_us
from vrrp.core.tracking import Tracker

PEER_LOW = IPv4Address("10.0.0.1")
PEER_HIGH = IPv4Address("10.0.0.3")




def adv(priority: int = 100, *, version: int = 3, interval_cs: int = 100, vrid: int = 1, **kw: object) -> Advertisement:
    addresses = kw.pop("addresses", [VIP])
    return Advertisement(version, vrid, priority, addresses, interval_cs, **kw)  # type: ignore[arg-type]






def kinds(actions: list[object]) -> list[type]:
    return [type(a) for a in actions]


# ------------------------------------------------------------------------------------------ timers


def test_skew_at_one_centisecond_is_not_rounded_to_zero_and_separates_priorities() -> None:
    assert skew_time_us(100, 1) == 6093
    assert skew_time_us(100, 1) != skew_time_us(99, 1)
    assert skew_time_us(254, 1) == 78


@pytest.mark.parametrize(
    ("prio", "mai_cs", "expected_us"),
    [(100, 100, 3_609_375), (100, 10, 360_937), (254, 100, 3_007_812), (100, 1, 36_093)],
)
def test_master_down_interval_matches_the_reference_table(prio: int, mai_cs: int, expected_us: int) -> None:
    assert master_down_interval_us(prio, mai_cs) == expected_us


def test_v2_skew_is_whole_seconds_based_whatever_the_interval() -> None:
    assert skew_time_us(100, 300, version=2) == skew_time_us(100, 100, version=2) == 609_375
    assert master_down_interval_us(100, 300, version=2) == 9 * S + 609_375


def test_down_timer_adverts_scales_master_down_interval() -> None:
    assert master_down_interval_us(100, 100, down_timer_adverts=5) == 5 * S + 609_375


# ------------------------------------------------------------------------------------------ startup


def test_non_owner_starts_as_backup_with_master_down_timer() -> None:
    r = VirtualRouter(config())
    actions = r.start(7)
    assert actions == [StateChanged(State.INIT, State.BACKUP, TransitionReason.STARTUP, 100)]
    assert r.get_timer() == 7 + 3_609_375


def test_owner_starts_as_master_advertising_255_with_vips_accepting_and_garp() -> None:
    r = VirtualRouter(config(priority=255))
    actions = r.start(0)
    assert kinds(actions) == [StateChanged, SendAdvertisement, AddVips, SendGratuitous]
    assert isinstance(actions[1], SendAdvertisement) and actions[1].priority == 255
    assert actions[2] == AddVips((VIP,), accept=True)
    assert actions[3] == SendGratuitous((VIP,), 5)
    assert r.get_timer() == 1 * S


def test_start_twice_is_a_programming_error() -> None:
    r = backup()
    with pytest.raises(RuntimeError, match="shutdown"):
        r.start(1)


# ------------------------------------------------------------------------------------------ backup


def test_down_timer_fires_master_with_advert_vips_and_garp() -> None:
    r = backup()
    assert r.handle_timer(r.get_timer() - 1) == []  # type: ignore[operator]
    actions = r.handle_timer(3_609_375)
    assert kinds(actions) == [StateChanged, SendAdvertisement, AddVips, SendGratuitous]
    assert actions[0] == StateChanged(State.BACKUP, State.MASTER, TransitionReason.MASTER_NO_RESPONSE, 100)
    assert actions[2] == AddVips((VIP,), accept=False)
    assert r.get_timer() == 3_609_375 + S
    assert r.stats.master_transitions == 1


def test_backup_accepting_higher_advert_resets_timer_and_learns_v3_interval() -> None:
    r = backup()
    assert r.receive_advertisement(adv(150, interval_cs=50), src=PEER_LOW, ttl=255, now=S) == []
    assert r.master_adver_interval_cs == 50
    assert r.get_timer() == S + master_down_interval_us(100, 50)


def test_backup_with_preempt_discards_lower_advert_and_then_preempts() -> None:
    r = backup()
    t0 = r.get_timer()
    assert r.receive_advertisement(adv(50), src=PEER_HIGH, ttl=255, now=S) == []
    assert r.get_timer() == t0
    actions = r.handle_timer(t0)  # type: ignore[arg-type]
    assert actions[0] == StateChanged(State.BACKUP, State.MASTER, TransitionReason.PREEMPTED, 100)


def test_nopreempt_backup_accepts_a_lower_priority_master() -> None:
    r = backup(preempt=False)
    r.receive_advertisement(adv(50), src=PEER_LOW, ttl=255, now=S)
    assert r.get_timer() == S + 3_609_375


def test_equal_priority_backup_never_preempts_whatever_the_addresses() -> None:
    r = backup()
    r.receive_advertisement(adv(100), src=PEER_LOW, ttl=255, now=S)  # lower address, same priority
    assert r.get_timer() == S + 3_609_375


def test_preempt_delay_keeps_accepting_a_lower_master_until_it_expires() -> None:
    r = backup(preempt_delay_us=10 * S)
    r.receive_advertisement(adv(50), src=PEER_LOW, ttl=255, now=S)
    assert r.get_timer() == S + 3_609_375  # accepted: the delay started
    r.receive_advertisement(adv(50), src=PEER_LOW, ttl=255, now=10 * S)
    assert r.get_timer() == 10 * S + 3_609_375  # still within the delay
    r.receive_advertisement(adv(50), src=PEER_LOW, ttl=255, now=11 * S)
    assert r.get_timer() == 10 * S + 3_609_375  # delay over: discarded, preemption runs
    assert r.handle_timer(10 * S + 3_609_375)[0].new is State.MASTER  # type: ignore[union-attr]


@pytest.mark.parametrize("other", [150, 100], ids=["higher", "equal"])
def test_preempt_delay_restarts_after_a_higher_or_equal_master(other: int) -> None:
    # keepalived 2.2.7 (measured in tests/interop/test_interop_preempt_delay.py) logs "stop preempt delay" on a
    # higher- or equal-priority advert and "start preempt delay" when the lower Master returns: the full delay
    # runs again, even though the first deadline (1 s + 10 s) has passed meanwhile.
    r = backup(preempt_delay_us=10 * S)
    r.receive_advertisement(adv(50), src=PEER_LOW, ttl=255, now=S)  # delay starts: deadline 11 s
    r.receive_advertisement(adv(other), src=PEER_HIGH, ttl=255, now=2 * S)
    r.receive_advertisement(adv(other), src=PEER_HIGH, ttl=255, now=12 * S)
    r.receive_advertisement(adv(50), src=PEER_LOW, ttl=255, now=13 * S)  # delay restarts: deadline 23 s
    assert r.get_timer() == 13 * S + 3_609_375  # accepted, not discarded
    r.receive_advertisement(adv(50), src=PEER_LOW, ttl=255, now=22 * S)
    assert r.get_timer() == 22 * S + 3_609_375  # still within the restarted delay
    r.receive_advertisement(adv(50), src=PEER_LOW, ttl=255, now=23 * S)
    assert r.get_timer() == 22 * S + 3_609_375  # restarted delay over: discarded, preemption runs
    assert r.handle_timer(22 * S + 3_609_375)[0].new is State.MASTER  # type: ignore[union-attr]


def test_priority_zero_sets_timer_to_skew_and_takeover_says_so() -> None:
    r = backup()
    r.receive_advertisement(adv(0), src=PEER_HIGH, ttl=255, now=S)
    assert r.get_timer() == S + 609_375
    assert r.stats.rcvd_pri_zero == 1
    actions = r.handle_timer(S + 609_375)
    assert actions[0] == StateChanged(State.BACKUP, State.MASTER, TransitionReason.PRIORITY_ZERO, 100)


def test_v2_backup_keeps_its_own_interval() -> None:
    r = backup(version=2)
    r.receive_advertisement(adv(150, version=2, auth_data=bytes(8)), src=PEER_LOW, ttl=255, now=S)
    assert r.master_adver_interval_cs == 100
    assert r.get_timer() == S + 3_609_375


def test_backup_shutdown_goes_init_silently() -> None:
    r = backup()
    assert r.shutdown(5) == [StateChanged(State.BACKUP, State.INIT, TransitionReason.SHUTDOWN, 100)]
    assert r.get_timer() is None
    assert r.shutdown(6) == []


# ------------------------------------------------------------------------------------------ master


def test_master_adver_timer_sends_and_rearms() -> None:
    r = master()
    t = r.get_timer()
    assert t is not None
    actions = r.handle_timer(t)
    assert kinds(actions) == [SendAdvertisement]
    assert r.get_timer() == t + S


def test_master_yields_to_higher_priority_and_removes_vips() -> None:
    r = master()
    actions = r.receive_advertisement(adv(200, interval_cs=200), src=PEER_LOW, ttl=255, now=10 * S)
    assert actions == [
        StateChanged(State.MASTER, State.BACKUP, TransitionReason.PRIORITY, 100),
        RemoveVips((VIP,)),
    ]
    assert r.master_adver_interval_cs == 200
    assert r.get_timer() == 10 * S + master_down_interval_us(100, 200)


def test_master_tie_break_larger_address_wins() -> None:
    r = master()
    assert r.receive_advertisement(adv(100), src=PEER_HIGH, ttl=255, now=10 * S)[0].new is State.BACKUP  # type: ignore[union-attr]
    r2 = master()
    actions = r2.receive_advertisement(adv(100), src=PEER_LOW, ttl=255, now=10 * S)
    assert r2.state is State.MASTER
    assert kinds(actions) == [SendAdvertisement]


def test_tie_break_is_an_unsigned_network_order_compare() -> None:
    # 200.0.0.1 > 10.0.0.2 as unsigned integers (a signed 32-bit compare would say otherwise).
    r = master()
    r.receive_advertisement(adv(100), src=IPv4Address("200.0.0.1"), ttl=255, now=10 * S)
    assert r.state is State.BACKUP
    me6 = IPv6Address("fe80::1")
    v6 = master(primary_address=me6, virtual_ipaddress=(IPv6Address("fe80::100"),))
    v6.receive_advertisement(
        adv(100, addresses=[IPv6Address("fe80::100")]), src=IPv6Address("fe80::8000:0:0:1"), ttl=255, now=S
    )
    assert v6.state is State.BACKUP


def test_master_reasserts_on_lower_priority_unless_lower_prio_no_advert() -> None:
    r = master()
    actions = r.receive_advertisement(adv(50), src=PEER_HIGH, ttl=255, now=10 * S)
    assert kinds(actions) == [SendAdvertisement, ReceivedLowerPriority] and r.state is State.MASTER
    quiet = master(lower_prio_no_advert=True)
    assert quiet.receive_advertisement(adv(50), src=PEER_HIGH, ttl=255, now=10 * S) == [
        ReceivedLowerPriority(50, PEER_HIGH)
    ]


def test_master_reports_a_valid_lower_priority_advert_for_notify_master_rx_lower_pri() -> None:
    """keepalived runs notify_master_rx_lower_pri for every lower-priority advert a Master accepts; the router
    decides it (after every receive check), the shell only runs the script."""
    r = master()
    actions = r.receive_advertisement(adv(50), src=PEER_HIGH, ttl=255, now=10 * S)
    assert [a for a in actions if isinstance(a, ReceivedLowerPriority)] == [ReceivedLowerPriority(50, PEER_HIGH)]
    assert r.state is State.MASTER
    # not for a discarded advert (TTL 254: another hop's), nor priority 0, higher, equal, or as Backup
    assert r.receive_advertisement(adv(50), src=PEER_HIGH, ttl=254, now=11 * S) == []
    for prio in (0, 100):
        got = master().receive_advertisement(adv(prio), src=PEER_LOW, ttl=255, now=10 * S)
        assert not any(isinstance(a, ReceivedLowerPriority) for a in got), prio
    higher = master()
    got = higher.receive_advertisement(adv(150), src=PEER_LOW, ttl=255, now=10 * S)
    assert higher.state is State.BACKUP and not any(isinstance(a, ReceivedLowerPriority) for a in got)
    assert backup(preempt=False).receive_advertisement(adv(50), src=PEER_HIGH, ttl=255, now=S) == []
    # raw packets take the same path: a valid encoded advert is reported, a bad checksum is not
    data = encode(adv(60), family=4, src=PEER_HIGH, dst=ip_address("224.0.0.18"))
    got = r.receive_packet(data, src=PEER_HIGH, dst=ip_address("224.0.0.18"), ttl=255, now=12 * S)
    assert ReceivedLowerPriority(60, PEER_HIGH) in got
    bad = data[:6] + bytes([data[6] ^ 0xFF]) + data[7:]
    assert r.receive_packet(bad, src=PEER_HIGH, dst=ip_address("224.0.0.18"), ttl=255, now=13 * S) == []


def test_master_answers_priority_zero_at_once_and_resets_adver_timer() -> None:
    r = master()
    actions = r.receive_advertisement(adv(0), src=PEER_HIGH, ttl=255, now=4 * S)
    assert kinds(actions) == [SendAdvertisement]
    assert r.get_timer() == 5 * S


def test_master_shutdown_sends_priority_zero_and_removes_vips() -> None:
    r = master()
    actions = r.shutdown(9 * S)
    assert kinds(actions) == [StateChanged, SendAdvertisement, RemoveVips]
    assert isinstance(actions[1], SendAdvertisement) and actions[1].priority == 0
    assert r.state is State.INIT and r.get_timer() is None
    assert r.stats.sent_pri_zero == 1


def test_accept_mode_flag_reaches_add_vips() -> None:
    r = master(accept=True)
    assert r.holds_vips
    actions = r.shutdown(0)
    assert RemoveVips((VIP,)) in actions
    r.start(0)
    assert AddVips((VIP,), accept=True) in r.handle_timer(r.get_timer() or 0)


# ------------------------------------------------------------------------------------------ discards


@pytest.mark.parametrize(
    ("advert", "src", "ttl", "reason", "settings"),
    [
        (adv(200), PEER_LOW, 254, Reason.TTL, {}),
        (adv(200, version=2, auth_data=bytes(8)), PEER_LOW, 255, Reason.VERSION, {}),
        (adv(200, vrid=2), PEER_LOW, 255, Reason.VRID, {}),
        (adv(200), PEER_LOW, 255, Reason.UNICAST_PEER, {"unicast_peer": (PEER_HIGH,)}),
        (
            adv(200, version=2, interval_cs=200, auth_data=bytes(8)),
            PEER_LOW,
            255,
            Reason.INTERVAL,
            {"version": 2},
        ),
        (
            adv(200, version=2, auth_type=1, auth_data=b"secret\0\0"),
            PEER_LOW,
            255,
            Reason.AUTH_TYPE_MISMATCH,
            {"version": 2},
        ),
        (
            adv(200, version=2, auth_type=1, auth_data=b"wrong\0\0\0"),
            PEER_LOW,
            255,
            Reason.AUTH,
            {"version": 2, "auth_type": AUTH_PASS, "auth_pass": b"secret"},
        ),
        (
            adv(200, version=2, addresses=[IPv4Address("10.9.9.9")], auth_data=bytes(8)),
            PEER_LOW,
            255,
            Reason.ADDRESS_LIST,
            {"version": 2},
        ),
    ],
)
def test_discard_is_counted_and_changes_nothing(
    advert: Advertisement, src: IPv4Address, ttl: int, reason: Reason, settings: dict[str, object]
) -> None:
    for r in (backup(**settings), master(**settings)):
        before = r.snapshot()
        assert r.receive_advertisement(advert, src=src, ttl=ttl, now=2 * S) == []
        assert r.snapshot() == before
        assert r.stats.discards == {reason.value: 1}
        assert r.stats.adverts_received == 0


def test_v2_pass_authentication_accepts_the_right_password() -> None:
    r = backup(version=2, auth_type=AUTH_PASS, auth_pass=b"secret")
    ok = adv(200, version=2, auth_type=1, auth_data=b"secret\0\0")
    r.receive_advertisement(ok, src=PEER_LOW, ttl=255, now=S)
    assert r.stats.discards == {} and r.get_timer() == S + 3_609_375


def test_v2_owner_discards_adverts_but_v3_owner_listens() -> None:
    v2 = VirtualRouter(config(version=2, priority=255))
    v2.start(0)
    v2.receive_advertisement(adv(255, version=2, auth_data=bytes(8)), src=PEER_HIGH, ttl=255, now=S)
    assert v2.stats.discards == {"owner": 1} and v2.state is State.MASTER
    v3 = VirtualRouter(config(priority=255))
    v3.start(0)
    v3.receive_advertisement(adv(255), src=PEER_HIGH, ttl=255, now=S)
    assert v3.state is State.BACKUP  # two owners: the RFC tie-break resolves it


def test_v3_address_list_mismatch_is_only_counted() -> None:
    r = backup()
    r.receive_advertisement(adv(200, addresses=[IPv4Address("10.9.9.9")]), src=PEER_LOW, ttl=255, now=S)
    assert r.stats.address_list_mismatch == 1 and r.stats.discards == {}
    assert r.get_timer() == S + 3_609_375


def test_v2_address_list_mismatch_from_the_owner_is_accepted() -> None:
    r = backup(version=2)
    odd = adv(255, version=2, addresses=[IPv4Address("10.9.9.9")], auth_data=bytes(8))
    r.receive_advertisement(odd, src=PEER_LOW, ttl=255, now=S)
    assert r.stats.discards == {}


def test_receive_packet_counts_codec_errors_by_reason() -> None:
    r = backup()
    good = encode(adv(200), family=4, src=PEER_LOW, dst=ip_address("224.0.0.18"))
    bad = good[:6] + bytes([good[6] ^ 0xFF]) + good[7:]
    before = r.snapshot()
    assert r.receive_packet(bad, src=PEER_LOW, dst=IPv4Address("224.0.0.18"), ttl=255, now=S) == []
    assert r.receive_packet(b"\x31", src=PEER_LOW, dst=IPv4Address("224.0.0.18"), ttl=255, now=S) == []
    assert r.stats.discards == {"checksum": 1, "length": 1} and r.snapshot() == before
    r.receive_packet(good, src=PEER_LOW, dst=IPv4Address("224.0.0.18"), ttl=255, now=S)
    assert r.get_timer() == S + 3_609_375


def test_init_and_fault_ignore_adverts() -> None:
    r = VirtualRouter(config())
    assert r.receive_advertisement(adv(200), src=PEER_LOW, ttl=255, now=0) == []
    assert r.state is State.INIT and r.get_timer() is None


# ------------------------------------------------------------------------------ priority, trackers


def test_set_priority_on_master_advertises_the_new_priority_at_once() -> None:
    r = master()
    actions = r.set_priority(50, 5 * S)
    assert actions == [replace(actions[0], priority=50)] and isinstance(actions[0], SendAdvertisement)
    assert r.effective_priority == 50


def test_backup_raised_to_owner_takes_over_at_once() -> None:
    r = backup()
    actions = r.set_priority(255, S)
    assert actions[0] == StateChanged(State.BACKUP, State.MASTER, TransitionReason.OWNER, 255)


def test_set_priority_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"1\.\.255"):
        backup().set_priority(0, 0)


def test_weighted_trackers_change_effective_priority_with_clamping() -> None:
    trackers = (
        Tracker("eth1", weight=-60),
        Tracker("chk", weight=30),
        Tracker("file", weight=5, kind="value"),
    )
    r = backup(priority=240, trackers=trackers)
    assert r.effective_priority == 254  # 240 + 30, clamped to 254
    r.set_tracker_state("chk", False, S)
    r.set_tracker_state("eth1", False, S)
    assert r.effective_priority == 180
    r.set_tracker_value("file", -30, S)
    assert r.effective_priority == 30
    r.set_tracker_value("file", -40, S)
    assert r.effective_priority == 1  # 180 - 200, clamped to 1
    r.set_tracker_value("file", -51, S)  # -255 < -253: FAULT
    assert r.state is State.FAULT and r.effective_priority == 0


def test_reverse_tracker_inverts_the_state() -> None:
    r = backup(trackers=(Tracker("eth1", weight=-10, reverse=True),))
    assert r.effective_priority == 90  # up + reverse counts as down
    r.set_tracker_state("eth1", False, 0)
    assert r.effective_priority == 100


def test_owner_ignores_weights_but_faults() -> None:
    r = VirtualRouter(config(priority=255, trackers=(Tracker("w", weight=-50), Tracker("z"))))
    r.start(0)
    r.set_tracker_state("w", False, 1)
    assert r.effective_priority == 255 and r.state is State.MASTER
    actions = r.set_tracker_state("z", False, 2)
    assert r.state is State.FAULT
    assert [a.priority for a in actions if isinstance(a, SendAdvertisement)] == [0]
    assert RemoveVips((VIP,)) in actions
    back = r.set_tracker_state("z", True, 3)
    assert back[0] == StateChanged(State.FAULT, State.MASTER, TransitionReason.FAULT_CLEARED, 255)


def test_weight_zero_tracker_faults_backup_and_recovery_returns_to_backup() -> None:
    r = backup(trackers=(Tracker("eth1"),))
    assert r.set_tracker_state("eth1", False, S)[0].new is State.FAULT  # type: ignore[union-attr]
    assert r.get_timer() is None
    assert r.set_tracker_state("eth1", False, 2 * S) == []
    r.set_tracker_state("eth1", True, 3 * S)
    assert r.state is State.BACKUP and r.get_timer() == 3 * S + 3_609_375


def test_start_while_faulted_goes_to_fault() -> None:
    r = VirtualRouter(config(trackers=(Tracker("eth1", initial_up=False),)))
    assert r.start(0)[0].new is State.FAULT  # type: ignore[union-attr]


def test_unknown_tracker_is_a_key_error_naming_it() -> None:
    with pytest.raises(KeyError, match="nope"):
        backup().set_tracker_state("nope", True, 0)


# ------------------------------------------------------------------------------------------ config


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"vrid": 0}, "virtual_router_id"),
        ({"priority": 0}, "priority"),
        ({"version": 4}, "version"),
        ({"version": 2, "advert_int_cs": 50}, "advert_int"),
        ({"advert_int_cs": 4096}, "advert_int"),
        ({"virtual_ipaddress": ()}, "virtual_ipaddress"),
        ({"virtual_ipaddress": (IPv6Address("fe80::1"),)}, "virtual_ipaddress"),
        ({"down_timer_adverts": 0}, "down_timer_adverts"),
        ({"preempt_delay_us": 1001 * S}, "preempt_delay"),
        ({"trackers": (Tracker("a"), Tracker("a"))}, "track"),
    ],
)
def test_bad_config_names_the_keyword(settings: dict[str, object], field: str) -> None:
    with pytest.raises(RouterConfigError) as err:
        config(**settings)
    assert err.value.field == field
    assert str(err.value).startswith(field)


def test_v2_over_ipv6_is_refused() -> None:
    with pytest.raises(RouterConfigError, match="IPv4 only"):
        config(version=2, primary_address=IPv6Address("fe80::1"), virtual_ipaddress=(IPv6Address("fe80::2"),))


def test_every_transition_made_is_in_the_table() -> None:
    r = master(trackers=(Tracker("t"),))
    seen = []
    for actions in (
        r.receive_advertisement(adv(200), src=PEER_LOW, ttl=255, now=S),
        r.set_tracker_state("t", False, 2 * S),
        r.set_tracker_state("t", True, 3 * S),
        r.shutdown(4 * S),
    ):
        seen += [(a.old, a.new) for a in actions if isinstance(a, StateChanged)]
    assert seen == [
        (State.MASTER, State.BACKUP),
        (State.BACKUP, State.FAULT),
        (State.FAULT, State.BACKUP),
        (State.BACKUP, State.INIT),
    ]
    assert set(seen) <= TRANSITIONS


def test_higher_prio_send_advert_speaks_once_before_yielding() -> None:
    r = master(higher_prio_send_advert=True)
    actions = r.receive_advertisement(adv(200), src=PEER_LOW, ttl=255, now=10 * S)
    assert kinds(actions) == [SendAdvertisement, StateChanged, RemoveVips]
    assert isinstance(actions[0], SendAdvertisement) and actions[0].priority == 100
    assert kinds(master().receive_advertisement(adv(200), src=PEER_LOW, ttl=255, now=10 * S)) == [
        StateChanged,
        RemoveVips,
    ]


def test_garp_lower_prio_repeat_refreshes_arp_caches() -> None:
    r = master(garp_lower_prio_repeat=3)
    actions = r.receive_advertisement(adv(50), src=PEER_HIGH, ttl=255, now=10 * S)
    assert actions[1:] == [SendGratuitous((VIP,), 3), ReceivedLowerPriority(50, PEER_HIGH)]
    assert kinds(master().receive_advertisement(adv(50), src=PEER_HIGH, ttl=255, now=10 * S)) == [
        SendAdvertisement,
        ReceivedLowerPriority,
    ]


def test_garp_lower_prio_delay_adds_a_second_burst_as_keepalived_does() -> None:
    # keepalived 2.2.7 vrrp_state_master_rx: vrrp_send_link_update(garp_lower_prio_rep), then the same again
    # garp_lower_prio_delay later (vrrp_lower_prio_gratuitous_arp_thread), sent only while the VIPs are set
    r = master(garp_lower_prio_repeat=2, garp_lower_prio_delay_us=5 * S)
    actions = r.receive_advertisement(adv(50), src=PEER_HIGH, ttl=255, now=10 * S)
    assert SendGratuitous((VIP,), 2, 0, 5 * S) in actions


def test_owner_ignore_adverts_keeps_the_owner_master_against_another_owner() -> None:
    r = VirtualRouter(config(priority=255, owner_ignore_adverts=True))
    r.start(0)
    assert r.receive_advertisement(adv(255), src=PEER_HIGH, ttl=255, now=S) == []
    assert r.state is State.MASTER and r.stats.adverts_received == 1


# ------------------------------------------------------------------------------ destination (keepalived)

GROUP4 = IPv4Address("224.0.0.18")
ME4 = IPv4Address("10.0.0.2")


@pytest.mark.parametrize("unicast", [False, True], ids=["multicast-instance", "unicast-instance"])
def test_destination_must_match_the_instances_mode(unicast: bool) -> None:
    """keepalived 2.2.7 (vrrp_check_packet): "Expected multicast packet but received unicast packet" and the
    reverse are discarded and counted as address list errors."""
    settings: dict[str, object] = {"unicast_peer": (PEER_HIGH,)} if unicast else {}
    right, wrong = (ME4, GROUP4) if unicast else (GROUP4, ME4)
    r = backup(**settings)
    before = r.snapshot()
    assert r.receive_advertisement(adv(200), src=PEER_HIGH, ttl=255, now=S, dst=wrong) == []
    assert r.snapshot() == before and r.stats.discards == {"address_list": 1} and r.stats.adverts_received == 0
    r.receive_advertisement(adv(200), src=PEER_HIGH, ttl=255, now=S, dst=right)
    assert r.stats.adverts_received == 1 and r.get_timer() == S + r.master_down_interval_us()


def test_destination_check_covers_ipv6_and_raw_packets() -> None:
    me6, peer6, vip6 = IPv6Address("fe80::2"), IPv6Address("fe80::1"), IPv6Address("fe80::100")
    r = backup(primary_address=me6, virtual_ipaddress=(vip6,))
    wire = encode(adv(200, addresses=[vip6]), family=6, src=peer6, dst=me6)
    assert r.receive_packet(wire, src=peer6, dst=me6, ttl=255, now=S) == []
    assert r.stats.discards == {"address_list": 1}
    group6 = IPv6Address("ff02::12")
    wire = encode(adv(200, addresses=[vip6]), family=6, src=peer6, dst=group6)
    r.receive_packet(wire, src=peer6, dst=group6, ttl=255, now=S)
    assert r.stats.adverts_received == 1


# --------------------------------------------------------------------------- v2 authentication: one check


def test_router_runs_the_codecs_v2_auth_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The conformance tests of ``check_v2_auth`` (constant-time PASS compare) cover what the router runs."""
    import vrrp.core.router as router_module

    calls: list[tuple[int, bytes]] = []
    real = router_module.check_v2_auth

    def spy(a: Advertisement, *, auth_type: int, auth_data: bytes) -> None:
        calls.append((auth_type, auth_data))
        real(a, auth_type=auth_type, auth_data=auth_data)

    monkeypatch.setattr(router_module, "check_v2_auth", spy)
    r = backup(version=2, auth_type=AUTH_PASS, auth_pass=b"secret")
    r.receive_advertisement(adv(200, version=2, auth_type=1, auth_data=b"secret\0\0"), src=PEER_LOW, ttl=255, now=S)
    assert calls == [(AUTH_PASS, b"secret")] and r.stats.adverts_received == 1


def test_v2_pass_longer_than_8_bytes_compares_its_first_8_like_keepalived() -> None:
    r = backup(version=2, auth_type=AUTH_PASS, auth_pass=b"secret12-tail")
    r.receive_advertisement(adv(200, version=2, auth_type=1, auth_data=b"secret12"), src=PEER_LOW, ttl=255, now=S)
    assert r.stats.discards == {} and r.stats.adverts_received == 1


def test_v2_ah_is_never_accepted_since_the_codec_does_not_carry_it() -> None:
    r = backup(version=2, auth_type=AUTH_AH)
    before = r.snapshot()
    r.receive_advertisement(adv(200, version=2, auth_type=AUTH_AH, auth_data=bytes(8)), src=PEER_LOW, ttl=255, now=S)
    assert r.stats.discards == {"auth": 1} and r.snapshot() == before


# ------------------------------------------------------------------------- what the shell is told, exactly


def test_advert_actions_carry_every_field_the_shell_encodes() -> None:
    v3 = master(v3_checksum_as_v2=True)
    sent = v3.handle_timer(v3.get_timer() or 0)
    assert sent == [
        SendAdvertisement(vrid=1, priority=100, interval_cs=100, addresses=(VIP,), version=3, auth_type=0,
                          auth_data=b"", checksum_form="rfc9568")
    ]  # fmt: skip
    assert sent[0].advertisement() == Advertisement(3, 1, 100, [VIP], 100)  # type: ignore[attr-defined]
    v2 = master(version=2, advert_int_cs=200, auth_type=AUTH_PASS, auth_pass=b"secret")
    sent = v2.handle_timer(v2.get_timer() or 0)
    assert sent == [
        SendAdvertisement(vrid=1, priority=100, interval_cs=200, addresses=(VIP,), version=2, auth_type=AUTH_PASS,
                          auth_data=b"secret\0\0", checksum_form="rfc5798")
    ]  # fmt: skip
    assert sent[0].advertisement() == Advertisement(  # type: ignore[attr-defined]
        2, 1, 100, [VIP], 200, auth_type=AUTH_PASS, auth_data=b"secret\0\0"
    )


def test_counters_count_every_event() -> None:
    r = master(owner_ignore_adverts=False)
    for _ in range(2):
        r.handle_timer(r.get_timer() or 0)
    r.receive_advertisement(adv(0), src=PEER_LOW, ttl=255, now=10 * S)
    r.receive_advertisement(adv(0), src=PEER_LOW, ttl=255, now=11 * S)
    r.receive_advertisement(adv(50, addresses=[IPv4Address("10.9.9.9")]), src=PEER_LOW, ttl=255, now=12 * S)
    r.receive_advertisement(adv(50, addresses=[IPv4Address("10.9.9.8")]), src=PEER_LOW, ttl=255, now=13 * S)
    r.receive_advertisement(adv(50), src=PEER_LOW, ttl=254, now=14 * S)
    r.receive_advertisement(adv(50), src=PEER_LOW, ttl=253, now=15 * S)
    r.shutdown(16 * S)
    s = r.stats
    # becoming Master, 2 Adver_Timers, 2 answers to priority 0, 2 answers to lower priorities, priority 0 at stop
    assert (s.adverts_sent, s.sent_pri_zero) == (8, 1)
    assert (s.adverts_received, s.rcvd_pri_zero, s.address_list_mismatch) == (4, 2, 2)
    assert s.discards == {"ttl": 2}
    r.start(20 * S)
    r.handle_timer(r.get_timer() or 0)
    assert (s.master_transitions, s.new_master_reason) == (2, TransitionReason.MASTER_NO_RESPONSE)


def test_fresh_and_started_snapshots_hold_plain_values() -> None:
    r = VirtualRouter(config())
    assert r.snapshot() == Snapshot(State.INIT, None, 100, 100, None, False, False, False, False)
    r.start(0)
    assert r.snapshot() == Snapshot(State.BACKUP, r.master_down_interval_us(), 100, 100, None, False, False, False,
                                    False)  # fmt: skip
    r.handle_timer(r.get_timer() or 0)
    assert r.snapshot() == Snapshot(State.MASTER, r.master_down_interval_us() + S, 100, 100, None, False, False,
                                    False, False)  # fmt: skip


def test_snapshot_shows_every_pending_reason_and_an_accepted_advert_clears_them() -> None:
    r = backup(preempt_delay_us=5 * S, priority=150)
    r.receive_advertisement(adv(100), src=PEER_LOW, ttl=255, now=S)  # lower: preempt_delay starts
    snap = r.snapshot()
    assert (snap.preempt_time, snap.preempting) == (6 * S, False)
    r.receive_advertisement(adv(100), src=PEER_LOW, ttl=255, now=7 * S)  # delay over: discard, preempt
    assert r.snapshot().preempting is True
    r.receive_advertisement(adv(0), src=PEER_LOW, ttl=255, now=8 * S)
    assert r.snapshot().after_prio0 is True
    r.receive_advertisement(adv(200), src=PEER_HIGH, ttl=255, now=9 * S)  # a higher Master: all cleared
    snap = r.snapshot()
    assert (snap.preempt_time, snap.after_prio0, snap.preempting, snap.want_master) == (None, False, False, False)
    fired = r.handle_timer(r.get_timer() or 0)
    assert fired[0] == StateChanged(State.BACKUP, State.MASTER, TransitionReason.MASTER_NO_RESPONSE, 150)
    assert r.snapshot().preempt_time is None


def test_nopreempt_with_a_preempt_delay_never_starts_the_delay() -> None:
    r = backup(preempt=False, preempt_delay_us=5 * S, priority=150)
    r.receive_advertisement(adv(100), src=PEER_LOW, ttl=255, now=S)
    assert r.snapshot().preempt_time is None and r.get_timer() == S + r.master_down_interval_us()


def test_master_never_yields_to_its_own_address() -> None:
    """Equal priority and an equal address is our own advert (looped back): no tie-break to lose."""
    r = master()
    assert r.receive_advertisement(adv(100), src=ME4, ttl=255, now=10 * S) == [
        SendAdvertisement(vrid=1, priority=100, interval_cs=100, addresses=(VIP,), version=3, auth_type=0,
                          auth_data=b"", checksum_form="rfc5798")
    ]  # fmt: skip
    assert r.state is State.MASTER


def test_a_backup_changing_priority_sends_nothing_and_a_master_only_on_a_real_change() -> None:
    b = backup(trackers=(Tracker("t", weight=10),))
    assert b.set_priority(150, S) == [] and b.state is State.BACKUP
    m = master(trackers=(Tracker("t", weight=10),))
    assert m.set_tracker_state("t", True, S) == []  # up already: the effective priority did not move
    assert [a.priority for a in m.set_tracker_state("t", False, S) if isinstance(a, SendAdvertisement)] == [100]


def test_start_and_fault_report_their_reasons() -> None:
    f = VirtualRouter(config(trackers=(Tracker("t"),)))
    f.set_tracker_state("t", False, 0)
    assert f.start(0) == [StateChanged(State.INIT, State.FAULT, TransitionReason.FAULT, 0)]
    o = VirtualRouter(config(priority=255))
    assert o.start(0)[0] == StateChanged(State.INIT, State.MASTER, TransitionReason.OWNER, 255)


def test_a_track_file_value_moves_a_faulted_instance_back_with_a_running_timer() -> None:
    r = backup(trackers=(Tracker("f", kind="value", weight=0),))
    r.set_tracker_value("f", 1, S)
    assert r.state is State.FAULT
    assert r.set_tracker_value("f", 0, 2 * S)[0].new is State.BACKUP  # type: ignore[attr-defined]
    assert r.get_timer() == 2 * S + r.master_down_interval_us()


def test_zero_and_one_centisecond_intervals_at_the_router() -> None:
    r = backup()
    r.receive_advertisement(adv(200, interval_cs=0), src=PEER_HIGH, ttl=255, now=S)
    assert r.stats.discards == {"interval": 1}
    r.receive_advertisement(adv(200, interval_cs=1), src=PEER_HIGH, ttl=255, now=S)
    assert r.stats.adverts_received == 1 and r.master_adver_interval_cs == 1


def test_down_timer_adverts_multiplies_the_interval() -> None:
    r = backup(down_timer_adverts=5)
    assert r.get_timer() == 5 * S + (256 - 100) * S // 256


def test_illegal_transitions_name_the_instance_and_the_move() -> None:
    from vrrp.core.state import IllegalTransition

    r = VirtualRouter(config())  # still INIT: INIT -> INIT is not in the table
    with pytest.raises(IllegalTransition) as err:
        r._transition(State.INIT, TransitionReason.FAULT, 0)
    assert str(err.value) == "VI_1: INIT -> INIT (fault)"


# ------------------------------------------------------------------- receive checks named by the mutation run


def test_v2_advert_with_a_subset_of_our_vips_is_discarded() -> None:
    r = backup(version=2, virtual_ipaddress=(VIP, IPv4Address("10.0.0.101")))
    r.receive_advertisement(adv(200, version=2, addresses=[VIP], auth_data=bytes(8)), src=PEER_HIGH, ttl=255, now=S)
    assert r.stats.discards == {"address_list": 1}
    r.receive_advertisement(adv(200, version=2, addresses=[IPv4Address("10.0.0.101"), VIP], auth_data=bytes(8)),
                            src=PEER_HIGH, ttl=255, now=S)  # fmt: skip
    assert r.stats.adverts_received == 1


def test_a_source_of_the_other_family_is_discarded() -> None:
    r = backup()
    r.receive_advertisement(adv(200), src=IPv6Address("fe80::1"), ttl=255, now=S)
    assert r.stats.discards == {"address_list": 1} and r.stats.adverts_received == 0


def test_owner_ignore_adverts_does_not_deafen_a_non_owner() -> None:
    r = master(owner_ignore_adverts=True)
    r.receive_advertisement(adv(200), src=PEER_HIGH, ttl=255, now=10 * S)
    assert r.state is State.BACKUP


def test_priority_zero_adverts_are_counted_each_time_and_v3_never_carries_v2_authentication() -> None:
    r = master(auth_type=AUTH_PASS, auth_pass=b"secret")  # v3: the v2 authentication settings do not apply
    sent = r.handle_timer(r.get_timer() or 0)
    assert [(a.auth_type, a.auth_data) for a in sent if isinstance(a, SendAdvertisement)] == [(0, b"")]
    r.shutdown(10 * S)
    r.start(20 * S)
    r.handle_timer(r.get_timer() or 0)
    r.shutdown(30 * S)
    assert r.stats.sent_pri_zero == 2


def test_the_shell_gets_what_to_install_and_how_to_announce_it_from_the_config() -> None:
    from ipaddress import IPv4Interface, IPv4Network

    from vrrp.core.specs import VirtualAddress, VirtualRoute, VirtualRule

    install = (VirtualAddress(IPv4Interface("10.0.0.100/24"), "eth0"),)
    routes = (VirtualRoute(IPv4Network("192.0.2.0/24"), via=IPv4Address("10.0.0.254")),)
    rules = (VirtualRule(table=100, src=IPv4Network("10.0.0.0/24")),)
    garp = {"garp_interval_us": 7, "garp_master_delay_us": 11, "garp_master_refresh_us": 13,
            "garp_master_refresh_repeat": 2, "garp_lower_prio_repeat": 3}  # fmt: skip
    r = backup(install_addresses=install, virtual_routes=routes, virtual_rules=rules, **garp)
    became = r.handle_timer(r.get_timer() or 0)
    assert AddVips((VIP,), False, install, routes, rules) in became
    assert SendGratuitous((VIP,), 5, 7, 11, 13, 2) in became
    refresh = r.receive_advertisement(adv(50), src=PEER_LOW, ttl=255, now=10 * S)
    assert SendGratuitous((VIP,), 3, 7) in refresh
    left = r.receive_advertisement(adv(200), src=PEER_HIGH, ttl=255, now=11 * S)
    assert RemoveVips((VIP,), install, routes, rules) in left


@pytest.mark.parametrize("field", ["garp_interval_us", "garp_master_delay_us", "garp_master_refresh_us"])
def test_negative_announcement_timings_are_refused_by_keyword(field: str) -> None:
    with pytest.raises(RouterConfigError) as err:
        config(**{field: -1})
    assert str(err.value) == f"{field.removesuffix('_us')}: must not be negative"
    assert getattr(config(**{field: 0}), field) == 0


def test_refresh_repeat_must_be_at_least_one() -> None:
    with pytest.raises(RouterConfigError) as err:
        config(garp_master_refresh_repeat=0)
    assert str(err.value) == "garp_master_refresh_repeat: must be at least 1"
    assert config(garp_master_refresh_repeat=1).garp_master_refresh_repeat == 1


# ----------------------------------------------------------------- a reload's in-place address change (Master)


def _installed() -> dict[str, tuple[object, ...]]:
    from ipaddress import IPv4Interface, IPv4Network

    from vrrp.core.specs import VirtualAddress, VirtualRoute, VirtualRule

    return {
        "install": tuple(VirtualAddress(IPv4Interface(f"10.0.0.{n}/24"), "eth0") for n in (101, 102, 103)),
        "routes": tuple(VirtualRoute(IPv4Network(f"192.0.{n}.0/24"), via=IPv4Address("10.0.0.254"))
                        for n in (1, 2, 3)),
        "rules": tuple(VirtualRule(table=100 + n, src=IPv4Network(f"10.{n}.0.0/16")) for n in (1, 2, 3)),
    }


_FIELD = {"install": "install_addresses", "routes": "virtual_routes", "rules": "virtual_rules"}


def test_replace_addresses_installs_and_removes_exactly_the_difference_of_each_kind() -> None:
    """keepalived's reload diff: of the excluded addresses, routes and rules, the ones gone are removed, the new
    ones added, the kept ones untouched; the new addresses are announced with the instance's GARP settings."""
    kit = _installed()
    old = {_FIELD[k]: v[:2] for k, v in kit.items()}
    r = master(**old)
    new = replace(r.config, garp_master_repeat=3, garp_interval_us=9, **{_FIELD[k]: v[1:] for k, v in kit.items()})
    out = r.replace_addresses(new, 10 * S)
    assert out[1:] == [
        RemoveVips((), (kit["install"][0],), (kit["routes"][0],), (kit["rules"][0],)),  # type: ignore[arg-type]
        AddVips((), False, (kit["install"][2],), (kit["routes"][2],), (kit["rules"][2],)),  # type: ignore[arg-type]
        SendGratuitous((IPv4Address("10.0.0.103"),), 3, 9),
    ]
    assert isinstance(out[0], SendAdvertisement) and r.config is new


@pytest.mark.parametrize("kind", ["install", "routes", "rules"])
def test_replace_addresses_of_one_kind_only(kind: str) -> None:
    kit = _installed()
    r = master(**{_FIELD[kind]: kit[kind][:2]})
    out = r.replace_addresses(replace(r.config, **{_FIELD[kind]: kit[kind][1:]}), 10 * S)
    removed, added = {kind: (kit[kind][0],)}, {kind: (kit[kind][2],)}
    assert RemoveVips((), **removed) in out and AddVips((), False, **added) in out  # type: ignore[arg-type]
    garps = [a for a in out if isinstance(a, SendGratuitous)]
    assert garps == ([SendGratuitous((IPv4Address("10.0.0.103"),), 5, 0)] if kind == "install" else [])


@pytest.mark.parametrize(("settings", "accept"), [({}, False), ({"accept": True}, True), ({"priority": 255}, True)])
def test_replace_addresses_keeps_accept_mode(settings: dict[str, object], accept: bool) -> None:
    """Accept_Mode for the added VIPs as at the transition: configured, or always for the address owner."""
    r = VirtualRouter(config(**settings))
    r.start(0)
    if r.state is not State.MASTER:
        r.handle_timer(r.get_timer() or 0)
    new_vip = IPv4Address("10.0.0.200")
    out = r.replace_addresses(replace(r.config, virtual_ipaddress=(VIP, new_vip)), 10 * S)
    assert AddVips((new_vip,), accept) in out
