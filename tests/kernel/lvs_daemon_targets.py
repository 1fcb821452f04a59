"""Kernel targets that run the real ``pykeepalived`` daemon (watchdog + VRRP child + checker child, from one
keepalived.conf) inside a kernel with IPVS (``netns_lab.uml.run_in_kernel``), in namespaces built by
``netns_lab.lab.Lab`` and started by ``netns_lab.daemons``. A plain module, imported by name in the guest.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from netns_lab.daemons import Daemon, DaemonSpec, start_daemon
from netns_lab.lab import Lab
from netns_lab.topology import Host, Link, Route, Switch, Topology
from netns_lab.waiting import wait_until

VIP, GATEWAY, RS = "10.5.0.100", "10.6.0.1", "10.6.0.2"
SYNC_ID = 7
#: the real server's health port: the stream server answers one connection at a time, so checks go elsewhere
HEALTH_PORT = 81


def pair_topology() -> Topology:
    """client -- front -- lb1, lb2 -- back -- rs (NAT: the real server routes back through the VRRP gateway)."""
    forwarding = {"net.ipv4.ip_forward": "1"}
    return Topology(
        name="lvs-pair",
        hosts=[Host("client"), Host("lb1", sysctls=forwarding), Host("lb2", sysctls=forwarding),
               Host("rs", routes=[Route("default", GATEWAY)])],
        switches=[Switch("front"), Switch("back")],
        links=[
            Link("client", "front", "eth0", ["10.5.0.2/24"]),
            Link("lb1", "front", "eth0", ["10.5.0.11/24"]),
            Link("lb2", "front", "eth0", ["10.5.0.12/24"]),
            Link("lb1", "back", "eth1", ["10.6.0.11/24"]),
            Link("lb2", "back", "eth1", ["10.6.0.12/24"]),
            Link("rs", "back", "eth0", [f"{RS}/24"]),
        ],
    )


def director_config(name: str, priority: int) -> str:
    """One director: the VRRP instance owning the VIP and the real server's gateway, the sync daemon following
    it on the back LAN, and the NAT virtual server."""
    return f"""global_defs {{
    router_id {name}
    lvs_sync_daemon eth1 VI_1 id {SYNC_ID}
}}
vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority {priority}
    advert_int 1
    virtual_ipaddress {{
        {VIP}/32 dev eth0
        {GATEWAY}/24 dev eth1
    }}
}}
virtual_server {VIP} 80 {{
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server {RS} 80 {{
        TCP_CHECK {{
            connect_port {HEALTH_PORT}
            connect_timeout 2
        }}
    }}
}}
"""


def _daemons(lab: Lab, host: str) -> list[dict[str, Any]]:
    """The sync daemons running in ``host``'s namespace, read back over generic netlink."""
    from ipvs.netlink import KernelBackend

    async def read() -> list[dict[str, Any]]:
        backend = KernelBackend(lab.netns(host))
        try:
            return [{"state": d.state_name, "ifn": d.mcast_ifn, "syncid": d.syncid}
                    for d in await backend.list_daemons()]
        finally:
            await backend.close()

    return asyncio.run(read())


def _listing(lab: Lab, host: str, *args: str) -> str:
    """What ``pyipvsadm ARGS`` (ipvsadm's formats, our genetlink client) prints in ``host``."""
    return lab.exec(host, [str(Path(sys.executable).with_name("pyipvsadm")), *args], check=False).stdout


def _packets(lab: Lab, host: str) -> tuple[int, int]:
    """Packets in (client -> real server) and out (the replies) of the director's IPVS service (ipvsadm
    --stats): traffic flows through it both ways."""
    from ipvs.model import ServiceKey
    from ipvs.netlink import KernelBackend

    async def read() -> tuple[int, int]:
        backend = KernelBackend(lab.netns(host))
        try:
            for s in await backend.list_services():
                if s.service.key == ServiceKey.inet(6, VIP, 80):
                    return int(s.stats.inpkts), int(s.stats.outpkts)
            return 0, 0
        finally:
            await backend.close()

    return asyncio.run(read())


def _delta(now: tuple[int, int], before: tuple[int, int]) -> list[int]:
    return [now[0] - before[0], now[1] - before[1]]


def _wait_master(d: Daemon, after: int, timeout: float) -> float | None:
    """When (monotonic) ``d`` logged its next 'Entering MASTER STATE' after its ``after`` transitions."""

    def seen() -> bool:
        return any(t.state == "MASTER" for t in d.transitions()[after:])

    return time.monotonic() if wait_until(seen, timeout, 0.02) else None


def _wait_roles(lab: Lab, want: dict[str, list[str]], timeout: float) -> dict[str, list[str]]:
    last: dict[str, list[str]] = {}

    def check() -> bool:
        nonlocal last
        last = {h: [d["state"] for d in _daemons(lab, h)] for h in want}
        return last == want

    wait_until(check, timeout, 0.1)
    return last


def sync_daemon_failover(payload: dict[str, Any]) -> dict[str, Any]:
    """Two directors running ``pykeepalived`` (VRRP + LVS + lvs_sync_daemon); a long-lived TCP stream through the
    VIP; SIGKILL of lb1's whole daemon (parent and children: a crash, nothing cleaned up).  Measured: the stream's
    bytes, gaps and error around the switch, the sync daemons in each namespace at each step, and whose IPVS
    carried the traffic (both ways: the new master announces the real servers' gateway VIP on the back LAN, so
    the replies follow it too); at the end lb2 stops cleanly and its sync daemon with it."""
    before, after = float(payload.get("before", 3)), float(payload.get("after", 4))
    out: dict[str, Any] = {}
    with Lab(pair_topology()) as lab:
        stream_out = lab.log_dir / "stream.json"
        lab.start("rs", [sys.executable, "-m", "netns_lab.lvslab", "stream-server", "80"], name="stream-server")
        lab.start("rs", [sys.executable, "-m", "netns_lab.lvslab", "serve", RS, str(HEALTH_PORT), "rs"],
                  name="health")
        lb1 = start_daemon(lab, DaemonSpec("lb1", director_config("lb1", 150), vrrp_only=False), wait=True,
                           timeout=30)
        lb2 = start_daemon(lab, DaemonSpec("lb2", director_config("lb2", 100), vrrp_only=False), wait=True,
                           timeout=30)
        try:
            if _wait_master(lb1, 0, 20) is None:
                raise TimeoutError(f"lb1 did not become MASTER\n{lb1.log_tail()}")
            out["roles_start"] = _wait_roles(lab, {"lb1": ["master"], "lb2": ["backup"]}, 15)
            out["daemon_listing_lb1"] = _listing(lab, "lb1", "-L", "--daemon")
            out["daemon_listing_lb2"] = _listing(lab, "lb2", "-L", "--daemon")
            # both checker children have put the real server in (the stream needs it on lb2 at the switch)
            for host in ("lb1", "lb2"):
                if not wait_until(lambda h=host: RS in _listing(lab, h, "-Ln"), 20, 0.1):  # type: ignore[misc]
                    raise TimeoutError(f"{host}: the real server never entered the table")
            seconds = before + after + 8.0  # the switch (VRRP's master-down time, ~3.6 s) and the after fit inside
            client = lab.start("client", [sys.executable, "-m", "netns_lab.lvslab", "stream-client", VIP, "80",
                                          str(seconds), str(stream_out)], name="stream-client")
            if not wait_until(lambda: Path(str(stream_out) + ".started").exists(), 20, 0.05):
                raise TimeoutError("the stream did not start")
            time.sleep(before)
            out["lb2_connections_before"] = _listing(lab, "lb2", "-Lnc")
            lb2_before = _packets(lab, "lb2")
            n2 = len(lb2.transitions())
            out["killed"] = time.monotonic()
            lb1.kill()  # SIGKILL to the daemon's process group: watchdog and both children
            master2 = _wait_master(lb2, n2, 15)
            out["lb2_master_after_s"] = None if master2 is None else master2 - out["killed"]
            out["roles_after_kill"] = _wait_roles(lab, {"lb2": ["master"]}, 10)
            out["lb1_after_kill"] = [d["state"] for d in _daemons(lab, "lb1")]  # a crash cleans nothing up
            time.sleep(after)
            out["lb2_packets"] = _delta(_packets(lab, "lb2"), lb2_before)
            client.wait(seconds + 30)
            stream = json.loads(stream_out.read_text())
            per = stream.pop("per_100ms")
            out.update(stream)
            out["per_100ms"] = per
            lb2.stop(10)
            out["lb2_after_stop"] = [d["state"] for d in _daemons(lab, "lb2")]  # stopped at exit
            out["lb2_log"] = lb2.log()[-4000:]
            out["lb1_log"] = lb1.log()[-4000:]
        finally:
            for d in (lb1, lb2):
                if d.running():
                    d.stop(10)
    return out


# -- reload (SIGHUP) of the checker child under traffic ----------------------------------------------------------

def reload_config(*, extra_service: bool = False, broken: bool = False) -> str:
    """The lab's VIP:80 over real servers 1-3 (TCP_CHECK), and optionally VIP:8080 over 1-2."""
    from netns_lab.lvslab import VIP as LAB_VIP
    from netns_lab.lvslab import rs_addr

    def real(i: int) -> str:
        return f"""    real_server {rs_addr(i)} 80 {{
        TCP_CHECK {{
            connect_timeout 2
        }}
    }}
"""

    def service(port: int, servers: tuple[int, ...]) -> str:
        body = "".join(real(i) for i in servers)
        return (f"virtual_server {LAB_VIP} {port} {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n"
                f"    protocol TCP\n{body}}}\n")

    text = service(80, (1, 2, 3)) + (service(8080, (1, 2)) if extra_service else "")
    # broken: an HTTP_GET without a url block, which cannot run (refused with its file and line)
    return text + (f"virtual_server {LAB_VIP} 81 {{\n    real_server {rs_addr(1)} 80 {{\n        HTTP_GET {{\n"
                   f"            connect_timeout 2\n        }}\n    }}\n}}\n" if broken else "")


def _table() -> dict[str, dict[str, int]]:
    """Service -> destination -> connections it has ever taken (a destination deleted and added again starts
    from 0: a count that never goes down means the entry was never touched)."""
    from ipvs.netlink import KernelBackend

    async def read() -> dict[str, dict[str, int]]:
        backend = KernelBackend()
        try:
            return {f"{s.service.key.addr}:{s.service.key.port}":
                    {f"{d.dest.key.addr}:{d.dest.key.port}": int(d.stats.conns) for d in s.dests}
                    for s in await backend.list_services()}
        finally:
            await backend.close()

    return asyncio.run(read())


def reload_under_traffic(payload: dict[str, Any]) -> dict[str, Any]:
    """``pykeepalived -C -n -f FILE`` as the director, a client GET every 20 ms through the VIP; SIGHUP ``n``
    times with the file unchanged; then a SIGHUP adding VIP:8080, one removing it, one with a broken file.
    Recorded: the table (with each destination's connection count) around every step, the daemon's own account
    of each reload, the client's requests."""
    from netns_lab.daemons import LocalDaemon
    from netns_lab.lvslab import LvsLab, read_client_log

    n = int(payload.get("n", 20))
    work = Path("/tmp/lvs-reload")
    out: dict[str, Any] = {}
    with LvsLab(servers=3) as lab:
        for i in (1, 2, 3):
            lab.start(i)
        daemon = LocalDaemon(work / "run", reload_config(), "-C").start()
        try:
            if not daemon.wait_log(r"(?m)success\.$", 3, 30):
                raise TimeoutError(f"the checks did not all pass once:\n{daemon.log()[-3000:]}")
            if not wait_until(lambda: len(_table().get("10.1.0.100:80", {})) == 3, 20, 0.1):
                raise TimeoutError("the table never held the three real servers")
            lab.start_client(work / "client.log")
            time.sleep(1.0)
            out["table_before"] = _table()
            out["sighup_start"] = time.monotonic()
            for k in range(n):  # one at a time: each applied before the next (the serialization has its own test)
                daemon.signal(1)
                if not daemon.wait_log(r"Reload complete", k + 1, 15):
                    raise TimeoutError(f"reload {k + 1} did not complete:\n{daemon.log()[-3000:]}")
                time.sleep(0.05)
            out["sighup_end"] = time.monotonic()
            time.sleep(0.5)
            out["table_after_unchanged"] = _table()
            steps = (("added", reload_config(extra_service=True)), ("removed", reload_config()),
                     ("broken", reload_config(broken=True)))
            for name, text in steps:
                daemon.conf_path.write_text(text)
                done = len(re.findall(r"Reload complete|Reload failed", daemon.log()))
                daemon.signal(1)
                if not daemon.wait_log(r"Reload complete|Reload failed", done + 1, 15):
                    raise TimeoutError(f"reload '{name}' did not finish:\n{daemon.log()[-3000:]}")
                time.sleep(1.5)  # a new service's checks run once and its servers come in
                out[f"table_{name}"] = _table()
            lab.stop_client()
            out["exit"] = daemon.stop()
        finally:
            lab.stop_client()
            daemon.stop()
        out["client"] = [(r.t, r.ok, r.what) for r in read_client_log(work / "client.log")]
        log = daemon.log()
        out["reload_lines"] = re.findall(r"Reload: [^\n]*", log)
        out["errors"] = [line for line in log.splitlines() if "keepalived.conf:" in line or "Reload failed" in line]
        out["removing"] = re.findall(r"Removing Virtual Server [^\n]*", log)
        out["table_after_exit"] = _table()
    return out
