"""Idle cost of the whole daemon: RSS and CPU of the process tree with 1 and 255 VRRP instances, ours beside
keepalived 2.2.7, same configuration, same lab.

Both daemons are a parent plus children (ours: a watchdog parent and a VRRP child, each its own interpreter;
keepalived: a parent and a forked VRRP child), so the figures are sums over the tree the daemon's pid roots:

* RSS summed over the tree (what ``ps`` shows; pages shared between the processes count in each), and PSS summed
  (shared pages split between their users: what the tree really costs the machine);
* CPU (user + system) of the tree over the window, after the start-up and first Master_Down_Interval.

Each instance is a Master at 1 s adverts on one interface (``bench_failover``'s 255-instance configuration).
The daemon runs as Debian's unit runs it (no ``-P``/``-C``): it starts the children its configuration needs.

::

    .venv/bin/python -m bench.bench_idle                       # 1 and 255 instances, 60 s each side
    .venv/bin/python -m bench.bench_idle --instances 255 --seconds 20 --json
    .venv/bin/python -m bench idle_255                         # through the harness (a shorter window)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from bench.bench_failover import TOPOLOGY, _scale_conf
from bench.registry import register
from netns_lab.daemons import DaemonSpec, Impl, start_daemon
from netns_lab.lab import Lab

IMPLS: tuple[Impl, Impl] = ("pykeepalived", "keepalived")
#: start-up, the first Master_Down_Interval (3.6 s) and 255 transitions to Master (ours log, notify and add the
#: addresses of each: ~7 s after start at 255 instances on the shared machine) are not the idle state
SETTLE_S = 20.0


def idle(impl: Impl, instances: int, seconds: float) -> dict[str, Any]:
    """Start one daemon with ``instances`` Masters, let it settle, measure its process tree for ``seconds``."""
    import psutil

    with Lab(TOPOLOGY) as lab:  # torn down however the body ends
        spec = DaemonSpec("lb1", _scale_conf(instances), impl=impl, label=f"idle-{impl}", log_detail=False,
                          vrrp_only=False)
        daemon = start_daemon(lab, spec)
        try:
            assert daemon.pid is not None
            root = psutil.Process(daemon.pid)
            time.sleep(SETTLE_S)

            def tree() -> list[psutil.Process]:
                return [root, *root.children(recursive=True)]

            def cpu() -> float:
                return float(sum(sum(p.cpu_times()[:2]) for p in tree()))

            c0, t0 = cpu(), time.monotonic()
            time.sleep(seconds)
            c1, t1 = cpu(), time.monotonic()
            procs = tree()
            mem = [p.memory_full_info() for p in procs]
            return {"impl": impl, "instances": instances, "seconds": round(t1 - t0, 2), "processes": len(procs),
                    "cpu_s": round(c1 - c0, 3), "cpu_pct": round(100 * (c1 - c0) / (t1 - t0), 3),
                    "rss_mib": round(sum(m.rss for m in mem) / 2**20, 1),
                    "pss_mib": round(sum(m.pss for m in mem) / 2**20, 1),
                    "rss_each_mib": [round(m.rss / 2**20, 1) for m in mem]}
        finally:
            daemon.stop(10)


def run(instances: tuple[int, ...], seconds: float) -> list[dict[str, Any]]:
    """Both sides per instance count, the side that goes first alternating (ABBA over the counts)."""
    rows = []
    for n, count in enumerate(instances):
        order = IMPLS if n % 2 == 0 else IMPLS[::-1]
        pair = {impl: idle(impl, count, seconds) for impl in order}
        rows.extend(pair[impl] for impl in IMPLS)
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    out = [f"{'instances':>9} {'impl':12} {'procs':>5} {'rss MiB':>8} {'pss MiB':>8} {'cpu s':>7} {'cpu %':>6}"
           "  rss of each process"]
    for r in rows:
        out.append(f"{r['instances']:>9} {r['impl']:12} {r['processes']:>5} {r['rss_mib']:>8} {r['pss_mib']:>8} "
                   f"{r['cpu_s']:>7} {r['cpu_pct']:>6}  {r['rss_each_mib']}")
    by = {(r["instances"], r["impl"]): r for r in rows}
    for count in sorted({r["instances"] for r in rows}):
        a, b = by.get((count, "pykeepalived")), by.get((count, "keepalived"))
        if a and b:
            ratios = [f"{k} {a[k] / b[k]:.2f}x" for k in ("rss_mib", "pss_mib", "cpu_s") if b[k]]
            out.append(f"{count:>9} ratio ours/keepalived: {', '.join(ratios)}")
    return "\n".join(out)


_ROWS: list[dict[str, Any]] = []


def _register(count: int) -> None:
    def teardown() -> None:
        if _ROWS:
            print(f"\nidle daemon, {count} instance(s), measured over {HARNESS_WINDOW_S:g} s per run:", file=sys.stderr)
            print(format_rows(_ROWS), file=sys.stderr)
            _ROWS.clear()

    register(
        f"idle_{count}",
        ours=lambda: _ROWS.append(idle("pykeepalived", count, HARNESS_WINDOW_S)),
        anchor=lambda: _ROWS.append(idle("keepalived", count, HARNESS_WINDOW_S)),
        description=f"start, settle, measure RSS/PSS/CPU of the daemon's process tree with {count} Master "
                    f"instance(s) at 1 s adverts, stop; the table is printed at the end",
        ours_label="pykeepalived",
        anchor_label="keepalived 2.2.7",
        runs=2,
        warmup=0,
        needs_root=True,
        needs_tools=("ip", "keepalived"),
        teardown=teardown,
    )


#: the harness's window per run (the full report, ``python -m bench.bench_idle``, takes 60 s by default)
HARNESS_WINDOW_S = 10.0
_register(1)
_register(255)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_idle", description=__doc__.split("\n")[0])
    p.add_argument("--instances", default="1,255", help="comma-separated instance counts (default 1,255)")
    p.add_argument("--seconds", type=float, default=60.0, help="measured window per side (default 60)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_idle: needs root (network namespaces)", file=sys.stderr)
        return 2
    try:
        counts = tuple(int(c) for c in args.instances.split(","))
    except ValueError:
        print(f"bench_idle: --instances must be comma-separated numbers, not {args.instances!r}", file=sys.stderr)
        return 2
    rows = run(counts, args.seconds)
    print(json.dumps(rows, indent=1) if args.json else format_rows(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
