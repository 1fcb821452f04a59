"""An LVS lab inside one kernel with IPVS: the caller's namespace is the director, a client namespace sends
steady HTTP traffic to the VIP, and each real server (and the sorry server) is a namespace running a real HTTP
server process that can be stopped and started.

Addresses (all inside namespaces this lab made, torn down on exit): client link 10.1.0.0/24 (director .1, client
.2, VIP 10.1.0.100 on the director), real server ``i`` on 10.2.i.0/24 (director .1, server .2, default route via
the director, as NAT needs). Namespace names carry a unique prefix so parallel labs never collide.

Run pieces as processes: ``python -m netns_lab.lvslab serve ADDR PORT NAME`` (an HTTP server answering NAME),
``python -m netns_lab.lvslab client ADDR PORT INTERVAL OUT`` (one GET per INTERVAL, one JSON line per request:
monotonic start time, ok, the answering server's name or the error), ``stream-server PORT`` (1 kB every 10 ms to
each connection), ``stream-client ADDR PORT SECONDS OUT`` (one long-lived connection: bytes per 100 ms, longest
gap, the error that ended it) and ``garp IFNAME ADDR`` (gratuitous ARP, as VRRP sends when it takes an address).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["VIP", "ClientRecord", "LvsLab", "garp", "read_client_log", "rs_addr"]

VIP = "10.1.0.100"
CLIENT_ADDR = "10.1.0.2"
SORRY_INDEX = 9


def rs_addr(i: int) -> str:
    """The address of real server ``i`` (the sorry server is ``SORRY_INDEX``)."""
    return f"10.2.{i}.2"


def _sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


@dataclass(frozen=True)
class ClientRecord:
    """One client request: when it started (CLOCK_MONOTONIC, shared by every process of the kernel), whether a
    full answer came back, and the answering server's name or the error."""

    t: float
    ok: bool
    what: str


def read_client_log(path: Path) -> list[ClientRecord]:
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError, KeyError):
            d = json.loads(line)
            out.append(ClientRecord(float(d["t"]), bool(d["ok"]), str(d["what"])))
    return out


@dataclass
class LvsLab:
    """Namespaces and processes of one lab; use as a context manager (everything is removed on exit)."""

    servers: int = 3
    port: int = 80
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    client: subprocess.Popen[bytes] | None = None
    namespaces: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)

    @property
    def client_ns(self) -> str:
        return f"lvc{self.tag}"

    def rs_ns(self, i: int) -> str:
        return f"lvr{self.tag}{i}"

    def __enter__(self) -> LvsLab:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _link(self, ns: str, here: str, there_addr: str, here_addr: str) -> None:
        _sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        _sh("ip", "link", "add", here, "type", "veth", "peer", "name", "eth0", "netns", ns)
        self.links.append(here)
        _sh("ip", "addr", "add", f"{here_addr}/24", "dev", here)
        _sh("ip", "link", "set", here, "up")
        n = ("ip", "-n", ns)
        _sh(*n, "link", "set", "lo", "up")
        _sh(*n, "addr", "add", f"{there_addr}/24", "dev", "eth0")
        _sh(*n, "link", "set", "eth0", "up")
        _sh(*n, "route", "add", "default", "via", here_addr)

    def _build(self) -> None:
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
        self._link(self.client_ns, f"lvc{self.tag}", CLIENT_ADDR, "10.1.0.1")
        _sh("ip", "addr", "add", f"{VIP}/32", "dev", f"lvc{self.tag}")
        for i in [*range(1, self.servers + 1), SORRY_INDEX]:
            self._link(self.rs_ns(i), f"lvr{self.tag}{i}", rs_addr(i), f"10.2.{i}.1")

    def start(self, i: int) -> None:
        """Start real server ``i``'s HTTP server (answering ``rs<i>``) and wait until it accepts."""
        if i in self.procs:
            return
        self.procs[i] = subprocess.Popen(
            ["ip", "netns", "exec", self.rs_ns(i), sys.executable, "-m", "netns_lab.lvslab", "serve", rs_addr(i),
             str(self.port), f"rs{i}"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection((rs_addr(i), self.port), timeout=0.5):
                return
            if time.monotonic() > deadline or self.procs[i].poll() is not None:
                raise RuntimeError(f"real server {i} did not start")
            time.sleep(0.05)

    def stop(self, i: int) -> float:
        """Stop real server ``i`` (SIGKILL: the port closes at once); return the monotonic time of the kill."""
        proc = self.procs.pop(i)
        t = time.monotonic()
        proc.kill()
        proc.wait(timeout=10)
        return t

    def start_client(self, out: Path, interval: float = 0.02) -> None:
        self.client = subprocess.Popen(
            ["ip", "netns", "exec", self.client_ns, sys.executable, "-m", "netns_lab.lvslab", "client", VIP,
             str(self.port), str(interval), str(out)], stdin=subprocess.DEVNULL)

    def stop_client(self) -> None:
        if self.client is not None:
            self.client.send_signal(signal.SIGTERM)
            try:
                self.client.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.client.kill()
                self.client.wait()
            self.client = None

    def close(self) -> None:
        self.stop_client()
        for i in list(self.procs):
            with contextlib.suppress(Exception):
                self.stop(i)
        for link in self.links:
            _sh("ip", "link", "del", link, check=False)
        for ns in self.namespaces:
            _sh("ip", "netns", "del", ns, check=False)
        self.links.clear()
        self.namespaces.clear()


# -- the processes ---------------------------------------------------------------------------------------------


def _serve(addr: str, port: int, name: str) -> None:
    from netns_lab.servers import Route, http_server

    async def go() -> None:
        async with http_server(addr, {"/": Route(200, name.encode())}, port=port):
            await asyncio.Event().wait()

    asyncio.run(go())


def _get(addr: str, port: int, timeout: float) -> tuple[bool, str]:
    try:
        with socket.create_connection((addr, port), timeout=timeout) as s:
            s.sendall(f"GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(4096):
                data += chunk
    except OSError as exc:
        return False, type(exc).__name__
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        return False, head[:40].decode("latin-1") or "empty"
    return True, body.decode("latin-1")


def _client(addr: str, port: int, interval: float, out: str) -> None:
    stop = False

    def on_term(_sig: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    with open(out, "a", buffering=1) as f:
        nxt = time.monotonic()
        while not stop:
            t = time.monotonic()
            ok, what = _get(addr, port, 1.0)
            f.write(json.dumps({"t": round(t, 4), "ok": ok, "what": what}) + "\n")
            nxt = max(nxt + interval, time.monotonic())
            time.sleep(max(0.0, nxt - time.monotonic()))


def _stream_server(port: int) -> None:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(16)
    while True:
        conn, _ = srv.accept()
        try:
            while True:
                conn.sendall(b"x" * 1000)
                time.sleep(0.01)
        except OSError:
            conn.close()


def _stream_client(addr: str, port: int, seconds: float, out: str) -> None:
    s = socket.create_connection((addr, port), timeout=5)
    s.settimeout(0.5)
    got, gap, error, last, per = 0, 0.0, "", time.monotonic(), dict[int, int]()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data = s.recv(65536)
        except TimeoutError:
            continue
        except OSError as exc:
            error = type(exc).__name__
            break
        now = time.monotonic()
        if not data:
            error = "closed"
            break
        if got:
            gap = max(gap, now - last)
        else:
            Path(out + ".started").write_text("1")
        last, got = now, got + len(data)
        per[int(now * 10)] = per.get(int(now * 10), 0) + len(data)
    Path(out).write_text(json.dumps({"bytes": got, "max_gap": gap, "error": error, "t_end": time.monotonic(),
                                     "per_100ms": sorted(per.items())}))


def garp(ifname: str, addr: str) -> None:
    """Announce ``addr`` on ``ifname`` (three gratuitous ARP replies), as VRRP does when it takes an address.
    Works from a thread inside another namespace (the MAC comes from the bound socket, not from /sys)."""
    ip = socket.inet_aton(addr)
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
        s.bind((ifname, 0))
        mac: bytes = s.getsockname()[4]
        arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 2, mac, ip, b"\xff" * 6, ip)
        for _ in range(3):
            s.send(b"\xff" * 6 + mac + b"\x08\x06" + arp)


def _main(argv: list[str]) -> int:
    match argv:
        case ["serve", addr, port, name]:
            _serve(addr, int(port), name)
        case ["client", addr, port, interval, out]:
            _client(addr, int(port), float(interval), out)
        case ["stream-server", port]:
            _stream_server(int(port))
        case ["stream-client", addr, port, seconds, out]:
            _stream_client(addr, int(port), float(seconds), out)
        case ["garp", ifname, addr]:
            garp(ifname, addr)
        case _:
            sys.stderr.write("usage: python -m netns_lab.lvslab serve ADDR PORT NAME | client ADDR PORT INTERVAL OUT"
                             " | stream-server PORT | stream-client ADDR PORT SECONDS OUT | garp IFNAME ADDR\n")
            return 2
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(_main(sys.argv[1:]))
