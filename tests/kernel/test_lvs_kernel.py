"""The checker process against the real kernel IPVS table (inside User-Mode Linux), under client traffic.

One boot runs every phase (``tests/kernel/lvs_targets.py``): a director with a NAT service to three real HTTP
servers in namespaces and a client sending a GET every 20 ms to the VIP. keepalived's detection bound for a
stopped real server is delay_loop + (retry+1)*connect_timeout + retry*delay_before_retry (here 4 s); a stopped
server refuses at once, so ours must be well inside it. Timings carry margins for the shared machine.
"""

from __future__ import annotations

import pytest

from netns_lab.lvslab import SORRY_INDEX, rs_addr
from netns_lab.uml import run_in_kernel
from tests.kernel.lvs_targets import BOUND

pytestmark = pytest.mark.kernel

#: slack on top of keepalived's bound and on the edges of the failure window (UML on a shared 2-core machine)
MARGIN = 1.0
EDGE = 0.3


def test_real_server_outage_under_traffic_sorry_server_quorum_and_inhibit() -> None:
    run = run_in_kernel("tests.kernel.lvs_targets:outage", {"settle": 3.0}, timeout=240)
    assert run.returncode == 0, run.output
    r = run.result
    assert isinstance(r, dict)
    client = [(t, ok, what) for t, ok, what in r["client"]]
    stop1, start1, all_down = r["stop1"], r["start1"], r["all_down"]
    removed_at = stop1 + r["removed1"]
    sorry_at = all_down + r["sorry_in"]

    before = [c for c in client if c[0] < stop1]
    phase1 = [c for c in client if stop1 <= c[0] < start1]
    phase2 = [c for c in client if start1 <= c[0] < all_down]
    phase3 = [c for c in client if c[0] >= all_down]
    fail1 = [c for c in phase1 if not c[1]]
    fail3 = [c for c in phase3 if not c[1]]
    window1 = (fail1[-1][0] - stop1) if fail1 else 0.0
    window3 = (fail3[-1][0] - all_down) if fail3 else 0.0
    print(f"\nbound {BOUND} s; rs1 stopped: removed after {r['removed1']:.2f} s, {len(phase1)} requests, "
          f"{len(fail1)} failed, failures within {window1:.2f} s of the stop; rs1 back in the table "
          f"{r['returned1']:.2f} s after it started; all stopped: sorry server in after {r['sorry_in']:.2f} s, "
          f"{len(phase3)} requests, {len(fail3)} failed within {window3:.2f} s; {len(client)} requests in all")

    assert len(before) > 50 and all(ok for _, ok, _ in before), "traffic was not steady before the outage"
    assert {w for _, _, w in before} == {"rs1", "rs2", "rs3"}
    # 1. the stopped server leaves the table within the bound, and client failures stay inside that window
    assert r["removed1"] <= BOUND + MARGIN
    assert all(t <= removed_at + EDGE for t, _, _ in fail1), (fail1, removed_at)
    assert {w for t, ok, w in phase1 if ok and t > removed_at + EDGE} == {"rs2", "rs3"}
    # 2. back: it returns within one delay_loop (+ margin) and nothing fails meanwhile
    assert r["returned1"] <= 1 + MARGIN
    assert all(ok for _, ok, _ in phase2)
    assert "rs1" in {w for t, _, w in phase2 if t > start1 + r["returned1"] + EDGE}
    # 3. all stopped: the sorry server takes the traffic, quorum_down ran, rs3 (inhibit_on_failure) stays at 0
    assert r["sorry_in"] <= BOUND + MARGIN
    assert all(t <= sorry_at + EDGE for t, _, _ in fail3), (fail3, sorry_at)
    after = [c for c in phase3 if c[0] > sorry_at + EDGE]
    assert after and all(ok and w == f"rs{SORRY_INDEX}" for _, ok, w in after)
    assert r["quorum_down_ran"] is True
    assert r["final_table"] == {rs_addr(SORRY_INDEX): 1, rs_addr(3): 0}
    # our service leaves the kernel with us
    assert r["table_after_exit"] == {}
