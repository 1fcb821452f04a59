"""The LVS checkers over hand-made histories (each must pass on a good history AND fail on a bad one), the IPVS
table reader, and the history's JSON form (what a run inside User-Mode Linux hands back to the host)."""

from __future__ import annotations

import json

import pytest

from netns_lab.checks import CHECKS, CheckContext
from netns_lab.history import ClientRequest, FaultEvent, History, IpvsDest, IpvsSample, Transition, VipHolderSample
from netns_lab.ipvs_watch import parse_ip_vs, service_name
from vrrp.core.state import State

S = 1_000_000
SVC = "TCP 10.0.0.100:80"
ADDR = {"rs1": "10.0.1.21:80", "rs2": "10.0.1.22:80", "rs3": "10.0.1.23:80", "sorry": "10.0.1.29:80"}


def table(t: float, node: str, *live: str, zero: tuple[str, ...] = ()) -> IpvsSample:
    dests = tuple(IpvsDest(SVC, ADDR[h], 1, h) for h in live) + tuple(IpvsDest(SVC, ADDR[h], 0, h) for h in zero)
    return IpvsSample(round(t * S), node, (SVC,), dests)


def ctx(end: float = 20, settle: float = 4) -> CheckContext:
    return CheckContext(end=round(end * S), settle=round(settle * S), routers=("lb1", "lb2"),
                        real_servers={"rs1": 4.0, "rs2": 4.0, "rs3": 4.0}, sorry_servers=("sorry",))


def requests(start: float, stop: float, *, fail: tuple[tuple[float, float], ...] = (), who: str = "rs2") -> list[
        ClientRequest]:
    """One request every 0.1 s, answered by ``who`` except inside the ``fail`` windows."""
    out, t = [], start
    while t < stop:
        bad = any(a <= t < b for a, b in fail)
        out.append(ClientRequest(round(t * S), round((t + 0.01) * S), "client", "10.0.0.100:80", not bad,
                                 None if bad else who, "refused" if bad else ""))
        t = round(t + 0.1, 3)
    return out


def outage(removed_after: float | None, *, back_at: float | None = 10.0, returned_after: float = 0.5) -> History:
    """rs1 stops at 2 s; lb1 removes it ``removed_after`` s later (None: never); it starts again at ``back_at``."""
    h = History()
    h.ipvs.append(table(0.5, "lb1", "rs1", "rs2", "rs3"))
    h.faults.append(FaultEvent(2 * S, "server-stop", "rs1"))
    if removed_after is not None:
        h.ipvs.append(table(2 + removed_after, "lb1", "rs2", "rs3"))
    if back_at is not None:
        h.faults.append(FaultEvent(round(back_at * S), "server-start", "rs1"))
        h.ipvs.append(table(back_at + returned_after, "lb1", "rs1", "rs2", "rs3"))
    h.requests += requests(0.6, 19.9, fail=((2.0, 2 + (removed_after or 8)),))
    return h


# ------------------------------------------------------------------------------------------- real_server_removed
def test_real_server_removed_passes_within_the_checker_bound_and_measures_the_return() -> None:
    v = CHECKS["real_server_removed"](outage(2.1), ctx())
    assert v.ok, v.evidence
    assert v.figures["removal_0_lb1_s"] == pytest.approx(2.1)
    assert v.figures["bound_0_s"] == 4.0
    assert v.figures["return_0_lb1_s"] == pytest.approx(0.5)


def test_real_server_removed_fails_when_removal_is_later_than_the_bound() -> None:
    v = CHECKS["real_server_removed"](outage(5.5), ctx())
    assert not v.ok
    assert any("LATE" in e for e in v.evidence)


def test_real_server_removed_fails_when_the_server_never_leaves_or_never_returns() -> None:
    never = CHECKS["real_server_removed"](outage(None), ctx())
    assert not never.ok and any("still in lb1's table" in e for e in never.evidence)
    h = outage(2.0)
    h.ipvs.pop()  # no sample with rs1 back
    gone = CHECKS["real_server_removed"](h, ctx())
    assert not gone.ok and any("never back" in e for e in gone.evidence)


def test_real_server_removed_counts_weight_zero_as_out_and_skips_a_dead_director() -> None:
    h = outage(None, back_at=None)
    h.ipvs.append(table(3.0, "lb1", "rs2", "rs3", zero=("rs1",)))  # inhibit_on_failure
    h.ipvs.append(table(0.5, "lb2", "rs1", "rs2", "rs3"))
    h.faults.append(FaultEvent(1 * S, "crash", "lb2"))  # lb2 died before: its frozen table is no evidence
    h.faults.sort(key=lambda f: f.t)
    v = CHECKS["real_server_removed"](h, ctx())
    assert v.ok, v.evidence
    assert set(v.figures) == {"removal_0_lb1_s", "bound_0_s"}


def test_real_server_removed_fails_with_nothing_to_measure() -> None:
    h = History(ipvs=[table(0.5, "lb1", "rs1")])
    assert not CHECKS["real_server_removed"](h, ctx()).ok
    no_table = outage(2.0)
    no_table.ipvs.clear()
    assert "no IPVS table" in CHECKS["real_server_removed"](no_table, ctx()).summary


# ------------------------------------------------------------------ no_failed_request_to_healthy_server
def test_no_failed_request_passes_when_failures_stay_inside_the_outage_window() -> None:
    v = CHECKS["no_failed_request_to_healthy_server"](outage(2.0), ctx())
    assert v.ok, v.evidence
    assert v.figures["failed"] > 0 and v.figures["unexcused"] == 0


def test_no_failed_request_fails_for_a_failure_while_every_server_is_healthy() -> None:
    h = outage(2.0)
    h.requests.append(ClientRequest(15 * S, 15 * S + 1000, "client", "10.0.0.100:80", False, None, "reset"))
    h.requests.sort(key=lambda r: r.t)
    v = CHECKS["no_failed_request_to_healthy_server"](h, ctx())
    assert not v.ok
    assert v.figures["unexcused"] == 1 and "15.000 s" in v.evidence[0]


def test_no_failed_request_fails_when_failures_outlast_the_removal() -> None:
    h = outage(2.0)
    h.requests = requests(0.6, 19.9, fail=((2.0, 7.0),))  # still failing 3 s after rs1 left the table
    assert not CHECKS["no_failed_request_to_healthy_server"](h, ctx()).ok


def test_no_failed_request_fails_for_an_answer_from_a_stopped_server() -> None:
    h = outage(2.0)
    h.requests = requests(0.6, 19.9, who="rs1")
    v = CHECKS["no_failed_request_to_healthy_server"](h, ctx())
    assert not v.ok and any("by rs1, which was stopped" in e for e in v.evidence)


def test_no_failed_request_excuses_a_request_in_flight_when_a_director_link_went_down() -> None:
    h = History(ipvs=[table(0.5, "lb1", "rs1", "rs2")])
    h.faults.append(FaultEvent(5 * S, "link-down", "lb1", "eth0"))
    h.requests += requests(0.6, 4.9) + requests(9.0, 19.9)
    h.requests.append(ClientRequest(round(4.95 * S), round(6.95 * S), "client", "10.0.0.100:80", False, None,
                                    "ReadTimeout"))  # sent before the link went down, timed out after
    h.requests.sort(key=lambda r: r.t)
    assert CHECKS["no_failed_request_to_healthy_server"](h, ctx()).ok
    h.requests.append(ClientRequest(round(3.0 * S), round(3.5 * S), "client", "10.0.0.100:80", False, None, "reset"))
    assert not CHECKS["no_failed_request_to_healthy_server"](h, ctx()).ok  # over before anything happened
    h.requests.pop()
    h.requests.append(ClientRequest(round(15 * S), round(15.5 * S), "client", "10.0.0.100:80", False, None, "reset"))
    assert not CHECKS["no_failed_request_to_healthy_server"](h, ctx()).ok  # long after the backup took over


def test_no_failed_request_excuses_a_director_crash_while_it_settles() -> None:
    h = History(ipvs=[table(0.5, "lb1", "rs1", "rs2"), table(0.5, "lb2", "rs1", "rs2")])
    h.faults.append(FaultEvent(5 * S, "crash", "lb1"))
    h.requests += requests(0.6, 19.9, fail=((5.0, 8.5),))
    assert CHECKS["no_failed_request_to_healthy_server"](h, ctx()).ok
    h.requests = requests(0.6, 19.9, fail=((5.0, 10.5),))  # beyond crash + settle (4 s)
    assert not CHECKS["no_failed_request_to_healthy_server"](h, ctx()).ok
    assert not CHECKS["no_failed_request_to_healthy_server"](History(), ctx()).ok  # no requests at all


# ------------------------------------------------------------------------------------------- ipvs_converged
def test_ipvs_converged_passes_with_every_live_server_back_after_settling() -> None:
    v = CHECKS["ipvs_converged"](outage(2.0), ctx())
    assert v.ok, v.evidence
    assert v.figures["converged_after_last_fault_s"] == pytest.approx(0.5)


def test_ipvs_converged_fails_when_a_returned_server_is_missing_or_a_table_changes_later() -> None:
    missing = outage(2.0, returned_after=5.0)  # rs1 back in the table only 5 s after its start: settle is 4 s
    v = CHECKS["ipvs_converged"](missing, ctx())
    assert not v.ok and "rs1" in v.evidence[0]
    late = outage(2.0)
    late.ipvs.append(table(18.0, "lb1", "rs2", "rs3"))
    assert not CHECKS["ipvs_converged"](late, ctx()).ok


def test_ipvs_converged_takes_the_sorry_server_when_every_real_server_is_down_and_skips_dead_directors() -> None:
    h = History(ipvs=[table(0.5, "lb1", "rs1", "rs2", "rs3"), table(0.5, "lb2", "rs1", "rs2", "rs3")])
    h.faults += [FaultEvent(2 * S, "server-stop", rs) for rs in ("rs1", "rs2", "rs3")]
    h.ipvs.append(table(5.0, "lb1", "sorry"))
    assert not CHECKS["ipvs_converged"](h, ctx()).ok  # lb2 still runs with its old table
    h.faults.append(FaultEvent(3 * S, "crash", "lb2"))
    v = CHECKS["ipvs_converged"](h, ctx())
    assert v.ok, v.evidence
    assert "lb2" not in v.summary
    assert not CHECKS["ipvs_converged"](h, ctx(), dests=["rs2"]).ok  # an explicit expectation wins


def test_ipvs_converged_fails_without_samples_or_before_settling() -> None:
    assert not CHECKS["ipvs_converged"](History(), ctx()).ok
    assert "before the last fault had settled" in CHECKS["ipvs_converged"](outage(2.0), ctx(end=12)).summary


# ------------------------------------------------------------------------------------------- the table reader
PROC_IP_VS = """IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
TCP  0A000064:0050 rr
  -> 0A000116:0050      Masq    1      0          3
  -> 0A000115:0050      Masq    0      0          0
FWM  00000007 wlc
UDP  [2001:0db8:0000:0000:0000:0000:0000:0001]:0035 rr
  -> [2001:0db8:0000:0000:0000:0000:0000:0021]:0035      Route   2      0          0
"""


def test_parse_ip_vs_reads_services_destinations_weights_and_names_the_hosts() -> None:
    services, dests = parse_ip_vs(PROC_IP_VS, {"10.0.1.22": "rs2", "10.0.1.21": "rs1"})
    assert services == ("TCP 10.0.0.100:80", "FWM 7", "UDP [2001:db8::1]:53")
    assert dests == (
        IpvsDest("TCP 10.0.0.100:80", "10.0.1.22:80", 1, "rs2"),
        IpvsDest("TCP 10.0.0.100:80", "10.0.1.21:80", 0, "rs1"),
        IpvsDest("UDP [2001:db8::1]:53", "[2001:db8::21]:53", 2, ""),
    )
    assert service_name("tcp", "10.0.0.100", 80) == services[0]
    assert service_name("TCP", None, None, 7) == "FWM 7"
    assert parse_ip_vs("") == ((), ())


# ------------------------------------------------------------------------------------------- the JSON form
def test_history_round_trips_through_json_and_an_older_form_still_loads() -> None:
    h = outage(2.0)
    h.transitions.append(Transition(S, "lb1", "VI_1", 51, "front", State.BACKUP, State.MASTER, "timer", 150))
    h.vip_holders.append(VipHolderSample(S, "10.0.0.100", ("lb1",)))
    back = History.from_dict(json.loads(json.dumps(h.to_dict())))
    assert back == h
    old = h.to_dict()
    del old["ipvs"]  # a history written before IPVS samples existed
    assert History.from_dict(old).ipvs == [] and History.from_dict(old).transitions == h.transitions
    c = ctx()
    assert CheckContext.from_dict(json.loads(json.dumps(c.to_dict()))) == c


# ------------------------------------------------------------------------------------------- the config side
def test_lvs_side_reads_bounds_and_sorry_servers_from_the_directors_configs() -> None:
    from pathlib import Path

    from netns_lab.ipvs_watch import lvs_facts
    from netns_lab.runner import lvs_side
    from netns_lab.scenario import load_scenario

    root = Path(__file__).resolve().parents[2] / "scenarios"
    down = load_scenario(root / "all-real-servers-down.yaml")
    side = lvs_side(down)
    assert side.directors == ("lb1",)
    assert side.real_servers == {"rs1": 6.0, "rs2": 6.0}  # 1 + (1 + 1) * 2 + 1 * 1, keepalived's bound
    assert side.sorry_servers == ("sorry",)
    facts = lvs_facts(down.router("lb1").config.replace("connect_timeout 2", "connect_timeout 3", 1))
    assert [(r.service, r.dest, r.bound_s) for r in facts.real_servers] == [
        (SVC, "10.0.1.21:80", 8.0), (SVC, "10.0.1.22:80", 6.0)]  # fmt: skip
    assert facts.sorry == {SVC: "10.0.1.29:80"}
    assert lvs_side(load_scenario(root / "master-crash.yaml")).directors == ()
