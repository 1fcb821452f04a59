"""Drawn fault schedules per minute, in the simulator and in the real lab, and the simulator's speed-up over
real time (simulated seconds per wall-clock second).

Anchor = **real time**: a lab run of a schedule lasts as long as the schedule (plus the daemons' start-up), so
the lab's rate is what real time allows; the simulator runs the same schedules' scripts (same strategy, same
Hypothesis derandomized draw) and every applicable checker over each.

    .venv/bin/python -m bench.bench_schedules [--sim N] [--lab N]     # as root for the lab part
"""

from __future__ import annotations

import argparse
import time

from hypothesis import HealthCheck, given, settings

from netns_lab.crosscheck import run_lab, run_sim
from netns_lab.schedules import Schedule, check, schedules

US = 1_000_000


def measure(n: int, lab: bool) -> tuple[int, float, float]:
    """Run ``n`` drawn schedules; returns (schedules, wall seconds, simulated/real seconds covered)."""
    done = [0, 0.0, 0.0]

    @settings(max_examples=n, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(schedules(max_episodes=3, max_duration=2.0))
    def one(s: Schedule) -> None:
        t0 = time.perf_counter()
        if lab:
            run = run_lab(s.script())
            check(s, run.history, run.end, failover_tolerance=s.advert_int + 0.1)
        else:
            check(s, run_sim(s.script(), seed=s.seed), round(s.duration * US))
        done[0] += 1
        done[1] += time.perf_counter() - t0
        done[2] += s.duration

    one()
    return int(done[0]), done[1], done[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sim", type=int, default=1000, help="schedules in the simulator")
    ap.add_argument("--lab", type=int, default=2, help="schedules in the lab (0: skip)")
    args = ap.parse_args()
    n, wall, covered = measure(args.sim, lab=False)
    print(f"simulator: {n} schedules in {wall:.2f} s = {60 * n / wall:,.0f} schedules/min; "
          f"{covered:,.0f} simulated s = {covered / wall:,.0f}x real time")  # fmt: skip
    if args.lab:
        n, wall, covered = measure(args.lab, lab=True)
        print(f"lab: {n} schedules in {wall:.1f} s = {60 * n / wall:.2f} schedules/min; "
              f"{covered:.0f} scheduled s ({covered / wall:.2f}x real time)")  # fmt: skip


if __name__ == "__main__":
    main()
