"""keepalived 2.2.7 runs the simulator's three-router script too: the same state transitions per router as the
simulator (and so as our daemon, tests/lab/test_daemon_crosscheck.py), through the same netns_lab.daemons API.

keepalived's console log stamps whole seconds (truncated), so its transitions are compared within one second
more than ours: the point here is the sequence.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from netns_lab.crosscheck import compare, run_lab, run_sim, three_routers

pytestmark = [pytest.mark.interop, pytest.mark.lab]

#: log resolution (1 s, truncated) + one Advertisement_Interval of timer phase + reaction
LOG_RESOLUTION_S = 1.0
REACTION_S = 0.15


def test_keepalived_gives_the_simulators_transitions_per_router(tmp_path: Path) -> None:
    script = three_routers()
    lab = run_lab(script, log_dir=tmp_path, impl="keepalived")
    sim = run_sim(script, lab.step_times, end=lab.end)
    nodes = [r.name for r in script.routers]
    problems = compare(sim, lab.history, nodes, tolerance=LOG_RESOLUTION_S + script.advert_int + REACTION_S)
    assert not problems, "\n".join(problems) + "\n\nsim:\n" + sim.timeline() + "\n\nlab:\n" + lab.history.timeline()
    assert len(lab.history.transitions) == len(sim.transitions) == 11
