"""Kernel targets that run the real ``pykeepalived`` daemon (watchdog + VRRP child + checker child, from one
keepalived.conf) inside a kernel with IPVS (``netns_lab.uml.run_in_kernel``), in namespaces built by
``netns_lab.lab.Lab`` and started by ``netns_lab.daemons``. A plain module, imported by name in the guest.
"""

from __future__ import annotations

import asyncio
import json
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
