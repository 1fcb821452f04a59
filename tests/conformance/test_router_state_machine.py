"""Conformance of the virtual router's timers and state machine (RFC 9568 §5.2.4, §6,
§1.E and the VRRPv2 timer differences of §2), driven event by event with an explicit ``now`` in µs."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.router_kit import VIP, S, backup, config, master
from vrrp.core.actions import AddVips, RemoveVips, SendAdvertisement, SendGratuitous, StateChanged
from vrrp.core.config import RouterConfigError
from vrrp.core.packet import Advertisement
from vrrp.core.router import VirtualRouter
from vrrp.core.state import State, TransitionReason
from vrrp.core.timers import master_down_interval_us, skew_time_us
from vrrp.core.tracking import Tracker

LOWER_ADDR = IPv4Address("10.0.0.1")
HIGHER_ADDR = IPv4Address("10.0.0.3")
ME6 = IPv6Address("fe80::2")
VIP6 = IPv6Address("fe80::100")
LOWER6 = IPv6Address("fe80::1")








def adv(priority: int, interval_cs: int = 100, version: int = 3) -> Advertisement:
    if version == 2:
        return Advertisement(2, 1, priority, [VIP], interval_cs, auth_data=bytes(8))
    return Advertisement(3, 1, priority, [VIP], interval_cs)


def adverts(actions: list[object]) -> list[int]:
    return [a.priority for a in actions if isinstance(a, SendAdvertisement)]


# --- 13: the owner's priority is 255 -------------------------------------------------------------


@pytest.mark.conformance("13", polarity="positive")
def test_13_owner_advertises_255_even_with_negative_tracker_weights() -> None:
    r = VirtualRouter(config(priority=255, trackers=(Tracker("eth1", weight=-100),)))
    actions = r.start(0)
    r.set_tracker_state("eth1", False, 1)
    assert adverts(actions) == [255] and r.effective_priority == 255


@pytest.mark.conformance("13", polarity="negative")
def test_13_a_non_owner_never_reaches_255_through_trackers() -> None:
    r = VirtualRouter(config(priority=250, trackers=(Tracker("chk", weight=100),)))
    r.start(0)
    assert r.effective_priority == 254
    assert adverts(r.handle_timer(r.get_timer() or 0)) == [254]


# --- 14: Backup priorities 1-254, default 100 ---------------------------------------------------


@pytest.mark.conformance("14", polarity="positive")
def test_14_default_priority_is_100_and_1_to_254_are_accepted() -> None:
    assert config().priority == 100
    for p in (1, 254):
        assert backup(priority=p).effective_priority == p


@pytest.mark.conformance("14", polarity="negative")
def test_14_priority_0_is_refused_and_trackers_clamp_at_1() -> None:
    with pytest.raises(RouterConfigError, match="priority"):
        config(priority=0)
    r = backup(priority=10, trackers=(Tracker("eth1", weight=-100),))
    r.set_tracker_state("eth1", False, 1)
    assert r.effective_priority == 1


# --- 15: priority 0 means the Master stopped --------------------------------------------------


@pytest.mark.conformance("15", polarity="positive")
def test_15_stopping_master_sends_priority_0() -> None:
    r = master()
    assert adverts(r.shutdown(10 * S)) == [0]


@pytest.mark.conformance("15", polarity="negative")
def test_15_a_running_master_never_advertises_priority_0() -> None:
    r = master(priority=1)
    sent = []
    for _ in range(5):
        sent += adverts(r.handle_timer(r.get_timer() or 0))
    sent += adverts(r.receive_advertisement(adv(0), src=LOWER_ADDR, ttl=255, now=r.get_timer() or 0))
    assert sent and 0 not in sent


# --- 30: parameters and defaults -----------------------------------------------------------------


@pytest.mark.conformance("30", polarity="positive")
def test_30_defaults_priority_interval_preempt_accept() -> None:
    c = config()
    assert (c.priority, c.advert_int_cs, c.preempt, c.accept) == (100, 100, True, False)
    r = backup()
    assert r.master_adver_interval_cs == c.advert_int_cs  # Master_Adver_Interval starts at ours


@pytest.mark.conformance("30", polarity="negative")
@pytest.mark.parametrize(("field", "value"), [("vrid", 0), ("vrid", 256), ("advert_int_cs", 0), ("priority", 256)])
def test_30_out_of_range_parameters_are_refused(field: str, value: int) -> None:
    with pytest.raises(RouterConfigError):
        config(**{field: value})


# --- 31: Skew_Time and Master_Down_Interval ------------------------------------------------------


@pytest.mark.conformance("31", polarity="positive")
@pytest.mark.parametrize(("prio", "mai_cs"), [(100, 100), (254, 100), (100, 10), (1, 4095)])
def test_31_formulas_hold_exactly_in_microseconds(prio: int, mai_cs: int) -> None:
    skew = ((256 - prio) * mai_cs * 10_000) // 256
    assert skew_time_us(prio, mai_cs) == skew
    assert master_down_interval_us(prio, mai_cs) == 3 * mai_cs * 10_000 + skew
    r = backup(priority=prio, advert_int_cs=mai_cs)
    assert r.get_timer() == 3 * mai_cs * 10_000 + skew


@pytest.mark.conformance("31", polarity="negative")
def test_31_skew_at_1cs_does_not_truncate_to_zero() -> None:
    # FRR's centisecond arithmetic makes every skew 0 at MAI 1 cs; ours keeps priorities 1 apart distinct.
    assert skew_time_us(100, 1) > 0
    assert master_down_interval_us(100, 1) != master_down_interval_us(101, 1)


# --- 32: one timer per state ---------------------------------------------------------------------


@pytest.mark.conformance("32", polarity="positive")
def test_32_backup_runs_master_down_timer_master_runs_adver_timer() -> None:
    r = backup()
    assert r.get_timer() == master_down_interval_us(100, 100)
    r.handle_timer(r.get_timer() or 0)
    assert r.get_timer() == master_down_interval_us(100, 100) + S


@pytest.mark.conformance("32", polarity="negative")
def test_32_init_and_fault_run_no_timer_and_early_calls_do_nothing() -> None:
    r = VirtualRouter(config(trackers=(Tracker("eth1"),)))
    assert r.get_timer() is None
    r.start(0)
    t = r.get_timer()
    assert t is not None and r.handle_timer(t - 1) == [] and r.state is State.BACKUP
    r.set_tracker_state("eth1", False, 1)
    assert r.state is State.FAULT and r.get_timer() is None


# --- 34 / 35 / 37: a Backup holds no VIPs (so the kernel neither answers ARP/ND nor accepts) ----


@pytest.mark.conformance("34", polarity="positive")
@pytest.mark.conformance("37", polarity="positive")
def test_34_37_master_falling_back_removes_its_vips() -> None:
    r = master()
    actions = r.receive_advertisement(adv(200), src=LOWER_ADDR, ttl=255, now=10 * S)
    assert RemoveVips((VIP,)) in actions and not r.holds_vips


@pytest.mark.conformance("34", polarity="negative")
@pytest.mark.conformance("37", polarity="negative")
def test_34_37_backup_never_installs_vips_or_sends_gratuitous_arp() -> None:
    r = VirtualRouter(config())
    actions = r.start(0)
    for t in range(1, 30):
        actions += r.receive_advertisement(adv(150 if t % 2 else 0), src=LOWER_ADDR, ttl=255, now=t * 1000)
    assert r.state is State.BACKUP
    assert not [a for a in actions if isinstance(a, AddVips | SendGratuitous)]


@pytest.mark.conformance("35", polarity="positive")
def test_35_ipv6_master_falling_back_removes_its_vips() -> None:
    vip6 = IPv6Address("fe80::100")
    r = master(primary_address=IPv6Address("fe80::2"), virtual_ipaddress=(vip6,))
    out = r.receive_advertisement(
        Advertisement(3, 1, 200, [vip6], 100), src=IPv6Address("fe80::1"), ttl=255, now=10 * S
    )
    assert RemoveVips((vip6,)) in out


@pytest.mark.conformance("35", polarity="negative")
def test_35_ipv6_backup_never_installs_vips_or_sends_unsolicited_na() -> None:
    vip6 = IPv6Address("fe80::100")
    r = VirtualRouter(config(primary_address=IPv6Address("fe80::2"), virtual_ipaddress=(vip6,)))
    actions = r.start(0)
    actions += r.receive_advertisement(
        Advertisement(3, 1, 200, [vip6], 100), src=IPv6Address("fe80::1"), ttl=255, now=S
    )
    assert not [a for a in actions if isinstance(a, AddVips | SendGratuitous)]


def _backup_events() -> st.SearchStrategy[list[tuple[str, int]]]:
    """Whatever a Backup may meet that does not make it Master: adverts at any priority >= ours (preempt) or
    0 followed by another advert, tracker flaps, early timer calls."""
    return st.lists(
        st.tuples(st.sampled_from(["advert", "prio0", "early", "track"]), st.integers(100, 255)), max_size=30
    )


def _drive_backup(r: VirtualRouter, events: list[tuple[str, int]], src: IPv4Address | IPv6Address) -> list[object]:
    vips = list(r.config.virtual_ipaddress)

    def hear(priority: int, at: int) -> list[object]:
        return list(r.receive_advertisement(Advertisement(3, 1, priority, vips, 100), src=src, ttl=255, now=at))

    out: list[object] = []
    now = S
    for kind, value in events:
        now += 1000
        if kind == "advert":
            out += hear(value, now)
        elif kind == "prio0":  # a stopping Master, then its successor before Skew_Time runs out
            out += hear(0, now) + hear(value, now + 1)
        elif kind == "early":
            out += r.handle_timer((r.get_timer() or 1) - 1)
        else:
            out += r.set_tracker_state("link", value % 2 == 0, now)
        assert r.state in (State.BACKUP, State.FAULT)
        assert not r.holds_vips
    return out


@pytest.mark.conformance("34", polarity="negative")
@pytest.mark.conformance("37", polarity="negative")
@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(events=_backup_events())
def test_34_37_no_event_sequence_gives_a_backup_the_vips_or_a_gratuitous_arp(events: list[tuple[str, int]]) -> None:
    """The kernel answers ARP for (34) and accepts traffic to (37) only addresses it holds: a Backup never asks
    the shell to install them, nor to announce them, whatever it receives."""
    r = VirtualRouter(config(trackers=(Tracker("link", weight=-10),)))
    out = r.start(0) + _drive_backup(r, events, LOWER_ADDR)
    assert not [a for a in out if isinstance(a, AddVips | SendGratuitous)]


@pytest.mark.conformance("35", polarity="negative")
@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(events=_backup_events())
def test_35_no_event_sequence_gives_an_ipv6_backup_the_vips_or_an_unsolicited_na(
    events: list[tuple[str, int]],
) -> None:
    """No VIP installed means no ND answer (and the daemon sends no RAs at all); no SendGratuitous means no
    unsolicited NA."""
    r = VirtualRouter(config(primary_address=ME6, virtual_ipaddress=(VIP6,), trackers=(Tracker("link", weight=-10),)))
    out = r.start(0) + _drive_backup(r, events, LOWER6)
    assert not [a for a in out if isinstance(a, AddVips | SendGratuitous)]


@pytest.mark.conformance("34", polarity="positive")
@pytest.mark.conformance("37", polarity="positive")
def test_34_37_only_the_master_holds_the_vips_and_accept_mode_decides_traffic() -> None:
    """The VIPs (and so ARP answers and local delivery) arrive with MASTER and leave with it; the AddVips
    action carries Accept_Mode, so a non-owner without ``accept`` still drops traffic to them (item 46)."""
    r = backup()
    assert not r.holds_vips
    became = r.handle_timer(r.get_timer() or 0)
    assert AddVips((VIP,), accept=False) in became and r.holds_vips
    left = r.receive_advertisement(adv(200), src=LOWER_ADDR, ttl=255, now=10 * S)
    assert RemoveVips((VIP,)) in left and not r.holds_vips and r.state is State.BACKUP


@pytest.mark.conformance("35", polarity="positive")
def test_35_ipv6_vips_and_unsolicited_na_come_only_with_master() -> None:
    r = VirtualRouter(config(primary_address=ME6, virtual_ipaddress=(VIP6,)))
    r.start(0)
    became = r.handle_timer(r.get_timer() or 0)
    assert AddVips((VIP6,), accept=False) in became and SendGratuitous((VIP6,), 5) in became
    left = r.receive_advertisement(Advertisement(3, 1, 200, [VIP6], 100), src=LOWER6, ttl=255, now=10 * S)
    assert RemoveVips((VIP6,)) in left and not r.holds_vips


# --- 38: Backup shutdown ---------------------------------------------------------------------------


@pytest.mark.conformance("38", polarity="positive")
def test_38_backup_shutdown_cancels_timer_and_goes_init() -> None:
    r = backup()
    assert r.shutdown(S) == [StateChanged(State.BACKUP, State.INIT, TransitionReason.SHUTDOWN, 100)]
    assert r.state is State.INIT and r.get_timer() is None


@pytest.mark.conformance("38", polarity="negative")
def test_38_stopped_backup_never_takes_over_later() -> None:
    r = backup()
    r.shutdown(S)
    assert r.handle_timer(100 * S) == [] and r.state is State.INIT


# --- 39: Master_Down_Timer fires -----------------------------------------------------------------


@pytest.mark.conformance("39", polarity="positive")
def test_39_down_timer_sends_advert_then_vips_and_garp_and_arms_adver_timer() -> None:
    r = backup()
    t = r.get_timer() or 0
    actions = r.handle_timer(t)
    assert [type(a) for a in actions] == [StateChanged, SendAdvertisement, AddVips, SendGratuitous]
    assert r.state is State.MASTER and r.get_timer() == t + S


@pytest.mark.conformance("39", polarity="positive")
def test_39_ipv6_down_timer_sends_advert_then_vips_and_unsolicited_na() -> None:
    r = VirtualRouter(config(primary_address=ME6, virtual_ipaddress=(VIP6,)))
    r.start(0)
    t = r.get_timer() or 0
    actions = r.handle_timer(t)
    assert [type(a) for a in actions] == [StateChanged, SendAdvertisement, AddVips, SendGratuitous]
    assert actions[3] == SendGratuitous((VIP6,), 5)  # the shell sends unsolicited NAs (and joins the groups)
    assert r.state is State.MASTER and r.get_timer() == t + S


@pytest.mark.conformance("39", polarity="negative")
def test_39_nothing_happens_one_microsecond_before_the_down_timer() -> None:
    r = backup()
    t = r.get_timer() or 0
    assert r.handle_timer(t - 1) == [] and r.state is State.BACKUP and r.get_timer() == t


@pytest.mark.conformance("39", polarity="negative")
def test_39_no_takeover_while_the_master_keeps_advertising() -> None:
    r = backup()
    for t in range(1, 20):
        assert r.receive_advertisement(adv(150), src=LOWER_ADDR, ttl=255, now=t * S) == []
        assert r.handle_timer(t * S + S) == []
    assert r.state is State.BACKUP


# --- 40: priority 0 -> Skew_Time -----------------------------------------------------------------


@pytest.mark.conformance("40", polarity="positive")
def test_40_priority_0_sets_master_down_timer_to_skew_time() -> None:
    r = backup()
    r.receive_advertisement(adv(0), src=LOWER_ADDR, ttl=255, now=5 * S)
    assert r.get_timer() == 5 * S + skew_time_us(100, 100)


@pytest.mark.conformance("40", polarity="negative")
def test_40_non_zero_priority_does_not_shorten_the_timer() -> None:
    r = backup()
    r.receive_advertisement(adv(1 + 199), src=LOWER_ADDR, ttl=255, now=5 * S)
    assert r.get_timer() == 5 * S + master_down_interval_us(100, 100)


# --- 41: preempt off or priority >= local: learn the interval, reset the timer ----------------


@pytest.mark.conformance("41", polarity="positive")
@pytest.mark.parametrize(("preempt", "prio"), [(True, 100), (True, 200), (False, 50)])
def test_41_backup_learns_interval_and_resets_timer(preempt: bool, prio: int) -> None:
    r = backup(preempt=preempt)
    r.receive_advertisement(adv(prio, interval_cs=250), src=LOWER_ADDR, ttl=255, now=5 * S)
    assert r.master_adver_interval_cs == 250
    assert r.get_timer() == 5 * S + master_down_interval_us(100, 250)


@pytest.mark.conformance("41", polarity="negative")
def test_41_lower_priority_with_preempt_teaches_nothing() -> None:
    r = backup()
    r.receive_advertisement(adv(50, interval_cs=250), src=LOWER_ADDR, ttl=255, now=5 * S)
    assert r.master_adver_interval_cs == 100


# --- 42: preempt on, lower priority: discard, keep the timer, preempt when it fires ------------


@pytest.mark.conformance("42", polarity="positive")
def test_42_backup_preempts_a_lower_master_when_its_timer_fires() -> None:
    r = backup(priority=200)
    t0 = r.get_timer() or 0
    for t in range(1, 3):
        r.receive_advertisement(adv(100), src=HIGHER_ADDR, ttl=255, now=t * S)
    actions = r.handle_timer(t0)
    assert actions[0] == StateChanged(State.BACKUP, State.MASTER, TransitionReason.PREEMPTED, 200)


@pytest.mark.conformance("42", polarity="negative")
def test_42_lower_advert_does_not_reset_the_timer() -> None:
    r = backup(priority=200)
    t0 = r.get_timer()
    r.receive_advertisement(adv(100), src=HIGHER_ADDR, ttl=255, now=S)
    assert r.get_timer() == t0


# --- 46 / v2-accept: Accept_Mode -----------------------------------------------------------------


@pytest.mark.conformance("46", polarity="positive")
def test_46_owner_or_accept_mode_accepts_vip_traffic() -> None:
    owner = VirtualRouter(config(priority=255))
    assert AddVips((VIP,), accept=True) in owner.start(0)
    r = backup(accept=True)
    assert AddVips((VIP,), accept=True) in r.handle_timer(r.get_timer() or 0)


@pytest.mark.conformance("46", polarity="negative")
def test_46_non_owner_without_accept_mode_does_not_accept() -> None:
    r = backup()
    assert AddVips((VIP,), accept=False) in r.handle_timer(r.get_timer() or 0)


@pytest.mark.conformance("v2-accept", polarity="positive")
def test_v2_accept_owner_accepts_vip_traffic() -> None:
    owner = VirtualRouter(config(version=2, priority=255))
    assert AddVips((VIP,), accept=True) in owner.start(0)


@pytest.mark.conformance("v2-accept", polarity="negative")
def test_v2_accept_non_owner_does_not_accept_by_default() -> None:
    r = backup(version=2)
    assert AddVips((VIP,), accept=False) in r.handle_timer(r.get_timer() or 0)


# --- 47: Master shutdown ---------------------------------------------------------------------------


@pytest.mark.conformance("47", polarity="positive")
def test_47_master_shutdown_sends_priority_0_removes_vips_goes_init() -> None:
    r = master()
    actions = r.shutdown(10 * S)
    assert [type(a) for a in actions] == [StateChanged, SendAdvertisement, RemoveVips]
    assert adverts(actions) == [0] and r.state is State.INIT


@pytest.mark.conformance("47", polarity="negative")
def test_47_no_advert_after_shutdown() -> None:
    r = master()
    r.shutdown(10 * S)
    assert r.get_timer() is None and r.handle_timer(20 * S) == []


# --- 48: Adver_Timer ---------------------------------------------------------------------------------


@pytest.mark.conformance("48", polarity="positive")
def test_48_adver_timer_sends_and_rearms() -> None:
    r = master(advert_int_cs=10)
    t = r.get_timer() or 0
    assert adverts(r.handle_timer(t)) == [100] and r.get_timer() == t + 100_000


@pytest.mark.conformance("48", polarity="negative")
def test_48_no_advert_before_the_adver_timer() -> None:
    r = master()
    t = r.get_timer() or 0
    assert r.handle_timer(t - 1) == [] and r.get_timer() == t


# --- 49: Master receives priority 0 ----------------------------------------------------------------


@pytest.mark.conformance("49", polarity="positive")
def test_49_master_advertises_at_once_on_priority_0() -> None:
    r = master()
    assert adverts(r.receive_advertisement(adv(0), src=HIGHER_ADDR, ttl=255, now=7 * S)) == [100]
    assert r.get_timer() == 8 * S


@pytest.mark.conformance("49", polarity="negative")
def test_49_priority_0_never_demotes_the_master() -> None:
    r = master()
    r.receive_advertisement(adv(0), src=HIGHER_ADDR, ttl=255, now=7 * S)
    assert r.state is State.MASTER and r.holds_vips


# --- 50: higher priority, or equal with larger address: Backup -----------------------------------


@pytest.mark.conformance("50", polarity="positive")
@pytest.mark.parametrize(("prio", "src"), [(101, LOWER_ADDR), (100, HIGHER_ADDR), (100, IPv4Address("128.0.0.1"))])
def test_50_master_yields_learns_interval_and_arms_down_timer(prio: int, src: IPv4Address) -> None:
    r = master()
    actions = r.receive_advertisement(adv(prio, interval_cs=300), src=src, ttl=255, now=10 * S)
    assert actions[0] == StateChanged(State.MASTER, State.BACKUP, TransitionReason.PRIORITY, 100)
    assert r.master_adver_interval_cs == 300
    assert r.get_timer() == 10 * S + master_down_interval_us(100, 300)


@pytest.mark.conformance("50", polarity="negative")
@pytest.mark.parametrize(("prio", "src"), [(99, HIGHER_ADDR), (100, LOWER_ADDR), (100, IPv4Address("9.255.255.255"))])
def test_50_master_keeps_its_role_against_lower_or_smaller_address(prio: int, src: IPv4Address) -> None:
    r = master()
    r.receive_advertisement(adv(prio), src=src, ttl=255, now=10 * S)
    assert r.state is State.MASTER


# --- 51: otherwise discard, and (RFC 9568) re-advertise at once ---------------------------------


@pytest.mark.conformance("51", polarity="positive")
def test_51_lower_priority_makes_the_master_reassert() -> None:
    r = master()
    t = r.get_timer()
    assert adverts(r.receive_advertisement(adv(50), src=HIGHER_ADDR, ttl=255, now=10 * S)) == [100]
    assert r.state is State.MASTER and r.get_timer() == t


@pytest.mark.conformance("51", polarity="negative")
def test_51_lower_prio_no_advert_restores_the_pre_9568_silence() -> None:
    r = master(lower_prio_no_advert=True)
    assert adverts(r.receive_advertisement(adv(50), src=HIGHER_ADDR, ttl=255, now=10 * S)) == []
    assert r.state is State.MASTER


# --- v2-skew / v2-mdi: VRRPv2 timers -------------------------------------------------------------


@pytest.mark.conformance("v2-skew", polarity="positive")
def test_v2_skew_is_256_minus_priority_over_256_seconds() -> None:
    r = backup(version=2, advert_int_cs=300)
    r.receive_advertisement(adv(0, interval_cs=300, version=2), src=LOWER_ADDR, ttl=255, now=S)
    assert r.get_timer() == S + (156 * S) // 256


@pytest.mark.conformance("v2-skew", polarity="negative")
def test_v2_skew_does_not_scale_with_the_interval() -> None:
    assert skew_time_us(100, 500, version=2) == skew_time_us(100, 100, version=2)
    assert skew_time_us(100, 500, version=3) != skew_time_us(100, 100, version=3)


@pytest.mark.conformance("v2-mdi", polarity="positive")
def test_v2_mdi_is_three_local_intervals_plus_skew() -> None:
    r = backup(version=2, advert_int_cs=200)
    assert r.get_timer() == 3 * 2 * S + (156 * S) // 256


@pytest.mark.conformance("v2-mdi", polarity="negative")
def test_v2_mdi_never_uses_the_senders_interval() -> None:
    # v3 would adopt the Master's 5 s interval; v2 drops the advert and keeps 3 x local + skew.
    for r in (backup(version=2, advert_int_cs=200), master(version=2, advert_int_cs=200)):
        before = r.get_timer()
        r.receive_advertisement(adv(150, interval_cs=500, version=2), src=LOWER_ADDR, ttl=255, now=S)
        assert r.get_timer() == before and r.master_down_interval_us() == 6 * S + (156 * S) // 256
