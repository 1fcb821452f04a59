"""Deterministic simulator: protocol events per second, and time to simulate one hour of a 5-router LAN.

Anchor = **cost floor**: a bare ``heapq`` event loop doing the same number of events with the same shape (one
timer event per advert that schedules one delivery per other router, each delivery a dict update) and nothing
else — no codec, no router, no history.  ``ours / floor`` is what the real protocol work costs on top of the
cheapest possible Python event loop.  The RFC's own "anchor", real time, is printed too: one simulated hour
against 3,600 wall-clock seconds (the speed-up over running the same LAN for real).

Goal (issue 3): >= 100,000 simulated protocol events per second.  An *event* is one packet delivery handled by
a router, one timer that fired, one resume or one scheduled callback (superseded timers are not counted).

    .venv/bin/python -m bench sim_lan5_hour sim_lan5_faults   # through the bench runner (ratio table)
    .venv/bin/python -m bench.bench_sim [--json]              # events/s and the real-time speed-up
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import time

from bench.registry import register
from netns_lab.sim import Simulation

ROUTERS = 5
HOUR_S = 3600.0
FAULT_RUN_S = 120.0


def lan(advert_int: float, seed: int = 1) -> Simulation:
    """Five routers, priorities 100..140, one VIP, on one segment."""
    sim = Simulation(seed=seed, record_adverts=True)
    for i in range(ROUTERS):
        sim.add_router(f"r{i}", priority=100 + 10 * i, address=f"10.0.0.{i + 1}", advert_int=advert_int)
    sim.start()
    return sim


def hour_lan5() -> int:
    """One simulated hour, 1 s adverts, no faults; returns the number of events."""
    sim = lan(1.0)
    sim.run_for(HOUR_S)
    return sim.events_processed


def faults_lan5() -> int:
    """Two simulated minutes at 100 ms adverts with a fault every few seconds (pauses, partitions, loss,
    crashes and restarts of whoever is Master); returns the number of events."""
    sim = lan(0.1, seed=2)
    rng = random.Random(2)
    names = [f"r{i}" for i in range(ROUTERS)]
    t = 0.0
    while t < FAULT_RUN_S:
        step = rng.uniform(1.0, 5.0)
        sim.run_for(step)
        t += step
        masters = sim.masters() or names
        victim = rng.choice(masters)
        kind = rng.randrange(5)
        if kind == 0:
            sim.pause(victim, rng.uniform(0.2, 2.0))
        elif kind == 1:
            sim.partition([victim])
        elif kind == 2:
            sim.heal()
            sim.clear_loss()
        elif kind == 3:
            sim.set_loss(victim, 0.5)
        else:
            sim.crash(victim)
            sim.run_for(1.0)
            sim.restart(victim)
    return sim.events_processed


def floor_loop(events: int, routers: int = ROUTERS) -> int:
    """The cost floor: a bare heapq loop of ``events`` events shaped like the LAN (1 timer + fan-out)."""
    heap: list[tuple[int, int, int, int]] = []
    seen: dict[int, int] = {}
    seq = 0
    heapq.heappush(heap, (0, 0, 0, 0))
    done = 0
    while heap and done < events:
        when, _, kind, node = heapq.heappop(heap)
        done += 1
        if kind == 0:  # an advert timer: deliver to every other router, re-arm
            for other in range(routers):
                if other != node:
                    seq += 1
                    heapq.heappush(heap, (when + 100 + other, seq, 1, other))
            seq += 1
            heapq.heappush(heap, (when + 1_000_000, seq, 0, node))
        else:  # a delivery: the cheapest "handling"
            seen[node] = when
    return done


_COUNTS: dict[str, int] = {}


def _count(name: str, fn: object) -> int:
    if name not in _COUNTS:
        assert callable(fn)
        _COUNTS[name] = fn()
    return _COUNTS[name]


register(
    "sim_lan5_hour",
    ours=hour_lan5,
    anchor=lambda: floor_loop(_count("hour", hour_lan5)),
    description="simulate 1 h of a 5-router LAN at 1 s adverts (~18,000 events)",
    ours_label="netns_lab.sim (codec + router + history)",
    anchor_label="bare heapq loop, same events (cost floor)",
    runs=5,
    warmup=1,
)
register(
    "sim_lan5_faults",
    ours=faults_lan5,
    anchor=lambda: floor_loop(_count("faults", faults_lan5)),
    description="simulate 2 min of a 5-router LAN at 100 ms adverts under pauses/partitions/loss/crashes",
    ours_label="netns_lab.sim (codec + router + history)",
    anchor_label="bare heapq loop, same events (cost floor)",
    runs=5,
    warmup=1,
)


def measure(runs: int = 5) -> dict[str, dict[str, float]]:
    """Median events/s of ours and the floor per scenario, and the real-time speed-up."""
    out: dict[str, dict[str, float]] = {}
    for name, fn, simulated_s in (("hour", hour_lan5, HOUR_S), ("faults", faults_lan5, FAULT_RUN_S)):
        ours, floor = [], []
        events = fn()
        for _ in range(runs):
            t0 = time.perf_counter()
            fn()
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            floor_loop(events)
            floor.append(time.perf_counter() - t0)
        o, f = sorted(ours)[runs // 2], sorted(floor)[runs // 2]
        out[name] = {
            "events": events,
            "ours_s": o,
            "floor_s": f,
            "ours_events_per_s": events / o,
            "floor_events_per_s": events / f,
            "ratio_ours_over_floor": o / f,
            "realtime_speedup": simulated_s / o,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    res = measure(args.runs)
    if args.json:
        print(json.dumps(res, indent=2))
        return
    for name, r in res.items():
        print(
            f"{name:7s} {int(r['events']):7d} events  ours {r['ours_events_per_s']:>10,.0f} ev/s  "
            f"floor {r['floor_events_per_s']:>10,.0f} ev/s  ratio {r['ratio_ours_over_floor']:.1f}x  "
            f"real-time speed-up {r['realtime_speedup']:,.0f}x"
        )


if __name__ == "__main__":
    main()
