"""Health checking at scale: our checker process beside keepalived 2.2.7's (``keepalived -C``), same targets.

``VS`` virtual servers x ``RS`` real servers, one TCP_CHECK each at delay_loop 1 s (10,000 by default). Real
server ``j`` of virtual server ``i`` is 127.1.<i / 256>.<i % 256>:<20000 + j>: one listening socket per port
on 0.0.0.0 serves every virtual server, and the local address of each accepted connection names the check.
keepalived -C needs IPVS, so everything runs in one ``run_in_kernel`` call (User-Mode Linux here, one virtual
CPU shared by the checker, the listeners and the kernel); both checkers program the kernel's real table.

Measured for each side, alone in the kernel:

* CPU of the checker process (utime + stime from /proc) over a window after a warm-up, and that CPU per probe
  (per connection the listeners saw in the window: the figure that stays comparable when a side saturates);
* check lateness, seen from outside and so the same for both: per check, the gap between successive connections
  minus delay_loop (keepalived and we both start the next check delay_loop after the previous one ends);
* dead real server removal time: one port's listener closes (RS of every virtual server on it go dead) and the
  time until each leaves the IPVS table.

::

    .venv/bin/python -m bench.bench_checkers                  # 100 x 100
    .venv/bin/python -m bench.bench_checkers --vs 20 --rs 100 --json
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import itertools
import json
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

KEEPALIVED = "/usr/sbin/keepalived"
BASE_PORT = 20000
DEAD_PORT_INDEX = 0  # the port whose listener closes for the removal measurement


def _raise_nofile() -> None:
    """As many descriptors as allowed (thousands of checks and connections at once)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rs_address(i: int) -> str:
    return f"127.1.{i >> 8}.{i & 255}"


def vip(i: int) -> str:
    return f"10.200.{i >> 8}.{i & 255}"


def config(vs: int, rs: int) -> str:
    parts = ["global_defs {\n    router_id bench\n}\n"]
    for i in range(vs):
        parts.append(f"virtual_server {vip(i)} 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n"
                     "    protocol TCP\n")
        for j in range(rs):
            parts.append(f"    real_server {rs_address(i)} {BASE_PORT + j} {{\n        TCP_CHECK {{\n"
                         "            connect_timeout 2\n            retry 1\n            delay_before_retry 1\n"
                         "        }\n    }\n")
        parts.append("}\n")
    return "".join(parts)


# -- the listeners (a process of their own) -------------------------------------------------------------------


def listeners(rs: int, out: str) -> None:
    """Accept and close on ports BASE_PORT..+rs; record (monotonic time, local address, port) of every connection.
    SIGUSR1 closes the DEAD_PORT_INDEX listener (its time is recorded), SIGTERM ends the run."""
    _raise_nofile()
    socks: dict[int, socket.socket] = {}
    for j in range(rs):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", BASE_PORT + j))
        s.listen(4096)
        s.setblocking(False)
        socks[s.fileno()] = s
    ep = select.epoll()
    for fd in socks:
        ep.register(fd, select.EPOLLIN)
    seen: list[tuple[float, str, int]] = []
    state = {"stop": False, "kill": False}
    killed_at = 0.0
    signal.signal(signal.SIGTERM, lambda *_: state.__setitem__("stop", True))
    signal.signal(signal.SIGUSR1, lambda *_: state.__setitem__("kill", True))
    Path(out + ".ready").write_text("1")
    while not state["stop"]:
        if state["kill"] and not killed_at:
            dead = next(s for s in socks.values() if s.getsockname()[1] == BASE_PORT + DEAD_PORT_INDEX)
            ep.unregister(dead.fileno())
            del socks[dead.fileno()]
            dead.close()
            killed_at = time.monotonic()
        try:
            events = ep.poll(0.2)
        except InterruptedError:
            continue
        now = time.monotonic()
        for fd, _ in events:
            ls = socks.get(fd)
            while ls is not None:
                try:
                    conn, _ = ls.accept()
                except (BlockingIOError, InterruptedError):
                    break
                addr, port = conn.getsockname()
                conn.close()
                seen.append((now, addr, port))
    with open(out, "w") as f:
        json.dump({"seen": seen, "killed_at": killed_at}, f)


# -- our checker process (a process of its own) ---------------------------------------------------------------


def run_ours(conf: str, backend_kind: str = "kernel", lateness_out: str | None = None) -> None:
    """Our checker process on ``conf`` with the kernel's IPVS table (or the memory oracle, in a kernel without
    IPVS), until SIGTERM."""
    from ipvs.backend import Backend
    from ipvs.memory import MemoryBackend
    from ipvs.netlink import KernelBackend
    from pykeepalived.config import HostView, Severity, load_config
    from pykeepalived.daemon.checker_process import CheckerProcess
    from pykeepalived.daemon.lvs import build_lvs

    _raise_nofile()
    res = load_config(conf, config_id="bench", host=HostView(interfaces=None))
    errors = [str(d) for d in res.diagnostics if d.severity == Severity.ERROR]
    if errors:
        raise SystemExit("\n".join(errors))

    async def go() -> None:
        backend: Backend = KernelBackend() if backend_kind == "kernel" else MemoryBackend()
        proc = CheckerProcess(build_lvs(res.config), backend)
        proc.driver.lateness = collections.deque(maxlen=10_000_000)  # every probe of the run, not the recent window
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, proc.stop)
        await proc.run()
        if lateness_out:  # the driver's own view: how late each probe started against its deadline
            Path(lateness_out).write_text(json.dumps(list(proc.driver.lateness)))

    asyncio.run(go())


# -- the measurement (inside the kernel) ------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _dests() -> set[tuple[str, str, int]]:
    from ipvs.netlink import KernelBackend

    async def go() -> set[tuple[str, str, int]]:
        b = KernelBackend()
        try:
            return {(s.service.key.addr, d.dest.key.addr, d.dest.key.port) for s in await b.list_services()
                    for d in s.dests}
        finally:
            await b.close()

    return asyncio.run(go())


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def _side(name: str, vs: int, rs: int, conf: Path, work: Path, warmup: float, window: float,
          backend: str = "kernel") -> dict[str, Any]:
    log = work / f"{name}.listeners.json"
    lst = subprocess.Popen([sys.executable, "-m", "bench.bench_checkers", "listeners", str(rs), str(log)])
    procs: list[subprocess.Popen[bytes]] = [lst]
    try:
        while not Path(str(log) + ".ready").exists():
            time.sleep(0.05)
        if name == "keepalived":
            pidfile = work / "ka-checkers.pid"
            with contextlib.suppress(FileNotFoundError):
                pidfile.unlink()
            procs.append(subprocess.Popen(
                [KEEPALIVED, "-C", "-n", "-D", "-f", str(conf), "-p", str(work / "ka.pid"), "-c", str(pidfile)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                                                          "TMPDIR": str(work)},
                preexec_fn=_raise_nofile))
            while not pidfile.exists() or not pidfile.read_text().strip():
                time.sleep(0.05)
            pid = int(pidfile.read_text())
        else:
            procs.append(subprocess.Popen([sys.executable, "-m", "bench.bench_checkers", "ours", str(conf),
                                           backend, str(work / "driver-lateness.json")]))
            pid = procs[-1].pid
        started = time.monotonic()
        time.sleep(warmup)
        cpu0, t0 = _cpu_seconds(pid), time.monotonic()
        time.sleep(window)
        cpu1, t1 = _cpu_seconds(pid), time.monotonic()
        table = _dests() if backend == "kernel" else set()
        # removal: one port's listener closes; every virtual server's real server on that port goes dead
        lst.send_signal(signal.SIGUSR1)
        dead = {(vip(i), rs_address(i), BASE_PORT + DEAD_PORT_INDEX) for i in range(vs)}
        gone_at: dict[tuple[str, str, int], float] = {}
        deadline = time.monotonic() + (30 if backend == "kernel" else 0)
        while len(gone_at) < len(dead) and time.monotonic() < deadline:
            now_table, now = _dests(), time.monotonic()
            for d in dead - now_table:
                gone_at.setdefault(d, now)
            time.sleep(0.1)
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    data = json.loads(log.read_text())
    killed_at = float(data["killed_at"])
    per_check: dict[tuple[str, int], list[float]] = {}
    for t, addr, port in data["seen"]:
        if t0 <= t <= t1:
            per_check.setdefault((addr, port), []).append(t)
    late = [b - a - 1.0 for times in per_check.values() for a, b in itertools.pairwise(times)]
    removal = sorted(t - killed_at for t in gone_at.values())
    inner: dict[str, float] = {}
    if name == "ours":
        own = json.loads((work / "driver-lateness.json").read_text())
        steady = own[len(own) // 4:]  # past the start-up spread
        inner = {"driver_lateness_p50_ms": 1000 * _percentile(steady, 0.5),
                 "driver_lateness_p99_ms": 1000 * _percentile(steady, 0.99)}
    return {**inner,
        "cpu_s": cpu1 - cpu0, "window_s": t1 - t0, "cpu_share": (cpu1 - cpu0) / (t1 - t0),
        "checks_seen": len(per_check), "connections": sum(len(v) for v in per_check.values()),
        "cpu_us_per_probe": 1e6 * (cpu1 - cpu0) / max(1, sum(len(v) for v in per_check.values())),
        "lateness_p50_ms": 1000 * _percentile(late, 0.5), "lateness_p99_ms": 1000 * _percentile(late, 0.99),
        "table_dests": len(table), "removed": len(removal), "of": len(dead),
        "removal_p50_s": _percentile(removal, 0.5), "removal_max_s": removal[-1] if removal else float("nan"),
        "startup_s": t0 - started - warmup,
    }


def measure(payload: dict[str, Any]) -> dict[str, Any]:
    """The guest side (inside a kernel with IPVS): both checkers, one after the other."""
    work = Path("/tmp/bench-checkers")
    work.mkdir(exist_ok=True)
    return _measure_in(work, payload)


def _measure_in(work: Path, payload: dict[str, Any]) -> dict[str, Any]:
    vs, rs = int(payload["vs"]), int(payload["rs"])
    conf = work / "keepalived.conf"
    conf.write_text(config(vs, rs))
    _raise_nofile()
    out: dict[str, Any] = {"checks": vs * rs}
    backend = str(payload.get("backend", "kernel"))
    for name in payload.get("sides", ("ours", "keepalived")):
        if backend == "kernel":
            subprocess.run(["ipvsadm", "-C"], check=False)
        out[name] = _side(name, vs, rs, conf, work, float(payload["warmup"]), float(payload["window"]), backend)
        time.sleep(2)
    return out


def measure_host(payload: dict[str, Any]) -> dict[str, Any]:
    """Ours alone in the host kernel (no IPVS: the memory oracle stands for the table), in a fresh network
    namespace so the listeners' ports collide with nobody; its files go to a temporary directory."""
    import tempfile

    from netns_lab.servers import in_fresh_netns

    with tempfile.TemporaryDirectory(prefix="bench-checkers-") as tmp:
        def run() -> dict[str, Any]:
            return _measure_in(Path(tmp), {**payload, "backend": "memory", "sides": ("ours",)})

        return in_fresh_netns(run, setup=[["ip", "link", "set", "lo", "up"]])


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["listeners"]:
        listeners(int(args[1]), args[2])
        return 0
    if args[:1] == ["ours"]:
        run_ours(args[1], *args[2:4])
        return 0
    p = argparse.ArgumentParser(prog="python -m bench.bench_checkers")
    p.add_argument("--vs", type=int, default=100)
    p.add_argument("--rs", type=int, default=100)
    p.add_argument("--warmup", type=float, default=8.0)
    p.add_argument("--window", type=float, default=20.0)
    p.add_argument("--keepalived-first", action="store_true")
    p.add_argument("--host", action="store_true", help="ours alone in the host kernel (memory oracle for IPVS)")
    p.add_argument("--json", action="store_true")
    ns = p.parse_args(args)
    from netns_lab.uml import IPVS_MODULES, run_in_kernel

    payload = {"vs": ns.vs, "rs": ns.rs, "warmup": ns.warmup, "window": ns.window,
               "sides": ("keepalived", "ours") if ns.keepalived_first else ("ours", "keepalived")}
    if ns.host:
        r, kernel = measure_host(payload), f"host {os.uname().release}, IPVS table in memory"
    else:
        run = run_in_kernel("bench.bench_checkers:measure", payload, modules=IPVS_MODULES, timeout=900)
        r, kernel = run.result, run.kernel
    if ns.json:
        print(json.dumps(r, indent=1))
        return 0
    print(f"{r['checks']} TCP_CHECKs at delay_loop 1 s, {kernel}")
    if "keepalived" not in r:
        for k, v in r["ours"].items():
            print(f"{k:22} {v:12.3f}")
        return 0
    keys = ("cpu_share", "cpu_us_per_probe", "lateness_p50_ms", "lateness_p99_ms", "checks_seen", "connections",
            "table_dests", "removal_p50_s", "removal_max_s", "removed")
    print(f"{'':18} {'ours':>12} {'keepalived':>12} {'ratio':>7}")
    for k in keys:
        a, b = r["ours"][k], r["keepalived"][k]
        ratio = f"{a / b:.2f}x" if isinstance(b, (int, float)) and b else ""
        print(f"{k:18} {a:12.3f} {b:12.3f} {ratio:>7}")
    for k in ("driver_lateness_p50_ms", "driver_lateness_p99_ms"):
        print(f"{k:18} {r['ours'].get(k, float('nan')):12.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
