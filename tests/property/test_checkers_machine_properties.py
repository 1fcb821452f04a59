"""Invariants of the check state machine over any sequence of probe outcomes (Hypothesis), against a direct
restatement of keepalived's rule: while up, the check goes down after ``retry + 1`` consecutive failures (one at
the very first run without alpha), retries are ``delay_before_retry`` apart, everything else ``delay_loop``
apart; while down, one success brings it up."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from checkers.core.machine import CheckMachine, RunProbe, Verdict
from checkers.core.spec import CheckSpec, ProbeResult, Target, Timing

LOOP, RETRY_GAP = 10.0, 3.0


@settings(max_examples=300, deadline=None)
@given(outcomes=st.lists(st.booleans(), min_size=1, max_size=60), retry=st.integers(0, 4), alpha=st.booleans(),
       duration=st.sampled_from([0.0, 0.5]))
def test_machine_follows_keepalived_rule(outcomes: list[bool], retry: int, alpha: bool, duration: float) -> None:
    spec = CheckSpec("c", "TCP_CHECK", Target("192.0.2.1", 80),
                     timing=Timing(delay_loop=LOOP, retry=retry, delay_before_retry=RETRY_GAP, alpha=alpha))
    m = CheckMachine(spec)
    m.start(0.0, 0.0)
    up, first, fails = not alpha, True, 0
    now = 0.0
    for ok in outcomes:
        assert m.deadline is not None
        expected_gap = None if first else (RETRY_GAP if up and fails > 0 else LOOP)
        if expected_gap is not None:
            assert m.deadline == now + expected_gap
        now = m.deadline
        assert m.on_timer(now) == [RunProbe("c", fails if up and not first else 0)]
        now += duration
        verdicts = [a for a in m.on_result(now, ProbeResult(ok)) if isinstance(a, Verdict) and a.changed]
        # the reference rule
        if ok:
            fails = 0
            want = [] if up else [Verdict("c", True)]
            up = True
        elif up:
            fails += 1
            limit = 1 if first else retry + 1
            want = [Verdict("c", False)] if fails >= limit else []
            if want:
                up, fails = False, 0
        else:
            want = []
        assert verdicts == want
        assert m.is_up == up
        first = False
