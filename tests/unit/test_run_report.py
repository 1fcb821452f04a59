"""The run report: summary names each failed expectation with its evidence, JSON carries the figures, compare
shows both implementations side by side with ratios; the runner's pure helpers (VIPs of a config, trimming the
teardown off a history, keepalived's whole-second log stamps moved onto the wire's)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from netns_lab.checks import CheckContext, Verdict
from netns_lab.history import AdvertSent, FaultEvent, History, Transition
from netns_lab.report import compare_table
from netns_lab.runner import RunResult, _refine_coarse, _trim, _vips
from netns_lab.scenario import load_scenario
from vrrp.core.state import State

ROOT = Path(__file__).resolve().parents[2]
S = 1_000_000


def _result(impl: str, gap: float, ok: bool = True) -> RunResult:
    scenario = load_scenario(ROOT / "scenarios" / "master-crash.yaml")
    h = History(faults=[FaultEvent(3 * S, "crash", "lb1", "SIGKILL")])
    verdicts = [
        Verdict("failover_gap", ok, "1 of 1", ("crash of lb1: lb2 took over",), {"gap_0_s": gap}),
        Verdict("one_master", True, "one master"),
    ]
    ctx = CheckContext(end=12 * S, settle=7 * S)
    return RunResult(scenario, impl, None, "host", h, ctx, verdicts, "nl0000", Path("/tmp/x"))


def test_summary_and_json_name_failed_expectations_with_evidence() -> None:
    r = _result("pykeepalived", 3.7, ok=False)
    text = r.summary()
    assert text.startswith("master-crash with pykeepalived: FAIL")
    assert "FAIL failover_gap: 1 of 1" in text and "crash of lb1: lb2 took over" in text
    doc = json.loads(json.dumps(r.to_json()))
    assert doc["ok"] is False and doc["figures"] == {"failover_gap.gap_0_s": 3.7}
    assert doc["faults"] == [{"t": 3.0, "kind": "crash", "node": "lb1", "detail": "SIGKILL"}]


def test_compare_table_puts_figures_side_by_side_with_ratios() -> None:
    out = io.StringIO()
    compare_table([_result("keepalived", 3.6), _result("pykeepalived", 3.96)], out)
    text = out.getvalue()
    assert "failover_gap.gap_0_s" in text and "1.10" in text
    assert "keepalived" in text and "pykeepalived" in text


def test_vips_of_the_routers_configs() -> None:
    assert _vips(load_scenario(ROOT / "scenarios" / "master-crash.yaml")) == ["10.0.0.100"]
    assert _vips(load_scenario(ROOT / "scenarios" / "ipv6.yaml")) == ["fd00::100"]


def test_trim_drops_the_teardown_and_refine_moves_whole_second_stamps_to_the_wire() -> None:
    h = History()
    h.transitions += [
        Transition(4 * S, "lb2", "VI_1", 51, "lan", State.BACKUP, State.MASTER, "", 100),  # logged at 4 s
        Transition(13 * S, "lb2", "VI_1", 51, "lan", State.MASTER, State.INIT, "", 100),  # teardown
    ]
    h.adverts += [AdvertSent(round(4.62 * S), "lb2", "VI_1", 51, "lan", 100)]
    _trim(h, 12 * S)
    assert len(h.transitions) == 1
    _refine_coarse(h, {"lb2"})
    assert h.transitions[0].t == round(4.62 * S)
    _refine_coarse(h, set())  # ours logs milliseconds: untouched
    assert h.transitions[0].t == round(4.62 * S)
