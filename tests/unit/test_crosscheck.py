"""netns_lab.crosscheck's comparison of two histories, on simulated runs only (the lab run is in tests/lab)."""

from __future__ import annotations

from dataclasses import replace

from netns_lab.crosscheck import compare, run_sim, three_routers
from vrrp.core.state import State


def test_a_transition_out_of_tolerance_or_order_is_reported() -> None:
    """A shifted time and a missing transition are both found."""
    script = three_routers()
    sim = run_sim(script)
    late = replace(sim, transitions=[replace(t, t=t.t + 400_000) if t.node == "r3" else t for t in sim.transitions])
    assert compare(sim, late, ["r1", "r2", "r3"], tolerance=0.25) == [
        "r3: INIT->BACKUP at 3.400 s, expected 3.000 s (+/- 0.25 s)"
    ]
    missing = replace(sim, transitions=[t for t in sim.transitions if not (t.node == "r2" and t.new is State.MASTER)])
    (problem,) = compare(sim, missing, ["r1", "r2", "r3"], tolerance=0.25)
    assert problem.startswith("r2: transitions differ")
