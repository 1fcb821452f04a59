"""Real servers and client workloads run inside lab hosts (``python -m netns_lab.workload ...``).

``serve``: answer TCP (one line per connection) or HTTP (any GET) with the host's name, on every address of the
host (``[::]``, v4 and v6), so a VIP added later is served too and every answer says who answered: a real
server, or the router holding the VIP when the service runs on the routers.

``client``: open a new connection to TARGET:PORT ``rate`` times a second (each request is independent: a slow
one never delays the next), and write one JSON line per request to ``--out`` when it finishes: start and end
(epoch seconds, the clock the rest of the lab uses), ok, who answered, and the error. HTTP goes through httpx.

:func:`read_requests` turns that file into :class:`~netns_lab.history.ClientRequest` records.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import BaseRequestHandler, ThreadingTCPServer
from typing import TYPE_CHECKING, Any

from netns_lab.history import ClientRequest

if TYPE_CHECKING:
    from netns_lab.lab import Lab
    from netns_lab.process import LabProcess

__all__ = ["WorkloadError", "client_argv", "main", "read_requests", "server_argv", "start_server"]

US = 1_000_000


# ------------------------------------------------------------------------------------------------ servers
class _DualStackTCP(ThreadingTCPServer):
    address_family = socket.AF_INET6
    allow_reuse_address = True
    daemon_threads = True

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


class _DualStackHTTP(ThreadingHTTPServer):
    address_family = socket.AF_INET6
    allow_reuse_address = True
    daemon_threads = True

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def serve(protocol: str, port: int, name: str) -> None:
    """Serve until SIGTERM; prints ``ready`` once listening."""
    reply = f"{name}\n".encode()

    class Line(BaseRequestHandler):
        def handle(self) -> None:
            with contextlib.suppress(OSError):
                self.request.settimeout(2)
                self.request.recv(1024)
                self.request.sendall(reply)

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server: _DualStackTCP | _DualStackHTTP
    server = _DualStackTCP(("::", port), Line) if protocol == "tcp" else _DualStackHTTP(("::", port), Page)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print("ready", flush=True)
    with server:
        server.serve_forever(poll_interval=0.2)


# ------------------------------------------------------------------------------------------------ client
async def _tcp_request(target: str, port: int, timeout: float) -> str:
    async def go() -> str:
        reader, writer = await asyncio.open_connection(target, port)
        try:
            writer.write(b"hello\n")
            await writer.drain()
            line = await reader.readline()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if not line:
            raise ConnectionError("closed without an answer")
        return line.decode(errors="replace").strip()

    return await asyncio.wait_for(go(), timeout)


async def _run_client(args: argparse.Namespace) -> None:
    import httpx

    out = open(args.out, "a", buffering=1)  # noqa: SIM115 (kept open for the whole run, line-buffered)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    host = f"[{args.target}]" if ":" in args.target else args.target
    url = f"http://{host}:{args.port}{args.path}"
    limits = httpx.Limits(max_keepalive_connections=0)
    pending: set[asyncio.Task[None]] = set()

    async with httpx.AsyncClient(limits=limits, timeout=args.timeout) as http:

        async def one() -> None:
            t = time.time()
            ok, server, error = False, None, ""
            try:
                if args.protocol == "tcp":
                    server = await _tcp_request(args.target, args.port, args.timeout)
                else:
                    resp = await http.get(url)
                    resp.raise_for_status()
                    server = resp.text.strip()
                ok = True
            except TimeoutError:
                error = "timed out"
            except (OSError, ConnectionError, httpx.HTTPError) as exc:
                error = type(exc).__name__ if not str(exc) else str(exc)[:80]
            out.write(json.dumps({"t": t, "done": time.time(), "ok": ok, "server": server, "error": error}) + "\n")

        print("ready", flush=True)
        start = time.monotonic()
        period = 1 / args.rate
        n = 0
        while not stop.is_set() and (args.duration <= 0 or time.monotonic() - start < args.duration):
            task = asyncio.create_task(one())
            pending.add(task)
            task.add_done_callback(pending.discard)
            n += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, start + n * period - time.monotonic()))
        if pending:
            await asyncio.wait(pending, timeout=args.timeout + 1)
    out.close()


def read_requests(path: Path, t0: float, *, client: str, target: str) -> list[ClientRequest]:
    """The requests a client wrote to ``path``, as history records (µs since ``t0``, epoch seconds)."""
    out = []
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill
        start, done = round((r["t"] - t0) * US), round((r["done"] - t0) * US)
        out.append(ClientRequest(start, done, client, target, bool(r["ok"]), r.get("server"), r.get("error", "")))
    return sorted(out, key=lambda r: r.t)


def server_argv(protocol: str, port: int, name: str) -> list[str]:
    """The command line of a server (run it in the host with ``lab.start``)."""
    return [sys.executable, "-m", "netns_lab.workload", "serve", protocol, str(port), name]


class WorkloadError(RuntimeError):
    """A server did not come up; the message has the tail of its log."""


def start_server(lab: Lab, host: str, protocol: str, port: int, *, timeout: float = 10) -> LabProcess:
    """Start a real server in ``host`` and return once it listens (it prints ``ready``)."""
    proc = lab.start(host, server_argv(protocol, port, host), name=f"server-{protocol}")
    deadline = time.monotonic() + timeout
    while "ready" not in proc.log_text():
        if not proc.running() or time.monotonic() > deadline:
            raise WorkloadError(f"the {protocol} server in {host} did not start:\n{proc.log_text()[-1000:]}")
        time.sleep(0.05)
    return proc


def client_argv(
    target: str,
    port: int,
    out: Path,
    *,
    protocol: str = "tcp",
    rate: float = 10,
    timeout: float = 1,
    duration: float = 0,
    path: str = "/",
) -> list[str]:
    """The command line of a client workload writing its requests to ``out``."""
    return [
        sys.executable,
        "-m",
        "netns_lab.workload",
        "client",
        target,
        str(port),
        "--out",
        str(out),
        "--protocol",
        protocol,
        "--rate",
        f"{rate:g}",
        "--timeout",
        f"{timeout:g}",
        "--duration",
        f"{duration:g}",
        "--path",
        path,
    ]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m netns_lab.workload", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="answer TCP or HTTP with NAME")
    s.add_argument("protocol", choices=("tcp", "http"))
    s.add_argument("port", type=int)
    s.add_argument("name")
    c = sub.add_parser("client", help="send requests at a rate, one JSON line per request")
    c.add_argument("target")
    c.add_argument("port", type=int)
    c.add_argument("--out", required=True)
    c.add_argument("--protocol", choices=("tcp", "http"), default="tcp")
    c.add_argument("--rate", type=float, default=10.0)
    c.add_argument("--timeout", type=float, default=1.0)
    c.add_argument("--duration", type=float, default=0.0, help="seconds (0: until SIGTERM)")
    c.add_argument("--path", default="/")
    args = p.parse_args(argv)
    if args.cmd == "serve":
        if not 1 <= args.port <= 65535:
            p.error(f"port {args.port} is not 1-65535")
        serve(args.protocol, args.port, args.name)
        return 0
    if not 0 < args.rate <= 1000 or not 0 < args.timeout <= 60:
        p.error("--rate must be within (0, 1000] and --timeout within (0, 60]")
    asyncio.run(_run_client(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
