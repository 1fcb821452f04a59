"""IPVS programming: our sync engine vs ``ipvsadm -R``, inside a kernel with IPVS (User-Mode Linux here).

Three measurements on a table of ``services`` x ``dests`` (default 10,000 x 10, NAT, wrr):

* full sync from an empty table: ``SyncEngine.sync`` (read, plan, pipelined netlink) vs ``ipvsadm -R`` of the
  same rules (the ipvsadm -S format);
* no-op resync of that table: ours must write nothing (it reads the table and diffs) vs ``ipvsadm -S -n``
  (reading the table, the least any diff-based tool does);
* one destination weight change: ours (read + diff + 1 write) vs one ``ipvsadm -e`` command, both as a full
  resync and as a targeted ``sync_changed`` (reads only the changed service).

Both sides run in the same kernel, alternating which goes first (ABBA), medians reported with ratios
``ours / anchor``. Our host kernel has no IPVS, so the whole measurement runs in one ``run_in_kernel`` call::

    .venv/bin/python -m bench.bench_ipvs                      # 10,000 x 10, 3 runs
    .venv/bin/python -m bench.bench_ipvs --services 1000 --runs 5 --json

On a host whose kernel has IPVS the same benchmarks are also registered with ``python -m bench``.

Last measured (2 cores shared with other work, UML 6.1.176, 10,000 x 10, 2 runs, medians)::

    benchmark                ours     anchor   ratio  ours / anchor
    ipvs_full_sync         8.30 s    81.58 s   0.10x  SyncEngine (110000 writes, pipelined) / ipvsadm -R
    ipvs_noop_resync       6.45 s     4.37 s   1.48x  SyncEngine (0 writes) / ipvsadm -S -n (read)
    ipvs_one_change        5.64 s   139.7 ms  40.39x  SyncEngine (1 write) / ipvsadm -e (1 command)
    ipvs_one_targeted     11.5 ms   139.7 ms   0.08x  SyncEngine.sync_changed (1 write) / ipvsadm -e

ipvsadm -R varies a lot between runs (32.9 s to 81.6 s seen for the same rules in a fresh namespace); ours
stayed at 8-9 s. A full resync's cost is reading the table (10,001 netlink dumps), hence sync_changed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

IPVSADM = shutil.which("ipvsadm") or "/usr/sbin/ipvsadm"
MODULES = ("ip_vs", "ip_vs_wrr", "dummy")


def _sh(*argv: str, input: str | None = None) -> str:
    proc = subprocess.run(list(argv), capture_output=True, text=True, input=input, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()[:500]}")
    return proc.stdout


def _make_netns() -> str:
    """A namespace where every unicast address is a valid destination (default route via a dummy link)."""
    ns = f"ipvsb{uuid.uuid4().hex[:8]}"
    _sh("ip", "netns", "add", ns)
    for cmd in (["link", "set", "lo", "up"], ["link", "add", "dummy0", "type", "dummy"],
                ["link", "set", "dummy0", "up"], ["addr", "add", "192.0.2.1/24", "dev", "dummy0"],
                ["route", "add", "default", "dev", "dummy0"]):
        _sh("ip", "-n", ns, *cmd)
    return ns


def _table(services: int, dests: int) -> tuple[list[Any], str]:
    from ipvs.model import DesiredService, Destination, Forward, Service, ServiceKey

    desired = []
    rules: list[str] = []
    for i in range(services):
        vip = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        key = ServiceKey.inet(6, vip, 80)
        rules.append(f"-A -t {vip}:80 -s wrr\n")
        ds = []
        for j in range(dests):
            rip = f"172.{16 + (j >> 8)}.{j & 255}.{1 + i % 250}"
            w = 1 + (i + j) % 10
            ds.append(Destination.of(rip, 8080, forward=Forward.NAT, weight=w))
            rules.append(f"-a -t {vip}:80 -r {rip}:8080 -m -w {w}\n")
        desired.append(DesiredService(Service(key, "wrr"), tuple(ds)))
    return desired, "".join(rules)


def measure(payload: dict[str, Any]) -> dict[str, Any]:
    """Run every measurement in this kernel (the guest side of :func:`main`)."""
    from ipvs.netlink import KernelBackend
    from ipvs.sync import SyncEngine

    services, dests, runs = int(payload["services"]), int(payload["dests"]), int(payload["runs"])
    desired, rules = _table(services, dests)
    times: dict[str, list[float]] = {k: [] for k in (
        "full_ours", "full_anchor", "noop_ours", "noop_anchor", "one_ours", "one_anchor", "targeted_ours",
        "targeted_anchor")}
    counts: dict[str, Any] = {}
    # Every full sync starts in a fresh namespace: the kernel parks deleted destinations in a per-namespace
    # trash list for minutes and scans it on every add, so a flushed table makes the next bulk load quadratic
    # for whichever side runs second.
    namespaces: list[str] = []

    def fresh() -> str:
        ns = _make_netns()
        namespaces.append(ns)
        return ns

    def drop(ns: str) -> None:
        subprocess.run(["ip", "netns", "del", ns], check=False)
        namespaces.remove(ns)
        time.sleep(3)  # let the namespace's cleanup work finish before the next measurement

    saved_anchor = ""
    try:
        def anchor_full() -> None:
            nonlocal saved_anchor
            ns = fresh()
            t0 = time.perf_counter()
            _sh("ip", "netns", "exec", ns, IPVSADM, "-R", input=rules)
            times["full_anchor"].append(time.perf_counter() - t0)
            saved_anchor = _sh("ip", "netns", "exec", ns, IPVSADM, "-S", "-n")
            drop(ns)

        def ours_full(keep: bool = False) -> tuple[str, KernelBackend, SyncEngine]:
            ns = fresh()
            backend = KernelBackend(ns)
            engine = SyncEngine(backend)
            t0 = time.perf_counter()
            res = asyncio.run(engine.sync(desired, now=0.0))
            times["full_ours"].append(time.perf_counter() - t0)
            assert res.ok and res.writes == services * (dests + 1), (res.writes, res.errors[:3])
            counts["full_writes"] = res.writes
            if not keep:
                asyncio.run(backend.close())
                drop(ns)
            return ns, backend, engine

        for r in range(runs):  # ABBA: alternate which side goes first
            for fn in (anchor_full, ours_full) if r % 2 == 0 else (ours_full, anchor_full):
                fn()
        ns, backend, engine = ours_full(keep=True)  # an untimed build for the measurements below
        times["full_ours"].pop()
        saved_ours = _sh("ip", "netns", "exec", ns, IPVSADM, "-S", "-n")
        counts["same_table"] = sorted(saved_ours.splitlines()) == sorted(saved_anchor.splitlines())
        for r in range(runs):
            t0 = time.perf_counter()
            res = asyncio.run(engine.sync(desired, now=1.0 + r))
            times["noop_ours"].append(time.perf_counter() - t0)
            counts["noop_writes"] = res.writes
            t0 = time.perf_counter()
            _sh("ip", "netns", "exec", ns, IPVSADM, "-S", "-n")
            times["noop_anchor"].append(time.perf_counter() - t0)
        target = desired[services // 2]
        d0 = target.dests[0]
        for r in range(runs):
            new_w = 100 + r
            changed = list(desired)
            changed[services // 2] = type(target)(target.service, (d0.with_(weight=new_w), *target.dests[1:]))
            t0 = time.perf_counter()
            res = asyncio.run(engine.sync(changed, now=100.0 + r))
            times["one_ours"].append(time.perf_counter() - t0)
            counts["one_writes"] = res.writes
            changed[services // 2] = type(target)(target.service, (d0.with_(weight=new_w + 500),
                                                                     *target.dests[1:]))
            t0 = time.perf_counter()
            res = asyncio.run(engine.sync_changed(changed, [target.key], now=200.0 + r))
            times["targeted_ours"].append(time.perf_counter() - t0)
            counts["targeted_writes"] = res.writes
            times["targeted_anchor"].append(0.0)
            t0 = time.perf_counter()
            _sh("ip", "netns", "exec", ns, IPVSADM, "-e", "-t", f"{target.key.addr}:80", "-r",
                f"{d0.key.addr}:8080", "-m", "-w", str(new_w + 1000))
            times["one_anchor"].append(time.perf_counter() - t0)
            times["targeted_anchor"][-1] = times["one_anchor"][-1]
        counts["requests_total"] = backend.requests_sent
        asyncio.run(backend.close())
    finally:
        for ns in list(namespaces):
            subprocess.run(["ip", "netns", "del", ns], check=False)
    return {"times": times, "counts": counts, "services": services, "dests": dests, "runs": runs}


def _fmt(s: float) -> str:
    return f"{s:.2f} s" if s >= 1 else f"{s * 1e3:.1f} ms"


def report(result: dict[str, Any], kernel: str) -> str:
    t = result["times"]
    c = result["counts"]
    rows = [
        ("ipvs_full_sync", "full", f"sync.SyncEngine ({c['full_writes']} writes, pipelined)", "ipvsadm -R"),
        ("ipvs_noop_resync", "noop", f"sync.SyncEngine ({c['noop_writes']} writes)", "ipvsadm -S -n (read)"),
        ("ipvs_one_change", "one", f"sync.SyncEngine ({c['one_writes']} write)", "ipvsadm -e (1 command)"),
        ("ipvs_one_targeted", "targeted", f"SyncEngine.sync_changed ({c['targeted_writes']} write)",
         "ipvsadm -e (1 command)"),
    ]
    size = f"{result['services']} services x {result['dests']} dests, {result['runs']} runs, {kernel}"
    lines = [f"IPVS benchmarks ({size}); same table from both: {c['same_table']}",
             f"{'benchmark':<18} {'ours':>10} {'anchor':>10} {'ratio':>7}  ours / anchor"]
    for name, k, ours, anchor in rows:
        o, a = statistics.median(t[f"{k}_ours"]), statistics.median(t[f"{k}_anchor"])
        lines.append(f"{name:<18} {_fmt(o):>10} {_fmt(a):>10} {o / a:>6.2f}x  {ours} / {anchor}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_ipvs", description=__doc__.split("\n\n")[0])
    p.add_argument("--services", type=int, default=10_000)
    p.add_argument("--dests", type=int, default=10)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--json", action="store_true")
    p.add_argument("--timeout", type=float, default=1800)
    args = p.parse_args(argv)
    from netns_lab.uml import KernelRunError, KernelUnavailable, run_in_kernel

    payload = {"services": args.services, "dests": args.dests, "runs": args.runs}
    try:
        run = run_in_kernel("bench.bench_ipvs:measure", payload, modules=MODULES, timeout=args.timeout)
    except (KernelUnavailable, KernelRunError) as e:
        print(f"bench_ipvs: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"kernel": run.kernel, **run.result}, indent=2))
    else:
        print(report(run.result, run.kernel))
    return 0


def _register_on_ipvs_host() -> None:
    """With IPVS in the host kernel, also expose the benchmarks to ``python -m bench`` (1,000 x 10 there, to
    keep one repetition short)."""
    if not Path("/proc/net/ip_vs").exists() or os.geteuid() != 0:
        return
    from bench.registry import register

    state: dict[str, Any] = {}

    def setup() -> None:
        from ipvs.netlink import KernelBackend

        state["ns"] = _make_netns()
        state["desired"], state["rules"] = _table(1000, 10)
        state["backend"] = KernelBackend(state["ns"])

    def teardown() -> None:
        if "backend" in state:
            asyncio.run(state["backend"].flush())
            asyncio.run(state["backend"].close())
        if "ns" in state:
            subprocess.run(["ip", "netns", "del", state["ns"]], check=False)

    def ours() -> None:
        from ipvs.sync import SyncEngine

        asyncio.run(state["backend"].flush())
        asyncio.run(SyncEngine(state["backend"]).sync(state["desired"], now=0.0))

    def anchor() -> None:
        asyncio.run(state["backend"].flush())
        _sh("ip", "netns", "exec", state["ns"], IPVSADM, "-R", input=state["rules"])

    register("ipvs_full_sync_1000", ours=ours, anchor=anchor, setup=setup, teardown=teardown,
             description="program 1,000 services x 10 dests from empty", ours_label="ipvs.sync.SyncEngine",
             anchor_label="ipvsadm -R", runs=5, warmup=1, needs_root=True, needs_tools=("ipvsadm",))


_register_on_ipvs_host()

if __name__ == "__main__":
    sys.exit(main())
