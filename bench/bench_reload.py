"""Reload at keepalived's reload-scale example: 2,277 virtual servers, 37,205 real servers (bench_config's file).

Both checker processes (``pykeepalived -C`` and ``keepalived -C``) run the same file in one kernel with IPVS
(``run_in_kernel``: User-Mode Linux here). Every real server is up: 172.16.0.0/16 is a local route and one
listener on port 8080 accepts for all of them, so the table holds all 37,205 destinations. Then, per side:

* **reload adding one virtual server** (the file gains one VS with 3 real servers, SIGHUP to the parent as
  ``systemctl reload`` does): the time from the signal until the new virtual server and its real servers are in
  the kernel's table, seen from outside (``ipvsadm``-style listing through our netlink backend every 50 ms);
* **IPVS writes** of that reload, counted from outside as well: ``strace -f -yy`` on the checker child, the
  netlink requests (``nlmsg_len=`` as strace decodes them) in every ``sendmsg``/``sendto`` on a generic-netlink
  socket (we batch several requests per call; the minimum for this change is 4: the service + 3 destinations;
  anything more re-writes entries that did not change);
* the destinations that did not change are all still there after the reload;
* churn, reload or not: the checker's own "Removing service" lines (keepalived's words, both sides log them) in a
  window of ``--baseline`` seconds before the SIGHUP and in the reload's window. In a guest whose one CPU the
  checks saturate, healthy real servers fail checks with no reload at all (the listener falls behind and SYNs
  are dropped); the baseline tells that apart from what the reload costs. ``--delay-loop`` sets the check rate
  (the file's is 10 s: 3,700 connects a second).

::

    .venv/bin/python -m bench.bench_reload            # 2,277 x 37,205; both sides (about 20 min in UML)
    .venv/bin/python -m bench.bench_reload --vs 200 --rs 3000 --json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.bench_config import N_RS, N_VS, generate_config

KEEPALIVED = "/usr/sbin/keepalived"
#: UML maps each guest process's memory with host mappings; a Python checker holding 37,205 checks and reading a
#: second copy at reload passes Debian's default of 65,530 per process, and UML then SIGKILLs it ("UML ran out of
#: memory on the host side! ... vm.max_map_count has been reached"): a testbed limit, raised for the run
MAX_MAP_COUNT = Path("/proc/sys/vm/max_map_count")
WANT_MAP_COUNT = 1 << 20
NEW_VS = "10.250.250.1"
_NETLINK_WRITE = re.compile(r"^\d+\s+(sendmsg|sendto)\(\d+<NETLINK:\[GENERIC")
#: log lines the result keeps: the reload's, and a child's death or respawn
_NOTABLE = (b"Reload", b"reload", b"Traceback", b"child process", b"espawn", b"memory", b"rror")
_CALL = re.compile(r"^\d+\s+(\w+)\(\d+<([A-Z]+(?::\[[A-Z_]+)?)")


def _raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _added_vs() -> str:
    rs = "".join(f"    real_server 172.16.251.{r} 8080 {{\n        weight 1\n        TCP_CHECK {{\n"
                 "            connect_timeout 3\n        }\n    }\n" for r in (1, 2, 3))  # fmt: skip
    head = f"virtual_server {NEW_VS} 80 {{\n    delay_loop 10\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n"
    return f"{head}{rs}}}\n"


def listener() -> None:
    """Accept and close on 0.0.0.0:8080 until SIGTERM (every real server of the file, through the local route)."""
    _raise_nofile()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 8080))
    s.listen(65535)
    s.setblocking(False)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    ep = select.epoll()
    ep.register(s.fileno(), select.EPOLLIN)
    while not stop:
        with contextlib.suppress(InterruptedError):
            for _ in ep.poll(0.5):
                while True:
                    try:
                        c, _a = s.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    c.close()


def _table() -> dict[str, dict[tuple[str, int], int]]:
    """service address -> {(destination, port): connections}: the kernel's table through our netlink backend."""
    from ipvs.netlink import KernelBackend

    async def go() -> dict[str, dict[tuple[str, int], int]]:
        b = KernelBackend()
        try:
            out: dict[str, dict[tuple[str, int], int]] = {}
            for s in await b.list_services():
                out[s.service.key.addr] = {(d.dest.key.addr, d.dest.key.port): d.stats.conns for d in s.dests}
            return out
        finally:
            await b.close()

    return asyncio.run(go())


def _wait(pred: Any, timeout: float, step: float = 0.05) -> float | None:
    """Seconds until ``pred()`` holds, or None after ``timeout``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return time.monotonic() - t0
        time.sleep(step)
    return None


def _lines(log: Path, text: bytes) -> int:
    with open(log, "rb") as f:
        return sum(1 for line in f if text in line)


def _removals(log: Path) -> int:
    """The checker's "Removing service ... from VS ..." lines so far (a healthy real server declared down)."""
    return _lines(log, b"Removing service")


def _side(name: str, conf: Path, base: str, work: Path, n_rs: int, timeout: float,
          trace_writes: bool = True, baseline: float = 60.0) -> dict[str, Any]:
    conf.write_text(base)
    pid_file, checkers_pid = work / f"{name}.pid", work / f"{name}-checkers.pid"
    for f in (pid_file, checkers_pid):
        f.unlink(missing_ok=True)
    exe = [KEEPALIVED] if name == "keepalived" else [str(Path(sys.executable).with_name("pykeepalived"))]
    log = open(work / f"{name}.log", "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen([*exe, "-C", "-n", "-l", "-f", str(conf), "-p", str(pid_file), "-c", str(checkers_pid)],
                            stdout=log, stderr=subprocess.STDOUT, preexec_fn=_raise_nofile,
                            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "TMPDIR": str(work)})  # fmt: skip
    out: dict[str, Any] = {}
    strace: subprocess.Popen[bytes] | None = None
    try:
        t_start = time.monotonic()
        full = _wait(lambda: sum(len(d) for d in _table().values()) >= n_rs, timeout, step=1.0)
        out["startup_full_table_s"] = full
        if full is None:
            out["error"] = f"the table never held {n_rs} destinations within {timeout:.0f} s"
            return out
        time.sleep(5)  # a first round of checks on every real server
        log.flush()
        n0 = _removals(work / f"{name}.log")
        time.sleep(baseline)
        n1 = _removals(work / f"{name}.log")
        out["baseline_window_s"] = baseline
        out["removed_in_baseline"] = n1 - n0
        before = _table()
        child = int(checkers_pid.read_text().split()[0])
        trace = work / f"{name}.strace"
        argv = ["strace", "-f", "-yy", "-s", "65535", "-e", "trace=sendmsg,sendto", "-o", str(trace), "-p", str(child)]
        strace = subprocess.Popen(argv, stderr=subprocess.DEVNULL) if trace_writes else None
        time.sleep(2)  # attached
        conf.write_text(base + _added_vs())
        t_hup = time.monotonic()
        os.kill(proc.pid, signal.SIGHUP)
        added = _wait(lambda: len(_table().get(NEW_VS, {})) == 3, timeout)
        out["reload_to_new_vs_in_kernel_s"] = added
        # the reload's end as the daemon logs it (both say "Reload finished in N usec"), then whatever else it writes
        out["reload_to_finished_line_s"] = (time.monotonic() - t_hup) if _wait(
            lambda: _lines(work / f"{name}.log", b"Reload finished") > 0, 120.0, step=0.5) is not None else None
        time.sleep(3)
        out["reload_window_s"] = time.monotonic() - t_hup
        with contextlib.suppress(OSError, ValueError):  # the checker child's peak RSS, and the guest's memory
            now = int(checkers_pid.read_text().split()[0])
            out["checker_pid_changed"] = now != child
            status = Path(f"/proc/{now}/status").read_text()
            out["checker_peak_rss_mib"] = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) // 1024  # type: ignore[union-attr]
        out["removed_in_reload_window"] = _removals(work / f"{name}.log") - n1
        if strace is not None:
            strace.send_signal(signal.SIGINT)
            strace.wait(30)
        lines = trace.read_text(errors="replace").splitlines() if strace is not None else []
        writes = [ln for ln in lines if _NETLINK_WRITE.match(ln)]
        out["ipvs_write_calls"] = len(writes)  # ours batches requests: several per sendmsg
        out["ipvs_writes"] = sum(max(1, ln.count("nlmsg_len=")) for ln in writes)  # requests, as strace decodes them
        kinds: dict[str, int] = {}
        for ln in lines:
            m = _CALL.match(ln)
            if m:
                kinds[f"{m.group(1)} {m.group(2)}"] = kinds.get(f"{m.group(1)} {m.group(2)}", 0) + 1
        out["traced_calls"] = kinds
        after = _table()
        out["old_dests_kept"] = sum(1 for vs, d in before.items() for k in d if k in after.get(vs, {}))
        out["old_dests"] = sum(len(d) for d in before.values())
        out["wall_s"] = time.monotonic() - t_start
        return out
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
        return out
    finally:
        if strace is not None and strace.poll() is None:
            strace.kill()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        subprocess.run(["ipvsadm", "-C"], check=False)
        kernel = subprocess.run(["dmesg"], capture_output=True, text=True, check=False).stdout.splitlines()
        out["kernel_oom"] = [ln[-160:] for ln in kernel if "Out of memory" in ln or "oom-kill" in ln][-4:]
        said = (work / f"{name}.log").read_bytes().splitlines()  # what the daemon said of the reload
        out["reload_log"] = [ln.decode(errors="replace").rstrip()[-200:] for ln in said
                             if any(w in ln for w in _NOTABLE)][-12:]


def measure(payload: dict[str, Any]) -> dict[str, Any]:
    """The guest side (inside a kernel with IPVS): both checker processes, one after the other."""
    work = Path("/tmp/bench-reload")
    work.mkdir(exist_ok=True)
    _raise_nofile()
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "route", "add", "local", "172.16.0.0/16", "dev", "lo"], check=True)
    lst = subprocess.Popen([sys.executable, "-m", "bench.bench_reload", "listener"])
    try:
        n_vs, n_rs = int(payload["vs"]), int(payload["rs"])
        base = generate_config(n_vs, n_rs, int(payload.get("delay_loop", 10)))
        out: dict[str, Any] = {"vs": n_vs, "rs": n_rs}
        for name in payload["sides"]:
            subprocess.run(["ipvsadm", "-C"], check=False)
            out[name] = _side(name, work / "keepalived.conf", base, work, n_rs, float(payload["timeout"]),
                              bool(payload.get("trace", True)), float(payload.get("baseline", 60.0)))
        return out
    finally:
        lst.send_signal(signal.SIGTERM)
        lst.wait(10)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["listener"]:
        listener()
        return 0
    p = argparse.ArgumentParser(prog="python -m bench.bench_reload")
    p.add_argument("--vs", type=int, default=N_VS)
    p.add_argument("--rs", type=int, default=N_RS)
    p.add_argument("--timeout", type=float, default=900.0, help="per step and side (s)")
    p.add_argument("--keepalived-first", action="store_true")
    p.add_argument("--mem", default="1536M", help="the UML guest's memory")
    p.add_argument("--sides", default="ours,keepalived", help="which checkers, in order (default: ours,keepalived)")
    p.add_argument("--no-strace", action="store_true",
                   help="time the reload without strace attached (strace -p stops the tracee at every syscall, which "
                        "slows a checker running thousands of probes; no write counts then)")
    p.add_argument("--delay-loop", type=int, default=10, help="every virtual server's delay_loop (s; the file's: 10)")
    p.add_argument("--baseline", type=float, default=60.0,
                   help="seconds of checker churn counted before the SIGHUP, to tell the load's from the reload's")
    p.add_argument("--json", action="store_true")
    ns = p.parse_args(args)
    if ns.delay_loop < 1 or ns.baseline < 0:
        p.error("--delay-loop must be >= 1 and --baseline >= 0")
    if shutil.which("strace") is None:
        print("bench_reload: needs strace (apt-get install strace)", file=sys.stderr)
        return 1
    from netns_lab.uml import IPVS_MODULES, run_in_kernel

    sides = tuple(x for x in ns.sides.split(",") if x)
    if set(sides) - {"ours", "keepalived"} or not sides:
        p.error(f"--sides {ns.sides}: use ours and/or keepalived")
    if ns.keepalived_first:
        sides = tuple(sorted(sides, key=lambda x: x != "keepalived"))
    payload = {"vs": ns.vs, "rs": ns.rs, "timeout": ns.timeout, "sides": sides, "trace": not ns.no_strace,
               "delay_loop": ns.delay_loop, "baseline": ns.baseline}
    map_count = int(MAX_MAP_COUNT.read_text())
    if map_count < WANT_MAP_COUNT:
        print(f"bench_reload: vm.max_map_count {map_count} -> {WANT_MAP_COUNT} for the run (UML's host mappings)",
              file=sys.stderr)
        MAX_MAP_COUNT.write_text(str(WANT_MAP_COUNT))
    try:
        run = run_in_kernel("bench.bench_reload:measure", payload, modules=IPVS_MODULES,
                            timeout=4 * ns.timeout + 2 * ns.baseline + 300, mem=ns.mem)
    finally:
        if map_count < WANT_MAP_COUNT:
            MAX_MAP_COUNT.write_text(str(map_count))
    r = run.result
    if ns.json:
        print(json.dumps({"kernel": run.kernel, **r}, indent=1))
        return 0
    print(f"reload adding one VS to {r['vs']} VS / {r['rs']} RS, {run.kernel}")
    keys = sorted({k for s in sides for k in r[s]})
    print(f"{'':30} {'ours':>14} {'keepalived':>14}")
    for k in keys:
        print(f"{k:30} {r.get('ours', {}).get(k)!s:>14} {r.get('keepalived', {}).get(k)!s:>14}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
