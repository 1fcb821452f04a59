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


#: what a process of ours cannot do without: the interpreter alone, and the interpreter holding the libraries the
#: VRRP child is built on (asyncio, and pyroute2's AsyncIPRoute imported the lean way the child imports it)
_FLOOR_CODE = {
    "interpreter": "",
    "asyncio + pyroute2": "import asyncio; from vrrp.io import lean_pyroute2; lean_pyroute2.install(); "
                          "from pyroute2.iproute.linux import AsyncIPRoute",
}


def floor() -> dict[str, Any]:
    """The floor of a tree like ours, nothing of our code in it: a bare isolated interpreter (``-I -S``, what
    the lean watchdog starts from) plus an interpreter holding the VRRP child's libraries.  The goal's 2x of
    keepalived is judged against this: a tree can only get that low by leaving Python, asyncio or pyroute2."""
    import importlib.util
    import subprocess

    import psutil

    paths = []  # where our vrrp package and pyroute2 live: the only paths the isolated interpreters get
    for package in ("vrrp", "pyroute2"):
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.origin is not None, package
        paths.append(os.path.dirname(os.path.dirname(spec.origin)))
    each: dict[str, tuple[float, float]] = {}
    for label, code in _FLOOR_CODE.items():
        boot = f"import sys; sys.path[:0] = {paths!r}; {code}\nsys.stdout.write('ready\\n'); sys.stdout.flush(); " \
               "sys.stdin.read()"
        proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", boot], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n", label
            mem = psutil.Process(proc.pid).memory_full_info()
            each[label] = (mem.rss / 2**20, mem.pss / 2**20)
        finally:
            proc.kill()
            proc.wait()
    return {"impl": "floor", "processes": len(each), "rss_mib": round(sum(r for r, _ in each.values()), 1),
            "pss_mib": round(sum(p for _, p in each.values()), 1), "cpu_s": 0.0, "cpu_pct": 0.0,
            "rss_each_mib": [round(r, 1) for r, _ in each.values()], "seconds": 0.0}


def run(instances: tuple[int, ...], seconds: float) -> list[dict[str, Any]]:
    """Both sides per instance count, the side that goes first alternating (ABBA over the counts), and the
    floor (:func:`floor`) beside them."""
    rows: list[dict[str, Any]] = []
    bottom = floor()
    for n, count in enumerate(instances):
        order = IMPLS if n % 2 == 0 else IMPLS[::-1]
        pair = {impl: idle(impl, count, seconds) for impl in order}
        rows.extend(pair[impl] for impl in IMPLS)
        rows.append({**bottom, "instances": count})
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
        f = by.get((count, "floor"))
        if f and b and b["rss_mib"]:
            out.append(f"{count:>9} floor (a bare interpreter + asyncio and pyroute2, no code of ours) / keepalived: "
                       f"rss {f['rss_mib'] / b['rss_mib']:.2f}x; the 2x goal is {2 * b['rss_mib']:.1f} MiB")
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
