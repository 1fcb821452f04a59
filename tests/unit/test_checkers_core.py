"""The sans-IO check machine and scheduler: exact retry / delay_before_retry / alpha / warmup sequences in
virtual time, as keepalived's check_tcp.c tcp_epilog and ipwrapper.c update_svr_checker_state define them."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

import pytest

from checkers.core.machine import LogLine, RunProbe, Verdict, WeightChanged
from checkers.core.scheduler import Scheduler
from checkers.core.spec import CheckSpec, MiscProbe, ProbeResult, Target, Timing


def spec(key: str = "c", **timing: object) -> CheckSpec:
    return CheckSpec(key, "TCP_CHECK", Target("192.0.2.1", 80), timing=Timing(**timing),  # type: ignore[arg-type]
                     name="[192.0.2.1]:tcp:80")


Oracle = Callable[[str, float], ProbeResult]


def run(specs: list[CheckSpec], oracle: Oracle, until: float, duration: float = 0.0,
        warmup: float = 0.0) -> list[tuple[float, object]]:
    """Drive a scheduler in virtual time: every probe takes ``duration`` and answers ``oracle(key, start)``."""
    sched = Scheduler()
    for s in specs:
        sched.add(s, 0.0, warmup_fraction=warmup)
    events: list[tuple[float, object]] = []
    pending: list[tuple[float, str, ProbeResult]] = []
    while True:
        nd = sched.next_deadline()
        candidates = [p[0] for p in pending] + ([nd] if nd is not None else [])
        if not candidates or min(candidates) > until:
            return events
        nxt = min(candidates)
        for p in [p for p in pending if p[0] <= nxt]:
            pending.remove(p)
            for a in sched.on_result(p[1], p[0], p[2]):
                events.append((p[0], a))
        for a in sched.due(nxt):
            events.append((nxt, a))
            if isinstance(a, RunProbe):
                pending.append((nxt + duration, a.key, oracle(a.key, nxt)))


def probes(events: list[tuple[float, object]]) -> list[tuple[float, int]]:
    return [(t, a.attempt) for t, a in events if isinstance(a, RunProbe)]


def verdicts(events: list[tuple[float, object]]) -> list[tuple[float, bool, bool]]:
    return [(t, a.up, a.changed) for t, a in events if isinstance(a, Verdict)]


def ok_unless(dead: Callable[[float], bool]) -> Oracle:
    return lambda _k, t: ProbeResult(not dead(t), "" if not dead(t) else "TCP connection failed to")


def test_first_probe_after_bootstrap_delay_then_every_delay_loop() -> None:
    ev = run([spec(delay_loop=10)], ok_unless(lambda t: False), until=40)
    assert probes(ev) == [(1.0, 0), (11.0, 0), (21.0, 0), (31.0, 0)]
    assert verdicts(ev) == []  # starts up, stays up: nothing to report


def test_without_alpha_one_initial_failure_is_enough() -> None:
    ev = run([spec(delay_loop=10, retry=3, delay_before_retry=2)], ok_unless(lambda t: True), until=30)
    assert probes(ev) == [(1.0, 0), (11.0, 0), (21.0, 0)]  # no retries: down at once, then once per delay_loop
    assert verdicts(ev) == [(1.0, False, True)]
    assert (1.0, LogLine("c", "TCP_CHECK on service [192.0.2.1]:tcp:80 failed.")) in ev


def test_retries_delay_before_retry_apart_then_down() -> None:
    ev = run([spec(delay_loop=10, retry=2, delay_before_retry=3)], ok_unless(lambda t: t >= 15), until=40)
    assert probes(ev) == [(1.0, 0), (11.0, 0), (21.0, 0), (24.0, 1), (27.0, 2), (37.0, 0)]
    assert verdicts(ev) == [(27.0, False, True)]
    assert (27.0, LogLine("c", "TCP_CHECK on service [192.0.2.1]:tcp:80 failed after 2 retries.")) in ev


def test_a_retry_that_passes_keeps_the_check_up_and_resets_the_count() -> None:
    ev = run([spec(delay_loop=10, retry=2, delay_before_retry=3)], ok_unless(lambda t: 20 <= t < 22 or 33 < t < 35),
             until=50)
    assert probes(ev) == [(1.0, 0), (11.0, 0), (21.0, 0), (24.0, 1), (34.0, 0), (37.0, 1), (47.0, 0)]
    assert verdicts(ev) == []


def test_down_check_comes_back_on_one_success() -> None:
    ev = run([spec(delay_loop=10, retry=1, delay_before_retry=1)], ok_unless(lambda t: 5 < t < 30), until=45)
    assert probes(ev) == [(1.0, 0), (11.0, 0), (12.0, 1), (22.0, 0), (32.0, 0), (42.0, 0)]
    assert verdicts(ev) == [(12.0, False, True), (32.0, True, True)]
    assert (32.0, LogLine("c", "TCP connection to [192.0.2.1]:tcp:80 success.")) in ev


def test_retry_zero_fails_on_the_first_failure() -> None:
    ev = run([spec(delay_loop=5, retry=0)], ok_unless(lambda t: t > 3), until=12)
    assert probes(ev) == [(1.0, 0), (6.0, 0), (11.0, 0)]
    assert verdicts(ev) == [(6.0, False, True)]


def test_alpha_starts_down_and_one_success_brings_it_up() -> None:
    ev = run([spec(delay_loop=10, alpha=True)], ok_unless(lambda t: False), until=15)
    assert verdicts(ev) == [(1.0, True, True)]


def test_alpha_first_failure_confirms_down_without_retries() -> None:
    ev = run([spec(delay_loop=10, retry=2, delay_before_retry=1, alpha=True)], ok_unless(lambda t: t < 15), until=30)
    assert probes(ev) == [(1.0, 0), (11.0, 0), (21.0, 0)]
    assert verdicts(ev) == [(1.0, False, False), (21.0, True, True)]


def test_next_probe_counts_from_the_end_of_the_previous_one() -> None:
    ev = run([spec(delay_loop=10, retry=1, delay_before_retry=2)], ok_unless(lambda t: t > 5), until=30,
             duration=0.5)
    assert probes(ev) == [(1.0, 0), (11.5, 0), (14.0, 1), (24.5, 0)]
    assert verdicts(ev) == [(14.5, False, True)]


@pytest.mark.parametrize(("warmup", "frac", "first"), [(None, 0.5, 6.0), (4.0, 0.5, 3.0), (0.0, 0.9, 1.0),
                                                        (None, 1.0, 11.0)])
def test_warmup_delays_the_first_probe_by_a_share_of_warmup(warmup: float | None, frac: float, first: float) -> None:
    ev = run([spec(delay_loop=10, warmup=warmup)], ok_unless(lambda t: False), until=first, warmup=frac)
    assert probes(ev) == [(first, 0)]


def test_disabled_check_runs_no_probe_and_keeps_its_verdict() -> None:
    sched = Scheduler()
    sched.add(spec(delay_loop=10), 0.0, warmup_fraction=0.0)
    sched.set_enabled("c", False)
    assert sched.due(1.0) == []
    assert sched.next_deadline() == 11.0
    sched.set_enabled("c", True)
    assert sched.due(11.0) == [RunProbe("c", 0)]
    assert sched.next_deadline() is None  # probe in flight


def test_a_probe_carries_when_it_was_due_so_the_shell_can_measure_its_lateness() -> None:
    sched = Scheduler()
    sched.add(spec(delay_loop=10, retry=1, delay_before_retry=2), 0.0, warmup_fraction=0.0)
    (first,) = sched.due(1.7)  # due at 1.0 (BOOTSTRAP_DELAY), fired late
    assert first == RunProbe("c", 0) and first.due == 1.0
    sched.on_result("c", 2.0, ProbeResult(True))
    assert sched.due(11.9) == [] and sched.next_deadline() == 12.0
    (second,) = sched.due(12.5)
    assert second.due == 12.0
    sched.on_result("c", 13.0, ProbeResult(False))  # up: the failure is retried delay_before_retry later
    (retry,) = sched.due(15.25)
    assert retry == RunProbe("c", 1) and retry.due == 15.0


def test_dynamic_weight_is_reported_on_change_and_reset_on_failure() -> None:
    s = CheckSpec("m", "MISC_CHECK", Target("192.0.2.1"), MiscProbe(("/bin/true",), dynamic=True),
                  Timing(delay_loop=10, retry=0), name="[192.0.2.1]:tcp:0")
    sched = Scheduler()
    sched.add(s, 0.0, warmup_fraction=0.0)
    out: list[object] = []
    for t, res in [(1.0, ProbeResult(True, weight=5)), (11.0, ProbeResult(True, weight=5)),
                   (21.0, ProbeResult(True, weight=7)), (31.0, ProbeResult(False)), (41.0, ProbeResult(True))]:
        assert sched.due(t) == [RunProbe("m", 0)]
        out.extend(a for a in sched.on_result("m", t, res) if not isinstance(a, LogLine))
    assert out == [WeightChanged("m", 5), WeightChanged("m", 7), WeightChanged("m", None), Verdict("m", False),
                   Verdict("m", True)]


def test_result_for_an_unknown_or_idle_check_is_ignored() -> None:
    sched = Scheduler()
    sched.add(spec(), 0.0, warmup_fraction=0.0)
    assert sched.on_result("c", 0.5, ProbeResult(False)) == []
    assert sched.on_result("nope", 0.5, ProbeResult(False)) == []


def test_ten_thousand_checks_each_fire_once_per_delay_loop_in_deadline_order() -> None:
    sched = Scheduler(rng=random.Random(7))
    n = 10_000
    for i in range(n):
        sched.add(spec(f"c{i}", delay_loop=1.0), 0.0)
    fired: dict[str, list[float]] = {}
    now = 0.0
    last = 0.0
    while True:
        nd = sched.next_deadline()
        assert nd is not None
        if nd > 5.0:
            break
        assert nd >= last
        last = now = nd
        for a in sched.due(now):
            assert isinstance(a, RunProbe)
            fired.setdefault(a.key, []).append(now)
            sched.on_result(a.key, now, ProbeResult(True))
    assert len(fired) == n
    for times in fired.values():
        assert 1.0 <= times[0] <= 2.0
        assert all(b - a == pytest.approx(1.0) for a, b in itertools.pairwise(times))


@pytest.mark.parametrize(("kind", "success", "failure"), [
    ("HTTP_GET", "Remote Web server N succeed on service.", "HTTP_CHECK on service N failed after 1 retries."),
    ("SSL_GET", "Remote Web server N succeed on service.", "SSL_CHECK on service N failed after 1 retries."),
    ("PING_CHECK", "ICMP connection to N success.", "ICMP CHECK on service N failed after 1 retries."),
    ("DNS_CHECK", "DNS_CHECK on service N success.", "DNS_CHECK on service N failed after 1 retries."),
])
def test_log_lines_use_each_checker_s_words(kind: str, success: str, failure: str) -> None:
    s = CheckSpec("c", kind, Target("192.0.2.1", 80), timing=Timing(delay_loop=10, retry=1, alpha=True), name="N")
    ev = run([s], ok_unless(lambda t: t > 5), until=40)
    lines = [a.message for _, a in ev if isinstance(a, LogLine)]
    assert lines == [success, failure]


def test_log_all_failures_logs_every_failure_while_up() -> None:
    s = CheckSpec("c", "TCP_CHECK", Target("192.0.2.1", 80), timing=Timing(delay_loop=10, retry=1),
                  name="[192.0.2.1]:tcp:80", log_all_failures=True)
    ev = run([s], ok_unless(lambda t: t > 5), until=30)
    lines = [(t, a.message) for t, a in ev if isinstance(a, LogLine)]
    assert lines == [(1.0, "TCP connection to [192.0.2.1]:tcp:80 success."),  # the first run is logged
                     (11.0, "TCP connection failed to [192.0.2.1]:tcp:80."),
                     (12.0, "TCP connection failed to [192.0.2.1]:tcp:80."),
                     (12.0, "TCP_CHECK on service [192.0.2.1]:tcp:80 failed after 1 retries.")]


def test_bad_timing_is_refused_with_the_field_name() -> None:
    with pytest.raises(ValueError, match="delay_loop"):
        Timing(delay_loop=0)
    with pytest.raises(ValueError, match="retry"):
        Timing(retry=-1)
    with pytest.raises(ValueError, match="delay_before_retry"):
        Timing(delay_before_retry=-1)


def test_delay_before_retry_zero_retries_at_once() -> None:
    ev = run([spec(delay_loop=10, retry=2, delay_before_retry=0)], ok_unless(lambda t: t > 5), until=20)
    assert probes(ev) == [(1.0, 0), (11.0, 0), (11.0, 1), (11.0, 2)]
    assert verdicts(ev) == [(11.0, False, True)]
