"""Checkers over hand-made histories: each must pass on a good history AND fail on a bad one (a checker that
cannot fail is a defect); then over simulator runs, which they must judge as the RFC says."""

from __future__ import annotations

import pytest

from netns_lab.checks import CHECKS, CheckContext, Verdict, run_checks
from netns_lab.history import (
    AdvertSent,
    ClientRequest,
    ClientVipView,
    FaultEvent,
    History,
    Transition,
    VipChange,
    VipHolderSample,
)
from netns_lab.scenario import CHECK_PARAMS
from netns_lab.sim import Simulation
from vrrp.core.state import State

S = 1_000_000
B, M, I = State.BACKUP, State.MASTER, State.INIT  # noqa: E741


def tr(t: float, node: str, old: State, new: State, prio: int = 100, vrid: int = 51) -> Transition:
    return Transition(round(t * S), node, "VI_1", vrid, "lan", old, new, "test", prio)


def fault(t: float, kind: str, node: str | None = None, detail: str = "") -> FaultEvent:
    return FaultEvent(round(t * S), kind, node, detail)


def ctx(end: float = 20, settle: float = 5) -> CheckContext:
    return CheckContext(end=round(end * S), settle=round(settle * S), advert_interval_s=1.0, version=3)


def adverts(node: str, start: float, stop: float, prio: int) -> list[AdvertSent]:
    out, t = [], start
    while t <= stop + 1e-9:
        out.append(AdvertSent(round(t * S), node, "VI_1", 51, "lan", prio))
        t += 1.0
    return out


def crash_history(takeover_after: float | None = 3.61) -> History:
    """a (200) master from 0.5 s, crashes at 5.2 s (last advert 4.5 s); b (100) takes over ``takeover_after``
    s after a's last advert."""
    h = History()
    h.transitions += [tr(0, "a", I, B, 200), tr(0, "b", I, B), tr(0.5, "a", B, M, 200)]
    h.adverts += adverts("a", 0.5, 4.5, 200)
    h.faults.append(fault(5.2, "crash", "a", "SIGKILL"))
    if takeover_after is not None:
        t = 4.5 + takeover_after
        h.transitions.append(tr(t, "b", B, M, 100))
        h.adverts += adverts("b", t, 19.5, 100)
    return h


# ------------------------------------------------------------------------------------------- one_master
def test_one_master_passes_after_a_clean_takeover() -> None:
    v = CHECKS["one_master"](crash_history(), ctx())
    assert v.ok, v.evidence
    assert "b" in v.summary


def test_one_master_fails_with_nobody_master_at_the_end() -> None:
    v = CHECKS["one_master"](crash_history(takeover_after=None), ctx())
    assert not v.ok and "0 masters" in v.evidence[0]


def test_one_master_fails_with_two_masters_after_settling() -> None:
    h = crash_history()
    h.transitions.append(tr(6, "c", B, M))  # a third router claims it too and never backs off
    v = CHECKS["one_master"](h, ctx())
    assert not v.ok and "2 masters ['b', 'c']" in v.evidence[0]


def test_one_master_fails_when_the_run_ends_before_settling() -> None:
    v = CHECKS["one_master"](crash_history(), ctx(end=8, settle=5))
    assert not v.ok and "before the last fault had settled" in v.summary


def test_one_master_vip_holders_count_running_holders_only() -> None:
    h = crash_history()
    h.vip_holders += [VipHolderSample(round(t * S), "10.0.0.100", ("a", "b")) for t in (12, 15, 19)]
    assert CHECKS["one_master"](h, ctx()).ok  # a's VIP is the leftover of a killed daemon
    h.faults.append(fault(9, "restart", "a"))  # ...but once a runs again, two hosts hold it
    v = CHECKS["one_master"](h, ctx(end=20, settle=2))
    assert not v.ok and "held by ['a', 'b']" in v.evidence[0]


def test_one_master_vip_changes_from_the_simulator() -> None:
    h = crash_history()
    h.vip_changes += [
        VipChange(round(0.5 * S), "a", "VI_1", 51, "lan", True),
        VipChange(round(5.2 * S), "a", "VI_1", 51, "lan", False),
    ]
    v = CHECKS["one_master"](h, ctx())
    assert not v.ok and "VIPs held by nobody" in v.evidence[0]  # b is master but never added the VIP
    h.vip_changes.append(VipChange(round(8.11 * S), "b", "VI_1", 51, "lan", True))
    assert CHECKS["one_master"](h, ctx()).ok
    h.vip_changes.append(VipChange(round(16 * S), "a", "VI_1", 51, "lan", True))
    v = CHECKS["one_master"](h, ctx())
    assert not v.ok and "VIP added on a" in v.evidence[0]


# ------------------------------------------------------------------------ dual_master_only_under_fault
def _dual(with_fault: str | None, length: float) -> History:
    h = History()
    h.transitions += [tr(0, "a", I, B, 200), tr(0, "b", I, B), tr(0.5, "a", B, M, 200)]
    if with_fault:
        h.faults.append(fault(5, with_fault, "a" if with_fault == "pause" else None, "lan: [['a'], ['b']]"))
        lift = "resume" if with_fault == "pause" else "heal"
        h.faults.append(fault(5 + length, lift, "a" if lift == "resume" else None, "lan"))
    h.transitions += [tr(8.6, "b", B, M), tr(5 + length + 0.05, "b", M, B)]
    return h


@pytest.mark.parametrize("kind", ["pause", "partition"])
def test_dual_master_passes_while_a_fault_holds_them_apart(kind: str) -> None:
    v = CHECKS["dual_master_only_under_fault"](_dual(kind, 8), ctx())
    assert v.ok, v.evidence
    assert v.figures["longest_dual_master_s"] == pytest.approx(4.45)


def test_dual_master_fails_with_no_fault() -> None:
    v = CHECKS["dual_master_only_under_fault"](_dual(None, 8), ctx())
    assert not v.ok and "no partition/pause" in v.evidence[0]


def test_dual_master_fails_when_it_outlasts_the_heal() -> None:
    h = _dual("partition", 8)
    h.transitions[-1] = tr(16, "b", M, B)  # b stays master 3 s after the heal at 13 s
    assert not CHECKS["dual_master_only_under_fault"](h, ctx()).ok
    assert CHECKS["dual_master_only_under_fault"](h, ctx(), grace=3.5).ok


def test_a_short_handover_overlap_needs_no_fault() -> None:
    h = History()
    h.transitions += [tr(0.5, "a", B, M), tr(9, "b", B, M, 200), tr(9.001, "a", M, B)]
    assert CHECKS["dual_master_only_under_fault"](h, ctx()).ok


# ------------------------------------------------------------------------------------------ failover_gap
def test_failover_gap_passes_at_master_down_interval() -> None:
    v = CHECKS["failover_gap"](crash_history(3.61), ctx())
    assert v.ok, v.evidence
    assert v.figures["bound_0_s"] == pytest.approx(3 + 156 / 256) and v.figures["gap_0_s"] == pytest.approx(3.61)


@pytest.mark.parametrize("after", [1.0, 6.0])
def test_failover_gap_fails_too_early_or_too_late(after: float) -> None:
    v = CHECKS["failover_gap"](crash_history(after), ctx())
    assert not v.ok and "OUTSIDE" in v.evidence[0]


def test_failover_gap_fails_when_nobody_takes_over() -> None:
    v = CHECKS["failover_gap"](crash_history(None), ctx())
    assert not v.ok and "no other router took over" in v.evidence[0]


def test_failover_gap_fails_when_nothing_was_measured() -> None:
    h = crash_history()
    h.faults.clear()
    assert not CHECKS["failover_gap"](h, ctx()).ok


def test_a_short_pause_is_not_blamed_for_a_later_takeover() -> None:
    """a pauses for 1 s (shorter than Master_Down_Interval: nobody takes over), resumes, and is killed later:
    b's takeover belongs to the kill, and the pause is judged as too short (the drawn schedules found this)."""
    h = crash_history(3.61)
    h.faults.insert(0, fault(2.2, "pause", "a", "SIGSTOP"))
    h.faults.insert(1, fault(3.2, "resume", "a", "SIGCONT"))
    v = CHECKS["failover_gap"](h, ctx())
    assert v.ok, v.evidence
    assert "too short for a takeover" in v.evidence[0] and "within" in v.evidence[1]
    h.transitions.append(tr(2.5, "b", B, M, 100))  # now b does take over during the pause, too early
    h.transitions.sort(key=lambda t: t.t)
    h.adverts.append(AdvertSent(round(2.5 * S), "b", "VI_1", 51, "lan", 100))
    h.adverts.sort(key=lambda a: a.t)
    v = CHECKS["failover_gap"](h, ctx())
    assert not v.ok and "OUTSIDE" in v.evidence[0]


def test_graceful_stop_is_judged_against_skew_time() -> None:
    h = crash_history(0.4)
    h.faults[0] = fault(4.5, "stop", "a", "SIGTERM")
    v = CHECKS["failover_gap"](h, ctx())
    assert v.ok and "Skew_Time" in v.evidence[0]
    h2 = crash_history(3.61)
    h2.faults[0] = fault(4.5, "stop", "a", "SIGTERM")
    assert not CHECKS["failover_gap"](h2, ctx()).ok  # a graceful stop must not wait a whole MDI


# ----------------------------------------------------------------------------------------- client_outage
def _requests(fail_from: float, fail_to: float, end: float = 20) -> list[ClientRequest]:
    out, t = [], 0.0
    while t < end:
        ok = not fail_from <= t < fail_to
        out.append(
            ClientRequest(
                round(t * S),
                round((t + 0.01) * S),
                "client",
                "10.0.0.100:7",
                ok,
                "lb1" if ok else None,
                "" if ok else "timed out",
            )
        )
        t += 0.1
    return out


def test_client_outage_passes_within_the_bound() -> None:
    h = History(requests=_requests(5.2, 8.5))
    v = CHECKS["client_outage"](h, ctx(), max=4)
    assert v.ok and v.figures["outage_s"] == pytest.approx(3.4, abs=0.11)


def test_client_outage_fails_beyond_the_bound() -> None:
    v = CHECKS["client_outage"](History(requests=_requests(5, 12)), ctx(), max=4)
    assert not v.ok and "no success from" in v.evidence[0] and "timed out" in v.evidence[1]


def test_client_outage_until_the_end_counts() -> None:
    assert not CHECKS["client_outage"](History(requests=_requests(15, 99)), ctx(), max=4).ok


def test_client_outage_fails_without_requests_or_successes() -> None:
    assert not CHECKS["client_outage"](History(), ctx()).ok
    assert not CHECKS["client_outage"](History(requests=_requests(0, 99)), ctx()).ok
    assert CHECKS["client_outage"](History(requests=_requests(99, 99)), ctx()).figures["outage_s"] == 0


# ---------------------------------------------------------------------------------- transitions_per_fault
def test_transitions_per_fault_passes_one_takeover() -> None:
    assert CHECKS["transitions_per_fault"](crash_history(), ctx()).ok


def test_transitions_per_fault_fails_on_flapping() -> None:
    h = crash_history()
    h.transitions += [tr(10 + i, n, B, M) for i, n in enumerate(["c", "d", "e"])]
    v = CHECKS["transitions_per_fault"](h, ctx())
    assert not v.ok and "4 routers became master after crash" in v.evidence[0]


def test_transitions_without_a_fault_fail() -> None:
    h = crash_history()
    h.transitions += [tr(4.8, "b", B, M), tr(4.9, "b", M, B)]  # a blip after start-up, before any fault
    v = CHECKS["transitions_per_fault"](h, ctx())
    assert not v.ok and "with no fault" in v.evidence[0]


# --------------------------------------------------------------------------- final_master / no_master_change
def test_final_master() -> None:
    assert CHECKS["final_master"](crash_history(), ctx(), host="b").ok
    assert not CHECKS["final_master"](crash_history(), ctx(), host="a").ok
    assert not CHECKS["final_master"](History(), ctx(), host="a").ok


def test_no_master_change() -> None:
    h = crash_history(None)
    h.faults.clear()
    assert CHECKS["no_master_change"](h, ctx()).ok
    assert not CHECKS["no_master_change"](crash_history(), ctx()).ok
    assert not CHECKS["no_master_change"](History(), ctx()).ok


# ---------------------------------------------------------------------------------------------- plumbing
def test_every_check_of_the_schema_exists_and_run_checks_survives_a_broken_one() -> None:
    assert set(CHECKS) == set(CHECK_PARAMS)
    out = run_checks(crash_history(), ctx(), [("one_master", {}), ("final_master", {"bogus": 1})])
    assert out[0].ok and not out[1].ok and "checker error" in out[1].summary
    assert str(out[0]).startswith("PASS one_master") and isinstance(out[1], Verdict)


def test_fault_spans_pair_faults_with_what_lifts_them() -> None:
    h = History()
    h.faults += [
        fault(1, "pause", "a"),
        fault(2, "link-down", "a"),
        fault(3, "resume", "a"),
        fault(4, "partition", None, "lan: [['a'], ['b']]"),
        fault(5, "reload", "b"),
        fault(6, "loss", "b", "0.3"),
        fault(7, "loss", "b", "0"),
        fault(8, "heal", None, "lan"),
    ]
    spans = [(s.kind, s.start // S, s.stop // S) for s in h.fault_spans(end=10 * S)]
    assert spans == [("pause", 1, 3), ("link-down", 2, 10), ("partition", 4, 8), ("reload", 5, 5), ("loss", 6, 7)]


# -------------------------------------------------------------------------------------- simulator runs
def _sim(seed: int = 1) -> Simulation:
    sim = Simulation(seed=seed)
    sim.add_router("lb1", priority=200, address="10.0.0.11", version=3)
    sim.add_router("lb2", priority=100, address="10.0.0.12", version=3)
    sim.start()
    sim.run_for(5)
    return sim


def _sim_ctx(sim: Simulation) -> CheckContext:
    return CheckContext(end=sim.now, settle=round(8 * S), advert_interval_s=1.0, version=3)


def test_simulated_crash_passes_every_check() -> None:
    sim = _sim()
    sim.crash("lb1")
    sim.run_for(15)
    c = _sim_ctx(sim)
    for name in ("one_master", "failover_gap", "transitions_per_fault", "dual_master_only_under_fault"):
        v = CHECKS[name](sim.history, c)
        assert v.ok, (name, v.evidence)
    assert CHECKS["final_master"](sim.history, c, host="lb2").ok


def test_simulated_pause_dual_master_is_explained_by_the_pause() -> None:
    sim = _sim()
    sim.pause("lb1", 6)
    sim.run_for(20)
    c = _sim_ctx(sim)
    assert sim.history.multi_master_intervals(1, end=sim.now), "a 6 s pause must give two masters"
    assert CHECKS["dual_master_only_under_fault"](sim.history, c).ok
    assert CHECKS["one_master"](sim.history, c).ok
    assert CHECKS["final_master"](sim.history, c, host="lb1").ok  # preempts back on resume


def test_simulated_graceful_stop_is_fast() -> None:
    sim = _sim()
    sim.stop("lb1")
    sim.run_for(15)
    v = CHECKS["failover_gap"](sim.history, _sim_ctx(sim))
    assert v.ok and v.figures["gap_0_s"] < 1.0, v.evidence


def test_failover_gap_takes_the_wire_over_a_late_log_stamp() -> None:
    h = crash_history(None)
    h.faults[0] = fault(4.6, "stop", "a", "SIGTERM")
    h.adverts.append(AdvertSent(round(4.6 * S), "a", "VI_1", 51, "lan", 0))  # goodbye
    h.adverts += adverts("b", 5.21, 19.21, 100)  # b's first advert leaves at Skew_Time...
    h.transitions.append(tr(5.215, "b", B, M))  # ...and its log line is stamped 5 ms later
    v = CHECKS["failover_gap"](h, ctx())
    assert v.ok and v.figures["gap_0_s"] == pytest.approx(0.61), v.evidence


def test_failover_gap_ignores_a_takeover_long_after_the_fault() -> None:
    h = crash_history(None)
    h.adverts += adverts("b", 18, 19, 100)  # far beyond any Master_Down_Interval: not this fault's doing
    assert not CHECKS["failover_gap"](h, ctx()).ok


def test_one_master_uses_the_sample_in_force_when_checking_starts() -> None:
    h = crash_history()
    h.vip_holders.append(VipHolderSample(round(8.2 * S), "10.0.0.100", ("b",)))  # only change: before 10.2 s
    assert CHECKS["one_master"](h, ctx()).ok
    h.vip_holders[-1] = VipHolderSample(round(8.2 * S), "10.0.0.100", ())
    v = CHECKS["one_master"](h, ctx())
    assert not v.ok and "held by nobody at 10.200 s" in v.evidence[0]


def test_a_stopped_router_that_logged_no_state_change_is_no_longer_master() -> None:
    h = crash_history(0.6)
    h.faults[0] = fault(5.2, "stop", "a", "SIGTERM")  # keepalived logs no "Entering ... STATE" on SIGTERM
    assert CHECKS["one_master"](h, ctx()).ok
    assert CHECKS["final_master"](h, ctx(), host="b").ok


def test_changes_before_the_scenario_began_are_start_up_not_faults() -> None:
    h = crash_history(None)
    h.faults.clear()
    h.transitions += [tr(0.2, "b", B, M), tr(0.6, "b", M, B)]  # b won the start-up race, a preempted it
    h.transitions.sort(key=lambda t: t.t)
    assert not CHECKS["no_master_change"](h, ctx()).ok
    settled = CheckContext(end=20 * S, settle=5 * S, settled=3 * S)
    assert CHECKS["no_master_change"](h, settled).ok
    h.transitions.append(tr(9, "b", B, M))  # after the start the change counts again
    assert not CHECKS["no_master_change"](h, settled).ok
    assert not CHECKS["transitions_per_fault"](h, settled).ok


# ------------------------------------------------------------------------------------------- client_view
def _viewed(*views: tuple[float, tuple[str, ...], str | None]) -> History:
    """crash_history with the netlink view (a until the crash, b from its takeover) and the client's views."""
    h = crash_history()
    h.vip_holders += [VipHolderSample(round(0.6 * S), VIP, ("a",)), VipHolderSample(round(8.2 * S), VIP, ("a", "b"))]
    h.client_views += [ClientVipView(round(t * S), "client", VIP, who, nb) for t, who, nb in views]
    return h


VIP = "10.0.0.100"


def test_client_view_passes_when_the_client_follows_the_vip() -> None:
    h = _viewed((1, ("a",), "a"), (5.2, (), "a"), (8.2, ("a", "b"), "a"), (8.3, ("a", "b"), "b"))
    v = CHECKS["client_view"](h, ctx())
    assert v.ok, v.evidence
    assert v.figures["lag_s"] == pytest.approx(3.1)  # from the crash at 5.2 s to b in the client's cache


def test_client_view_fails_when_the_client_keeps_the_old_masters_mac() -> None:
    h = _viewed((1, ("a",), "a"), (8.2, ("a", "b"), "a"), (16, ("a", "b"), "b"))
    v = CHECKS["client_view"](h, ctx())
    assert not v.ok
    assert "client's neighbour entry is a's MAC, held by b from 8.200 s to 16.000 s" in v.evidence[0]


def test_client_view_fails_when_nobody_answers_or_a_running_stranger_answers() -> None:
    nobody = _viewed((1, ("a",), "a"), (8.3, (), None))
    v = CHECKS["client_view"](nobody, ctx())
    assert not v.ok and "answered by nobody, held by b" in v.evidence[0]
    stranger = _viewed((1, ("a",), "a"), (8.3, ("b", "c"), "b"))  # c runs: a second answerer is a conflict
    assert not CHECKS["client_view"](stranger, ctx()).ok


def test_client_view_lets_a_short_blip_pass_and_fails_without_views() -> None:
    h = _viewed((1, ("a",), "a"), (8.3, ("b",), "b"), (12, (), "b"), (12.2, ("b",), "b"))
    assert CHECKS["client_view"](h, ctx()).ok  # one probe answered late: shorter than the grace
    assert not CHECKS["client_view"](h, ctx(), grace=0.1).ok
    v = CHECKS["client_view"](crash_history(), ctx())
    assert not v.ok and "no client's view" in v.summary
