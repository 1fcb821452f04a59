"""LVS targets run inside a kernel with IPVS (``netns_lab.uml.run_in_kernel``): our daemon's checker process
(``pykeepalived -C -n -f FILE``: the watchdog and its checker child, ``netns_lab.daemons.LocalDaemon``) keeps the
director's real IPVS table while a client sends steady traffic through it (``netns_lab.lvslab``). A plain
module, imported by name in the guest.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

from netns_lab.lvslab import SORRY_INDEX, VIP, LvsLab, read_client_log, rs_addr

#: the checker timing of the outage scenario; the bound on detection is keepalived's
#: delay_loop + (retry + 1) * connect_timeout + retry * delay_before_retry
DELAY_LOOP, CONNECT_TIMEOUT, RETRY, DELAY_BEFORE_RETRY = 1, 1, 1, 1
BOUND = DELAY_LOOP + (RETRY + 1) * CONNECT_TIMEOUT + RETRY * DELAY_BEFORE_RETRY


def outage_config(quorum_marker: Path) -> str:
    timing = (f"connect_timeout {CONNECT_TIMEOUT}\n            retry {RETRY}\n"
              f"            delay_before_retry {DELAY_BEFORE_RETRY}")
    return f"""
virtual_server {VIP} 80 {{
    delay_loop {DELAY_LOOP}
    lb_algo rr
    lb_kind NAT
    protocol TCP
    quorum 1
    quorum_down "/usr/bin/touch {quorum_marker}"
    sorry_server {rs_addr(SORRY_INDEX)} 80
    real_server {rs_addr(1)} 80 {{
        HTTP_GET {{
            url {{
                path /
                status_code 200
            }}
            {timing}
        }}
    }}
    real_server {rs_addr(2)} 80 {{
        TCP_CHECK {{
            {timing}
        }}
    }}
    real_server {rs_addr(3)} 80 {{
        inhibit_on_failure
        TCP_CHECK {{
            {timing}
        }}
    }}
}}
"""


def _dests(services: Any) -> dict[str, int]:
    """addr -> weight of every destination of the VIP's service."""
    out: dict[str, int] = {}
    for s in services:
        if s.service.key.addr == VIP:
            for d in s.dests:
                out[d.dest.key.addr] = d.dest.weight
    return out


#: a check's first success, in keepalived's words (TCP_CHECK's and HTTP_GET's)
FIRST_SUCCESS = r"(?m)(success\.|succeed on service\.)$"


def outage(payload: dict[str, Any]) -> Any:
    """Stop rs1, start it, stop all: when each change reaches the kernel's table and what the client saw.
    The director is the real daemon, ``pykeepalived -C -n -f FILE`` (the watchdog and its checker child)."""
    from ipvs.netlink import KernelBackend
    from netns_lab.daemons import LocalDaemon

    work = Path("/tmp/lvs-outage")
    work.mkdir(exist_ok=True)
    marker = work / "quorum-down"
    settle = float(payload.get("settle", 3.0))
    timeline: list[tuple[float, dict[str, int]]] = []  # (monotonic time, table) at each change

    async def watch(backend: KernelBackend) -> None:
        last: dict[str, int] | None = None
        while True:
            now = _dests(await backend.list_services())
            if now != last:
                timeline.append((time.monotonic(), now))
                last = now
            await asyncio.sleep(0.02)

    def first_time(after: float, cond: Any) -> float | None:
        for t, table in timeline:
            if t >= after and cond(table):
                return t - after
        return None

    async def until(cond: Any, limit: float = 30.0) -> None:
        async with asyncio.timeout(limit):
            while not (timeline and cond(timeline[-1][1])):
                await asyncio.sleep(0.02)

    async def go(lab: LvsLab) -> dict[str, Any]:
        for i in (1, 2, 3, SORRY_INDEX):
            await asyncio.to_thread(lab.start, i)
        daemon = LocalDaemon(work / "run", outage_config(marker), "-C").start()
        watcher = asyncio.create_task(watch(KernelBackend()))
        out: dict[str, Any] = {"bound": BOUND}
        try:
            await until(lambda t: set(t) == {rs_addr(1), rs_addr(2), rs_addr(3)})
            # every check has run once (the first HTTP_GET imports httpx)
            if not await asyncio.to_thread(daemon.wait_log, FIRST_SUCCESS, 3, 30):
                raise TimeoutError(f"the checks did not all pass once:\n{daemon.log()[-3000:]}")
            lab.start_client(work / "client.log")
            await asyncio.sleep(settle)
            # 1. one real server stops
            stopped = await asyncio.to_thread(lab.stop, 1)
            await until(lambda t: rs_addr(1) not in t)
            out["stop1"] = stopped
            out["removed1"] = first_time(stopped, lambda t: rs_addr(1) not in t)
            await asyncio.sleep(settle)
            # 2. it comes back
            await asyncio.to_thread(lab.start, 1)
            started = time.monotonic()
            await until(lambda t: rs_addr(1) in t)
            out["start1"] = started
            out["returned1"] = first_time(started, lambda t: rs_addr(1) in t)
            await asyncio.sleep(settle)
            # 3. all stop: sorry server, quorum_down, rs3 inhibited at weight 0
            all_down = time.monotonic()
            for i in (1, 2, 3):
                await asyncio.to_thread(lab.stop, i)
            await until(lambda t: rs_addr(SORRY_INDEX) in t and rs_addr(1) not in t and rs_addr(2) not in t
                        and t.get(rs_addr(3)) == 0)
            out["all_down"] = all_down
            out["sorry_in"] = first_time(all_down, lambda t: rs_addr(SORRY_INDEX) in t)
            async with asyncio.timeout(10):
                while not marker.exists():
                    await asyncio.sleep(0.05)
            out["quorum_down_ran"] = True
            await asyncio.sleep(settle)
            out["final_table"] = timeline[-1][1]
        finally:
            lab.stop_client()
            out["exit"] = await asyncio.to_thread(daemon.stop)
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        out["timeline"] = [(round(t, 3), table) for t, table in timeline]
        out["client"] = [(r.t, r.ok, r.what) for r in read_client_log(work / "client.log")]
        out["log"] = daemon.log()[-6000:]
        out["table_after_exit"] = _dests(await KernelBackend().list_services())
        return out

    with LvsLab(servers=3) as lab:
        return asyncio.run(go(lab))


# -- interop: keepalived's checker process and ours end with the same table -----------------------------------

def interop_config() -> str:
    """Two virtual servers over the lab's real servers 1-3 and the sorry server: weights, a dead server with
    and without inhibit_on_failure, persistence, quorum lost to a sorry server, HTTP_GET and TCP_CHECK."""
    check = "connect_timeout 1\n            retry 1\n            delay_before_retry 1"
    return f"""
global_defs {{
    router_id interop
}}
virtual_server {VIP} 80 {{
    delay_loop 1
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    real_server {rs_addr(1)} 80 {{
        weight 3
        TCP_CHECK {{
            {check}
        }}
    }}
    real_server {rs_addr(2)} 80 {{
        weight 2
        HTTP_GET {{
            url {{
                path /
                status_code 200
            }}
            {check}
        }}
    }}
    real_server {rs_addr(3)} 80 {{
        weight 1
        inhibit_on_failure
        HTTP_GET {{
            url {{
                path /
                status_code 200
            }}
            {check}
        }}
    }}
}}
virtual_server {VIP} 443 {{
    delay_loop 1
    lb_algo wlc
    lb_kind NAT
    protocol TCP
    persistence_timeout 120
    quorum 6
    sorry_server {rs_addr(SORRY_INDEX)} 80
    real_server {rs_addr(2)} 80 {{
        inhibit_on_failure
        TCP_CHECK {{
            {check}
        }}
    }}
    real_server {rs_addr(3)} 80 {{
        weight 5
        TCP_CHECK {{
            {check}
        }}
    }}
}}
"""


def _settled_listing(minimum: float, stable: float, limit: float = 40.0) -> str:
    """``ipvsadm -Ln`` once it has not changed for ``stable`` seconds, and not before ``minimum`` seconds."""
    import subprocess

    start = time.monotonic()
    last, since = "", time.monotonic()
    while True:
        now_text = subprocess.run(["ipvsadm", "-Ln"], capture_output=True, text=True, check=True).stdout
        now = time.monotonic()
        if now_text != last:
            last, since = now_text, now
        elif now - start >= minimum and now - since >= stable:
            return last
        if now - start > limit:
            raise TimeoutError(f"the IPVS table did not settle in {limit} s:\n{last}")
        time.sleep(0.1)


def interop(payload: dict[str, Any]) -> Any:
    """The same config and the same live (1, 3, sorry) and dead (2) real servers under keepalived -C and under
    our checker process (both as daemons: ``-C -n -f FILE``, the same flags): the IPVS tables they settle on, as
    ipvsadm -Ln prints them."""
    import subprocess

    from netns_lab.daemons import Impl, LocalDaemon

    work = Path("/tmp/lvs-interop")
    work.mkdir(exist_ok=True)
    minimum, stable = float(payload.get("minimum", 6.0)), float(payload.get("stable", 3.0))

    def run(impl: Impl, name: str) -> dict[str, Any]:
        """One checker process (``-C``, keepalived's or ours, the same flags) until the table settles."""
        daemon = LocalDaemon(work / name, interop_config(), "-C", impl=impl).start()
        try:
            # both log this once their table is set up (a Python start inside UML takes seconds)
            if not daemon.wait_log("Activating healthchecker for service", 1, 60):
                raise TimeoutError(f"{impl} did not start its checks:\n{daemon.log()[-3000:]}")
            table = _settled_listing(minimum, stable)
        finally:
            status = daemon.stop()
        return {"table": table, "log": daemon.log()[-3000:], "exit": status,
                "after": subprocess.run(["ipvsadm", "-Ln"], capture_output=True, text=True).stdout}

    out: dict[str, Any] = {}
    with LvsLab(servers=3) as lab:
        for live in ((1, 3, SORRY_INDEX), (2, SORRY_INDEX)):
            for i in (1, 2, 3, SORRY_INDEX):
                if i in live:
                    lab.start(i)
                elif i in lab.procs:
                    lab.stop(i)
            name = "live " + ",".join(f"rs{i}" for i in live)
            subprocess.run(["ipvsadm", "-C"], check=True)
            out[name] = {"keepalived": run("keepalived", f"ka-{len(out)}")}
            subprocess.run(["ipvsadm", "-C"], check=True)
            out[name]["ours"] = run("pykeepalived", f"ours-{len(out)}")
    return out


# -- connection sync: an established stream survives the director's death -------------------------------------

def _ns_sh(ns: str, *argv: str) -> None:
    import subprocess

    proc = subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=30)
    if proc.returncode:
        raise RuntimeError(f"{ns}: {' '.join(argv)}: {proc.stderr.strip()}")


def sync_failover(payload: dict[str, Any]) -> Any:
    """Two directors with the same NAT service, A running the master sync daemon and B the backup (our
    Backend.start_daemon over netlink); a client stream through the VIP on A; A dies (its links go down, as a
    SIGKILLed director's VRRP falls silent) and the VIP and the back-side gateway move to B with a gratuitous
    ARP. With sync the stream keeps flowing through B; ``sync`` False shows the contrast (B resets it)."""
    import subprocess
    import sys
    import uuid

    from ipvs.model import STATE_BACKUP, STATE_MASTER, Destination, Service, ServiceKey, SyncDaemon
    from ipvs.netlink import KernelBackend
    from netns_lab.lvslab import garp
    from netns_lab.nsenter import call_in_netns

    tag = uuid.uuid4().hex[:5]
    c, a, b, r = (f"sy{n}{tag}" for n in "cabr")
    bridges = [f"syf{tag}", f"syb{tag}"]
    procs: list[subprocess.Popen[bytes]] = []
    work = Path("/tmp/lvs-syncfo")
    work.mkdir(exist_ok=True)
    result: dict[str, Any] = {}

    def sh(*argv: str) -> None:
        subprocess.run(list(argv), check=True, capture_output=True, timeout=30)

    try:
        for br in bridges:
            sh("ip", "link", "add", br, "type", "bridge")
            Path(f"/sys/class/net/{br}/bridge/multicast_snooping").write_text("0\n")
            sh("ip", "link", "set", br, "up")
        for ns in (c, a, b, r):
            sh("ip", "netns", "add", ns)
            _ns_sh(ns, "ip", "link", "set", "lo", "up")
        n = 0

        def plug(ns: str, br: str, ifname: str, addr: str) -> None:
            nonlocal n
            n += 1
            host = f"sy{tag}{n}"
            sh("ip", "link", "add", host, "type", "veth", "peer", "name", ifname, "netns", ns)
            sh("ip", "link", "set", host, "master", br, "up")
            _ns_sh(ns, "ip", "addr", "add", addr, "dev", ifname)
            _ns_sh(ns, "ip", "link", "set", ifname, "up")

        plug(c, bridges[0], "eth0", "10.5.0.2/24")
        plug(a, bridges[0], "eth0", "10.5.0.11/24")
        plug(b, bridges[0], "eth0", "10.5.0.12/24")
        plug(a, bridges[1], "eth1", "10.6.0.11/24")
        plug(b, bridges[1], "eth1", "10.6.0.12/24")
        plug(r, bridges[1], "eth0", "10.6.0.2/24")
        _ns_sh(r, "ip", "route", "add", "default", "via", "10.6.0.1")
        for d in (a, b):
            _ns_sh(d, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        _ns_sh(a, "ip", "addr", "add", "10.5.0.100/32", "dev", "eth0")
        _ns_sh(a, "ip", "addr", "add", "10.6.0.1/24", "dev", "eth1")

        async def program() -> None:
            key = ServiceKey.inet(6, "10.5.0.100", 80)
            for d, state in ((a, STATE_MASTER), (b, STATE_BACKUP)):
                kb = KernelBackend(d)
                await kb.add_service(Service(key, scheduler="rr"))
                await kb.add_dest(key, Destination.of("10.6.0.2", 80, weight=1))
                if payload.get("sync", True):
                    await kb.start_daemon(SyncDaemon(state, "eth1", 7))
                await kb.close()

        asyncio.run(program())
        lvslab = (sys.executable, "-m", "netns_lab.lvslab")
        procs.append(subprocess.Popen(["ip", "netns", "exec", r, *lvslab, "stream-server", "80"]))
        time.sleep(1.0)
        out = work / f"stream-{tag}.json"
        seconds = float(payload.get("seconds", 12))
        procs.append(subprocess.Popen(["ip", "netns", "exec", c, *lvslab, "stream-client", "10.5.0.100", "80",
                                       str(seconds), str(out)]))
        deadline = time.monotonic() + 20
        while not Path(str(out) + ".started").exists():
            if time.monotonic() > deadline:
                raise TimeoutError("the stream did not start")
            time.sleep(0.05)
        time.sleep(float(payload.get("before", 3)))
        result["b_connections_before"] = subprocess.run(
            ["ip", "netns", "exec", b, "ipvsadm", "-Lnc"], capture_output=True, text=True).stdout
        # A dies; B takes the VIP and the gateway and announces them (as VRRP would)
        killed = time.monotonic()
        _ns_sh(a, "ip", "link", "set", "eth0", "down")
        _ns_sh(a, "ip", "link", "set", "eth1", "down")
        _ns_sh(b, "ip", "addr", "add", "10.5.0.100/32", "dev", "eth0")
        _ns_sh(b, "ip", "addr", "add", "10.6.0.1/24", "dev", "eth1")
        call_in_netns(b, lambda: (garp("eth0", "10.5.0.100"), garp("eth1", "10.6.0.1")))
        procs[-1].wait(timeout=seconds + 30)
        stream = json.loads(out.read_text())
        per = stream.pop("per_100ms")
        result.update(stream)
        result["killed"] = killed
        result["bytes_before"] = sum(n for t, n in per if t / 10 < killed)
        result["bytes_after"] = sum(n for t, n in per if t / 10 >= killed)
        result["seconds_before"] = killed - per[0][0] / 10 if per else 0.0
        result["seconds_after"] = stream["t_end"] - killed
        after = [t / 10 for t, _ in per if t / 10 >= killed]
        result["first_data_after_s"] = (after[0] - killed) if after else None
        result["last_data_after_s"] = (after[-1] - killed) if after else None
        result["b_connections_after"] = subprocess.run(
            ["ip", "netns", "exec", b, "ipvsadm", "-Lnc"], capture_output=True, text=True).stdout
        result["b_daemons"] = subprocess.run(
            ["ip", "netns", "exec", b, "ipvsadm", "-L", "--daemon"], capture_output=True, text=True).stdout
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for ns in (c, a, b, r):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
        for br in bridges:
            subprocess.run(["ip", "link", "del", br], check=False, capture_output=True)
    return result


def sync_failover_both(payload: dict[str, Any]) -> Any:
    """With and without the sync daemon, in one boot."""
    return {"sync": sync_failover({**payload, "sync": True}), "nosync": sync_failover({**payload, "sync": False})}
