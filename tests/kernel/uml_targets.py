"""Functions that tests run inside a kernel with IPVS via ``netns_lab.uml.run_in_kernel``.

They live in a plain module (not a test file) because the guest imports them by name in a fresh interpreter.
Everything they create (namespaces, processes) carries a unique name and is removed in ``finally``: with IPVS
in the host kernel they run on the host itself, where nothing dies with an instance.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from typing import Any

_SERVER = r"""
import socket, sys
name = sys.argv[1].encode()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080))
s.listen(64)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    c.sendall(name)
    c.close()
"""

_CLIENT = r"""
import json, socket, sys, time
vip, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seen = []
deadline = time.monotonic() + 20
while True:  # wait until the service answers at all (servers may still be starting)
    try:
        with socket.create_connection((vip, port), timeout=2) as c:
            c.recv(64)
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.05)
time.sleep(0.2)
for _ in range(n):
    with socket.create_connection((vip, port), timeout=5) as c:
        data = b""
        while chunk := c.recv(64):
            data += chunk
    seen.append(data.decode())
print(json.dumps(seen))
"""


def _sh(*argv: str) -> str:
    done = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def _ns(ns: str, *argv: str) -> str:
    return _sh("ip", "netns", "exec", ns, *argv)


def ipvs_nat_round_robin(payload: dict[str, Any]) -> dict[str, Any]:
    """Client -> director (IPVS NAT, rr) -> two real servers, each in its own namespace; count who answered.

    client ns 10.1.0.2/24 --veth-- director 10.1.0.1/24 (VIP 10.1.0.100) ; director bridge 10.2.0.1/24
    --veth-- rs1 10.2.0.11/24 and rs2 10.2.0.12/24; real servers route back through the director (NAT
    needs that).
    """
    n = int(payload["connections"])
    # Unique names, removed in finally: in a host kernel with IPVS this runs on the host itself.
    tag = uuid.uuid4().hex[:6]
    c, d, r1, r2 = (f"u{tag}{name}" for name in ("c", "d", "r1", "r2"))
    made: list[str] = []
    servers: list[subprocess.Popen[str]] = []
    try:
        for ns in (c, d, r1, r2):
            _sh("ip", "netns", "add", ns)
            made.append(ns)
            _ns(ns, "ip", "link", "set", "lo", "up")
        _sh("ip", "-n", d, "link", "add", "d0", "type", "veth", "peer", "name", "c0", "netns", c)
        _ns(c, "ip", "addr", "add", "10.1.0.2/24", "dev", "c0")
        _ns(c, "ip", "link", "set", "c0", "up")
        _ns(c, "ip", "route", "add", "default", "via", "10.1.0.1")
        _ns(d, "ip", "addr", "add", "10.1.0.1/24", "dev", "d0")
        _ns(d, "ip", "addr", "add", "10.1.0.100/24", "dev", "d0")
        _ns(d, "ip", "link", "set", "d0", "up")
        _ns(d, "ip", "link", "add", "br0", "type", "bridge")
        _ns(d, "ip", "addr", "add", "10.2.0.1/24", "dev", "br0")
        _ns(d, "ip", "link", "set", "br0", "up")
        _ns(d, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        for i, rs in ((1, r1), (2, r2)):
            _sh("ip", "-n", d, "link", "add", f"p{i}", "type", "veth", "peer", "name", "eth0", "netns", rs)
            _ns(d, "ip", "link", "set", f"p{i}", "master", "br0")
            _ns(d, "ip", "link", "set", f"p{i}", "up")
            _ns(rs, "ip", "addr", "add", f"10.2.0.1{i}/24", "dev", "eth0")
            _ns(rs, "ip", "link", "set", "eth0", "up")
            _ns(rs, "ip", "route", "add", "default", "via", "10.2.0.1")
            servers.append(
                subprocess.Popen(
                    ["ip", "netns", "exec", rs, sys.executable, "-c", _SERVER, f"rs{i}"],
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        _ns(d, "ipvsadm", "-A", "-t", "10.1.0.100:80", "-s", "rr")
        _ns(d, "ipvsadm", "-a", "-t", "10.1.0.100:80", "-r", "10.2.0.11:8080", "-m")
        _ns(d, "ipvsadm", "-a", "-t", "10.1.0.100:80", "-r", "10.2.0.12:8080", "-m")
        for srv in servers:
            assert srv.stdout is not None
            srv.stdout.readline()  # "listening"
        started = time.monotonic()
        seen = json.loads(_ns(c, sys.executable, "-c", _CLIENT, "10.1.0.100", "80", str(n)))
        elapsed = time.monotonic() - started
        table = _ns(d, "ipvsadm", "-Ln", "--stats")
    finally:
        for srv in servers:
            srv.kill()
            srv.wait()
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
    return {"seen": seen, "ipvsadm": table, "seconds": elapsed, "release": os.uname().release}


def fail_with_traceback(payload: Any) -> None:
    """Raise from a nested call so the traceback has a recognisable frame."""
    print("target output before failing", flush=True)
    _nested_failure(payload)


def _nested_failure(payload: Any) -> None:
    raise ValueError(f"deliberate failure with payload {payload!r}")


def sleep_forever(payload: Any) -> None:
    """Outlive any timeout; the runner must kill the whole instance."""
    marker = payload["marker"] if payload else None
    if marker:
        print(marker, flush=True)
    while True:
        time.sleep(1)


def sleep_then_clean_up(payload: dict[str, str]) -> None:
    """Sleep past the timeout inside try/finally, as targets that create namespaces do; the finally block
    writes ``payload["done"]``, proving the runner's SIGTERM let it run (host kernel only)."""
    try:
        while True:
            time.sleep(1)
    finally:
        with open(payload["done"], "w") as f:
            f.write("cleaned up\n")


def echo(payload: Any) -> dict[str, Any]:
    return {
        "payload": payload,
        "pid": os.getpid(),
        "release": os.uname().release,
        "ipvs": os.path.exists("/proc/net/ip_vs"),
    }


def exit_with(payload: int) -> None:
    sys.exit(payload)


def lab_ipvs_nat_round_robin(payload: dict[str, Any]) -> dict[str, Any]:
    """The same NAT service, but the namespaces come from netns_lab's own Lab (pyroute2) inside this kernel.

    Topology: client on switch "front" (10.1.0.0/24), director on "front" and "back" (forwarding on), real
    servers rs1/rs2 on "back" (10.2.0.0/24) routing back through the director.
    """
    from netns_lab.lab import Lab
    from netns_lab.topology import Host, Link, Route, Switch, Topology

    n = int(payload["connections"])
    via_director = [Route("default", "10.2.0.1")]
    topology = Topology(
        name="ipvs-nat",
        hosts=[
            Host("client", routes=[Route("default", "10.1.0.1")]),
            Host("director", sysctls={"net.ipv4.ip_forward": "1"}),
            Host("rs1", routes=via_director),
            Host("rs2", routes=via_director),
        ],
        switches=[Switch("front"), Switch("back")],
        links=[
            Link("client", "front", "eth0", ["10.1.0.2/24"]),
            Link("director", "front", "eth0", ["10.1.0.1/24", "10.1.0.100/24"]),
            Link("director", "back", "eth1", ["10.2.0.1/24"]),
            Link("rs1", "back", "eth0", ["10.2.0.11/24"]),
            Link("rs2", "back", "eth0", ["10.2.0.12/24"]),
        ],
    )
    started = time.monotonic()
    with Lab(topology) as lab:
        built = time.monotonic() - started
        for i in (1, 2):
            lab.start(f"rs{i}", [sys.executable, "-c", _SERVER, f"rs{i}"], name="server")
        lab.exec("director", ["ipvsadm", "-A", "-t", "10.1.0.100:80", "-s", "rr"])
        for rip in ("10.2.0.11", "10.2.0.12"):
            lab.exec("director", ["ipvsadm", "-a", "-t", "10.1.0.100:80", "-r", f"{rip}:8080", "-m"])
        done = lab.exec("client", [sys.executable, "-c", _CLIENT, "10.1.0.100", "80", str(n)], timeout=60)
        table = lab.exec("director", ["ipvsadm", "-Ln", "--stats"]).stdout
    return {"seen": json.loads(done.stdout), "ipvsadm": table, "build_seconds": built}
