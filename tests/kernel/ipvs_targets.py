"""IPVS targets that kernel-tier tests run inside a kernel with IPVS (``netns_lab.uml.run_in_kernel``).

A plain module (not a test file) because the guest imports it by name in a fresh interpreter. Every namespace a
target creates carries a unique prefix and is removed in ``finally``; the kernel instance dies afterwards anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from netns_lab.uml import IPVS_MODULES

#: every scheduler module the UML kernel ships (twos needs Linux 6.2+, so it is absent in 6.1)
IPVS_ALL_MODULES: tuple[str, ...] = (
    *IPVS_MODULES, "ip_vs_fo", "ip_vs_ovf", "ip_vs_lblc", "ip_vs_lblcr", "ip_vs_pe_sip", "dummy",
)
IPVSADM = shutil.which("ipvsadm") or "/usr/sbin/ipvsadm"
KERNEL_SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh")


def sh(*argv: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command; a failure raises with its stderr in the message."""
    proc = subprocess.run(list(argv), capture_output=True, text=True, input=input, timeout=60)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


@contextlib.contextmanager
def ipvs_netns(tag: str = "ipvs") -> Iterator[str]:
    """A fresh namespace whose routing makes every unicast address a valid destination (a default route via a
    dummy link), as on a real director; removed on exit."""
    name = f"{tag}{uuid.uuid4().hex[:8]}"
    sh("ip", "netns", "add", name)
    try:
        ns = ("ip", "-n", name)
        sh(*ns, "link", "set", "lo", "up")
        sh(*ns, "link", "add", "dummy0", "type", "dummy")
        sh(*ns, "link", "set", "dummy0", "up")
        sh(*ns, "addr", "add", "192.0.2.1/24", "dev", "dummy0")
        sh(*ns, "-6", "addr", "add", "2001:db8:ffff::1/64", "dev", "dummy0", "nodad")
        sh(*ns, "route", "add", "default", "dev", "dummy0")
        sh(*ns, "-6", "route", "add", "default", "dev", "dummy0")
        yield name
    finally:
        sh("ip", "netns", "del", name, check=False)


def ipvsadm(netns: str, *args: str, input: str | None = None, check: bool = True) -> str:
    return sh("ip", "netns", "exec", netns, IPVSADM, *args, input=input, check=check).stdout


def smoke(_payload: Any) -> Any:
    """Add a few services with our backend and read them back with ipvsadm and with our backend."""
    from ipvs.model import Destination, Forward, Service, ServiceKey
    from ipvs.netlink import KernelBackend

    async def run(ns: str) -> Any:
        b = KernelBackend(ns)
        k = ServiceKey.inet(6, "10.0.0.100", 80)
        await b.add_service(Service(k, scheduler="rr"))
        await b.add_dest(k, Destination.of("10.0.0.21", 80, weight=3))
        await b.add_dest(k, Destination.of("10.0.0.22", 8080, forward=Forward.DR, weight=0,
                                            u_threshold=10, l_threshold=5))
        k6 = ServiceKey.inet(6, "fd00::100", 443)
        await b.add_service(Service(k6, scheduler="sh", flags=0x1 | 0x8, timeout=60, netmask=64))
        await b.add_dest(k6, Destination.of("fd00::21", 443, weight=2))
        await b.add_service(Service(ServiceKey.mark(7), scheduler="wlc", flags=1, timeout=360,
                                    netmask=0xFFFFFF00))
        await b.add_dest(ServiceKey.mark(7), Destination.of("10.0.0.23", 0, forward=Forward.TUNNEL))
        errs = []
        for coro in (b.add_service(Service(k)), b.delete_dest(k, Destination.of("1.2.3.4", 1).key)):
            try:
                await coro
            except OSError as e:
                errs.append([e.errno, str(e)])
        table = await b.list_services()
        info = await b.get_info()
        t = await b.get_timeouts()
        await b.close()
        return {"table": repr(table), "errs": errs, "info": repr(info), "t": repr(t),
                "ln": ipvsadm(ns, "-Ln"), "save": ipvsadm(ns, "-S", "-n")}

    with ipvs_netns() as ns:
        return asyncio.run(run(ns))


# -- table comparison helpers ------------------------------------------------------------------------------


def table_config(services: Any) -> dict[str, Any]:
    """A comparable view of a table: configuration only (no counters, no order)."""
    out: dict[str, Any] = {}
    for s in services:
        out[repr(s.service.key)] = (
            repr(s.service),
            sorted(repr(d.dest) for d in s.dests),
        )
    return out


# -- differential: memory backend vs kernel ----------------------------------------------------------------


def differential(payload: dict[str, Any]) -> Any:
    """Random add/edit/delete sequences on both backends: same errnos op by op, same final table."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from ipvs.errors import IPVSError
    from ipvs.memory import MemoryBackend
    from ipvs.netlink import KernelBackend
    from tests.kernel.ipvs_strategies import op_sequences

    stats = {"examples": 0, "ops": 0, "errors": {}}

    with ipvs_netns("ipvsd") as ns:
        kernel = KernelBackend(ns)

        @settings(max_examples=int(payload.get("examples", 100)), deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), derandomize=bool(payload.get("derandomize")))
        @given(op_sequences(), st.booleans())
        def check(ops: Any, batched: bool) -> None:
            async def go() -> None:
                await kernel.flush()
                memory = MemoryBackend(schedulers=KERNEL_SCHEDULERS)
                if batched:
                    k_res = await kernel.apply_batch(ops)
                    m_res = await memory.apply_batch(ops)
                else:
                    k_res, m_res = [], []
                    for op in ops:
                        k_res += await kernel.apply_batch([op])
                        m_res += await memory.apply_batch([op])
                for op, kr, mr in zip(ops, k_res, m_res, strict=True):
                    ke = kr.errno if isinstance(kr, IPVSError) else 0
                    me = mr.errno if isinstance(mr, IPVSError) else 0
                    assert ke == me, f"{op}: kernel errno {ke}, memory errno {me}"
                    if ke:
                        stats["errors"][str(ke)] = stats["errors"].get(str(ke), 0) + 1
                k_table = table_config(await kernel.list_services())
                m_table = table_config(await memory.list_services())
                assert k_table == m_table, f"tables differ:\nkernel {k_table}\nmemory {m_table}"
                stats["examples"] += 1
                stats["ops"] += len(ops)

            asyncio.run(go())

        check()
        asyncio.run(kernel.close())
    return stats


# -- ipvsadm formats: pyipvsadm vs ipvsadm on the same kernel table ----------------------------------------

LIST_VARIANTS: tuple[tuple[str, ...], ...] = (
    ("-Ln",), ("-Ln", "--stats"), ("-S", "-n"), ("-Ln", "--rate"), ("-Ln", "--thresholds"),
    ("-Ln", "--persistent-conn"), ("-Ln", "--stats", "--exact"),
)


def ipvsadm_expressible(table: Any) -> Any:
    """Adjust a valid table to what ipvsadm itself can create, so ``-S`` output replays with ``-R``: DR and
    tunnel destinations of address services use the service port, one-packet only on UDP, no zero ports on
    non-persistent services, persistence timeouts of at least 1 s."""
    from ipvs.model import F_ONEPACKET, F_PERSISTENT, F_SCHED3, DesiredService, Forward

    out = []
    for d in table:
        svc = d.service
        flags, timeout = svc.flags, svc.timeout
        if svc.key.protocol != 17 or svc.key.fwmark:
            flags &= ~F_ONEPACKET
        if not svc.key.fwmark and svc.key.port == 0:
            flags |= F_PERSISTENT
        if flags & F_PERSISTENT:
            timeout = max(timeout, 1)
        if svc.scheduler in ("sh", "mh"):
            flags &= ~F_SCHED3  # ipvsadm -S prints no name for it, so -R cannot replay it
        dests = {}
        for dest in d.dests:
            if not svc.key.fwmark and dest.forward in (Forward.DR, Forward.TUNNEL, Forward.LOCAL):
                dest = dest.with_(key=dest.key.__class__(dest.key.af, dest.key.addr, svc.key.port))
            dests.setdefault(dest.key, dest)
        out.append(DesiredService(svc.with_(flags=flags, timeout=timeout), tuple(dests.values())))
    return out


async def pyipvsadm(backend: Any, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    import io

    from ipvs.cli import Streams, run

    out, err = io.StringIO(), io.StringIO()
    rc = await run(list(argv), backend, Streams(io.StringIO(stdin), out, err))
    return rc, out.getvalue(), err.getvalue()


def formats(payload: dict[str, Any]) -> Any:
    """pyipvsadm's -Ln / --stats / -S -n (and more) are byte-identical to ipvsadm's on random tables, and
    ``pyipvsadm -R`` replays ``ipvsadm -S -n`` into the same table."""
    from hypothesis import HealthCheck, Phase, given, settings

    from ipvs.netlink import KernelBackend
    from ipvs.ops import Op
    from tests.kernel.ipvs_strategies import desired_tables

    stats = {"examples": 0, "services": 0, "dests": 0}
    with ipvs_netns("ipvsf") as ns:
        kernel = KernelBackend(ns)

        @settings(max_examples=int(payload.get("examples", 40)), deadline=None, database=None,
                  suppress_health_check=list(HealthCheck),
                  phases=[Phase.generate] if payload.get("noshrink") else list(Phase))
        @given(desired_tables(max_services=8, max_dests=6))
        def check(table: Any) -> None:
            table = ipvsadm_expressible(table)

            async def go() -> None:
                await kernel.flush()
                ops = []
                for d in table:
                    ops.append(Op.add_service(d.service))
                    ops.extend(Op.add_dest(d.key, dest) for dest in d.dests)
                res = await kernel.apply_batch(ops)
                assert not any(res), [str(r) for r in res if r]
                for argv in LIST_VARIANTS:
                    want = ipvsadm(ns, *argv)
                    rc, got, err = await pyipvsadm(kernel, *argv)
                    assert rc == 0, err
                    assert got == want, f"pyipvsadm {' '.join(argv)} differs:\n--- ipvsadm\n{want}--- ours\n{got}"
                saved = ipvsadm(ns, "-S", "-n")
                await kernel.flush()
                rc, _, err = await pyipvsadm(kernel, "-R", stdin=saved)
                assert rc == 0, err
                again = ipvsadm(ns, "-S", "-n")
                # same rules; the order may differ: ipvsadm's comparators are not a total order, so its sort
                # depends on the kernel's listing order, which follows insertion order
                assert sorted(again.splitlines()) == sorted(saved.splitlines()), (
                    f"pyipvsadm -R did not reproduce:\n{saved}---\n{again}")
                stats["examples"] += 1
                stats["services"] += len(table)
                stats["dests"] += sum(len(d.dests) for d in table)

            asyncio.run(go())

        check()
        # the console script itself, once, on the last table
        cli = sh(sys.executable, "-m", "ipvs.cli", "--netns", ns, "-Ln").stdout
        assert cli == ipvsadm(ns, "-Ln"), cli
        asyncio.run(kernel.close())
    return stats


# -- sync engine: any actual table -> any desired table, minimal operations, foreign services untouched ----


def sync_converges(payload: dict[str, Any]) -> Any:
    """From a random actual table (ours plus foreign services) to a random desired table: exactly the minimal
    number of writes, foreign services byte-for-byte untouched, and a second sync writes nothing."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    from ipvs.memory import MemoryBackend
    from ipvs.model import DesiredService, ServiceKey
    from ipvs.netlink import KernelBackend
    from ipvs.ops import Op
    from ipvs.sync import SyncEngine, SyncPolicy
    from tests.kernel.ipvs_strategies import FWMARKS, desired_tables, expected_writes, service_keys

    ours_keys = service_keys.filter(lambda k: k.fwmark in FWMARKS[:2] or k.addr.startswith(("10.", "fd00")))
    foreign_keys = service_keys.filter(lambda k: not (k.fwmark in FWMARKS[:2]
                                                       or k.addr.startswith(("10.", "fd00"))))
    stats = {"examples": 0, "writes": 0}

    with ipvs_netns("ipvss") as ns:
        kernel = KernelBackend(ns)

        @settings(max_examples=int(payload.get("examples", 40)), deadline=None, database=None,
                  suppress_health_check=list(HealthCheck),
                  phases=[Phase.generate] if payload.get("noshrink") else list(Phase))
        @given(desired_tables(ours_keys), desired_tables(ours_keys), desired_tables(foreign_keys, max_services=3),
               st.booleans())
        def check(actual: Any, desired: Any, foreign: Any, via_memory: bool) -> None:
            async def go() -> None:
                await kernel.flush()
                memory = MemoryBackend(schedulers=KERNEL_SCHEDULERS)
                setup = []
                for d in actual + foreign:
                    setup.append(Op.add_service(d.service))
                    setup.extend(Op.add_dest(d.key, x) for x in d.dests)
                for b in (kernel, memory):
                    res = await b.apply_batch(setup)
                    assert not any(res), [str(r) for r in res if r]
                foreign_before = table_config([s for s in await kernel.list_services()
                                               if s.key in {f.key for f in foreign}])
                want = expected_writes(desired, actual)
                for backend in ((kernel, memory) if via_memory else (kernel,)):
                    engine = SyncEngine(backend, SyncPolicy())
                    engine.owned = {d.key for d in actual}
                    result = await engine.sync(desired, now=0.0)
                    assert result.ok, [str(e) for _, e in result.errors]
                    assert result.writes == want, (result.writes, want, [str(o) for o in result.planned])
                    again = await engine.sync(desired, now=1.0)
                    assert again.writes == 0, [str(o) for o in again.planned]
                after = await kernel.list_services()
                foreign_after = table_config([s for s in after if s.key in {f.key for f in foreign}])
                assert foreign_after == foreign_before
                ours_after = table_config([s for s in after if s.key not in {f.key for f in foreign}])
                assert ours_after == table_config(
                    [type("S", (), {"service": d.service, "dests": [type("D", (), {"dest": x})() for x in d.dests]})()
                     for d in desired])
                if via_memory:
                    assert table_config(await memory.list_services()) == table_config(after)
                # targeted reads and a targeted sync of one changed service
                for s in after:
                    got = await kernel.get_service(s.key)
                    assert got is not None and table_config([got]) == table_config([s])
                assert await kernel.get_service(ServiceKey.mark(12345)) is None
                changed = next((d for d in desired if d.dests), None)
                if changed is not None:
                    first = changed.dests[0]
                    bumped = DesiredService(changed.service, (first.with_(weight=first.weight + 1),
                                                              *changed.dests[1:]))
                    engine = SyncEngine(kernel)
                    engine.owned = {d.key for d in desired}
                    res = await engine.sync_changed([bumped], [changed.key], now=2.0)
                    assert res.ok and res.writes == 1, [str(o) for o in res.planned]
                    now = await kernel.get_service(changed.key)
                    assert now is not None and first.with_(weight=first.weight + 1) in [d.dest for d in now.dests]
                stats["examples"] += 1
                stats["writes"] += want

            asyncio.run(go())

        check()
        asyncio.run(kernel.close())
    return stats


# -- real TCP traffic through NAT and DR services ---------------------------------------------------------

_SERVER = r"""
import socket, sys
name = sys.argv[1].encode()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080))
s.listen(256)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    try:
        c.sendall(name)
    finally:
        c.close()
"""

_CLIENT = r"""
import json, socket, sys, time
vip, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sources = sys.argv[4].split(",") if len(sys.argv) > 4 and sys.argv[4] else [""]
seen = []
for i in range(n):
    src = sources[i % len(sources)]
    for attempt in range(50):
        try:
            c = socket.socket()
            c.settimeout(3)
            if src:
                c.bind((src, 0))
            c.connect((vip, port))
            data = c.recv(64).decode()
            c.close()
            if data:
                break
        except OSError:
            c.close()
        time.sleep(0.1)
    else:
        raise SystemExit(f"no answer from {vip}:{port} (connection {i})")
    seen.append([src, data])
print(json.dumps(seen))
"""


class _Net:
    """Namespaces, bridges and veths for the traffic test, all under one unique prefix, removed by close()."""

    def __init__(self) -> None:
        self.prefix = f"iv{uuid.uuid4().hex[:6]}"
        self.namespaces: list[str] = []
        self.procs: list[subprocess.Popen[bytes]] = []

    def ns(self, name: str) -> str:
        full = f"{self.prefix}{name}"
        sh("ip", "netns", "add", full)
        self.namespaces.append(full)
        sh("ip", "-n", full, "link", "set", "lo", "up")
        return full

    def bridge(self, name: str) -> str:
        ns = self.ns(name)
        sh("ip", "-n", ns, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", ns, "link", "set", "br0", "up")
        return ns

    def plug(self, host_ns: str, ifname: str, bridge_ns: str, addrs: list[str]) -> None:
        port = f"p{uuid.uuid4().hex[:8]}"
        # made inside the bridge namespace: on a host kernel with IPVS, a failure never leaves a link in ours
        sh("ip", "-n", bridge_ns, "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", host_ns)
        sh("ip", "-n", bridge_ns, "link", "set", port, "master", "br0", "up")
        sh("ip", "-n", host_ns, "link", "set", ifname, "up")
        for a in addrs:
            sh("ip", "-n", host_ns, "addr", "add", a, "dev", ifname)

    def start(self, ns: str, code: str, *args: str) -> subprocess.Popen[bytes]:
        p = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", code, *args],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.procs.append(p)
        assert p.stdout is not None
        assert p.stdout.readline().strip() == b"ready"
        return p

    def close(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()
        for ns in reversed(self.namespaces):
            sh("ip", "netns", "del", ns, check=False)


def _client(ns: str, vip: str, port: int, n: int, sources: list[str] | None = None) -> list[list[str]]:
    import json

    out = sh("ip", "netns", "exec", ns, sys.executable, "-c", _CLIENT, vip, str(port), str(n),
             ",".join(sources or [])).stdout
    result: list[list[str]] = json.loads(out)
    return result


def traffic(payload: dict[str, Any]) -> Any:
    """NAT (rr, wrr) and DR (rr, sh) services programmed by our sync engine, real TCP connections from a
    client namespace; returns which real server answered each connection."""
    from ipvs.model import DesiredService, Destination, Forward, Service, ServiceKey
    from ipvs.netlink import KernelBackend
    from ipvs.sync import SyncEngine

    n = int(payload.get("connections", 120))
    net = _Net()
    try:
        front, back = net.bridge("fr"), net.bridge("bk")
        client, lb = net.ns("cl"), net.ns("lb")
        net.plug(client, "eth0", front, ["10.0.0.10/24"] + [f"10.0.0.{50 + i}/24" for i in range(8)])
        sh("ip", "-n", client, "route", "add", "default", "via", "10.0.0.1")
        net.plug(lb, "eth0", front, ["10.0.0.1/24", "10.0.0.100/24", "10.0.0.200/24"])
        net.plug(lb, "eth1", back, ["10.0.1.1/24"])
        sh("ip", "netns", "exec", lb, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        sh("ip", "netns", "exec", lb, "sysctl", "-qw", "net.ipv4.vs.conntrack=1", check=False)
        nat_rs, dr_rs = [], []
        for i in (1, 2, 3):  # NAT real servers behind the director, default route through it
            rs = net.ns(f"n{i}")
            net.plug(rs, "eth0", back, [f"10.0.1.2{i}/24"])
            sh("ip", "-n", rs, "route", "add", "default", "via", "10.0.1.1")
            net.start(rs, _SERVER.replace('print("ready"', 'print("ready"'), f"nat{i}")
            nat_rs.append(f"10.0.1.2{i}")
        for i in (1, 2, 3):  # DR real servers on the client's segment, VIP on lo, never answering ARP for it
            rs = net.ns(f"d{i}")
            for key in ("arp_ignore=1", "arp_announce=2"):
                for dev in ("all", "default"):
                    sh("ip", "netns", "exec", rs, "sysctl", "-qw", f"net.ipv4.conf.{dev}.{key}")
            sh("ip", "-n", rs, "addr", "add", "10.0.0.200/32", "dev", "lo")
            net.plug(rs, "eth0", front, [f"10.0.0.3{i}/24"])
            net.start(rs, _SERVER, f"dr{i}")
            dr_rs.append(f"10.0.0.3{i}")

        def nat_dests(weights: list[int]) -> tuple[Destination, ...]:
            return tuple(Destination.of(a, 8080, forward=Forward.NAT, weight=w)
                         for a, w in zip(nat_rs, weights, strict=True))

        def dr_dests() -> tuple[Destination, ...]:
            return tuple(Destination.of(a, 8080, forward=Forward.DR) for a in dr_rs)

        nat_key = ServiceKey.inet(6, "10.0.0.100", 80)
        dr_key = ServiceKey.inet(6, "10.0.0.200", 8080)
        results: dict[str, Any] = {}

        async def program(nat_sched: str, weights: list[int], dr_sched: str) -> int:
            backend = KernelBackend(lb)
            try:
                engine = SyncEngine(backend)
                engine.owned = {nat_key, dr_key}
                res = await engine.sync([
                    DesiredService(Service(nat_key, scheduler=nat_sched), nat_dests(weights)),
                    DesiredService(Service(dr_key, scheduler=dr_sched), dr_dests()),
                ], now=0.0)
                assert res.ok, [str(e) for _, e in res.errors]
                return res.writes
            finally:
                await backend.close()

        results["writes_initial"] = asyncio.run(program("rr", [1, 1, 1], "rr"))
        results["nat_rr"] = _client(client, "10.0.0.100", 80, n)
        results["dr_rr"] = _client(client, "10.0.0.200", 8080, n)
        results["writes_wrr_sh"] = asyncio.run(program("wrr", [1, 2, 3], "sh"))
        results["nat_wrr"] = _client(client, "10.0.0.100", 80, n)
        sources = [f"10.0.0.{50 + i}" for i in range(8)]
        results["dr_sh"] = _client(client, "10.0.0.200", 8080, 6 * len(sources), sources)
        time.sleep(2.5)  # Linux 6.1 folds the per-CPU counters into the reported ones every 2 s
        results["ipvsadm_stats"] = ipvsadm(lb, "-Ln", "--stats")

        async def our_stats() -> str:
            backend = KernelBackend(lb)
            try:
                return (await pyipvsadm(backend, "-Ln", "--stats"))[1]
            finally:
                await backend.close()

        results["pyipvsadm_stats"] = asyncio.run(our_stats())
        return results
    finally:
        net.close()


# -- sync daemons and the connection table ------------------------------------------------------------------


DAEMON_SCRIPT: tuple[tuple[str, ...], ...] = (
    # (ipvsadm arguments...) run by both ipvsadm and pyipvsadm on their own table, in this order
    ("--stop-daemon", "master"),
    ("--start-daemon", "master", "--mcast-interface", "dummy0", "--syncid", "7"),
    ("--start-daemon", "master", "--mcast-interface", "dummy0", "--syncid", "8"),
    ("--start-daemon", "backup", "--mcast-interface", "nosuch0", "--syncid", "7"),
    ("--start-daemon", "backup", "--mcast-interface", "dummy0", "--syncid", "9", "--sync-maxlen", "100",
     "--mcast-group", "239.1.2.3", "--mcast-port", "9000", "--mcast-ttl", "3"),
    ("--stop-daemon", "master"),
    ("--stop-daemon", "master"),
    ("--start-daemon", "master", "--mcast-interface", "lo", "--syncid", "255", "--sync-maxlen", "70000"),
    ("--start-daemon", "master", "--mcast-interface", "dummy0", "--mcast-group", "ff02::1:2"),
    ("--stop-daemon", "backup"),
    ("--start-daemon", "backup", "--mcast-interface", "lo", "--sync-maxlen", "200"),
)


def sync_daemons(_payload: Any) -> Any:
    """Every step of DAEMON_SCRIPT: ipvsadm on the kernel, pyipvsadm on the kernel (another namespace) and
    pyipvsadm on the memory oracle exit alike, and ``-L --daemon`` prints the same bytes everywhere."""
    from ipvs.memory import MemoryBackend
    from ipvs.netlink import KernelBackend

    steps = []
    with ipvs_netns("ipvsy") as theirs, ipvs_netns("ipvsy") as ours:
        kernel = KernelBackend(ours)
        memory = MemoryBackend(schedulers=KERNEL_SCHEDULERS, interfaces={"lo": 65536, "dummy0": 1500})

        async def go() -> None:
            for argv in DAEMON_SCRIPT:
                want = sh("ip", "netns", "exec", theirs, IPVSADM, *argv, check=False)
                k_rc, _, k_err = await pyipvsadm(kernel, *argv)
                m_rc, _, m_err = await pyipvsadm(memory, *argv)
                listing = ipvsadm(theirs, "-L", "--daemon")
                _, k_list, _ = await pyipvsadm(kernel, "-L", "--daemon")
                _, m_list, _ = await pyipvsadm(memory, "-L", "--daemon")
                steps.append({"argv": list(argv), "ipvsadm": [want.returncode, want.stderr.strip(), listing],
                              "kernel": [k_rc, k_err.strip(), k_list], "memory": [m_rc, m_err.strip(), m_list]})

        asyncio.run(go())
        asyncio.run(kernel.close())
    return steps


def connections(payload: dict[str, Any]) -> Any:
    """Real connections through a NAT service (netns_lab.lvslab: the director is this namespace): pyipvsadm -Lnc
    prints what ipvsadm -Lnc prints (the expiry counts down, so ours must equal one of two ipvsadm reads taken
    around it)."""
    from ipvs.model import Destination, Service, ServiceKey
    from ipvs.netlink import KernelBackend
    from netns_lab.lvslab import VIP, LvsLab, rs_addr

    async def go(lab: LvsLab) -> Any:
        b = KernelBackend()
        key = ServiceKey.inet(6, VIP, 80)
        await b.add_service(Service(key, scheduler="rr"))
        for i in (1, 2):
            await b.add_dest(key, Destination.of(rs_addr(i), 80, weight=1))
            await asyncio.to_thread(lab.start, i)
        log = Path("/tmp/lvs-conns.log")
        lab.start_client(log, interval=0.05)
        async with asyncio.timeout(30):
            while not log.exists() or len(log.read_text().splitlines()) < int(payload.get("requests", 20)):
                await asyncio.sleep(0.1)
        lab.stop_client()
        out = {}
        for argv in (("-Lnc",), ("-Lnc", "--persistent-conn")):
            tries = []
            for _ in range(10):
                before = sh(IPVSADM, *argv).stdout
                _, got, _ = await pyipvsadm(b, *argv)
                after = sh(IPVSADM, *argv).stdout
                tries.append([before, got, after])
                if got in (before, after):
                    break
            out[" ".join(argv)] = tries
        await b.close()
        return out

    with LvsLab(servers=2) as lab:
        return asyncio.run(go(lab))


def sync_daemons_and_connections(payload: dict[str, Any]) -> Any:
    """Both of the above in one boot."""
    return {"daemons": sync_daemons(payload), "connections": connections(payload)}
