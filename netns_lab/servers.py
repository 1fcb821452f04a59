"""Real servers for checker tests on loopback (and inside namespaces): HTTP and HTTPS with fixed routes, a
listener that accepts and never answers, a UDP echo, a DNS server answering from a table (dnspython's message
API), an SMTP server (aiosmtpd), and a self-signed certificate made on the spot (cryptography).

All are asyncio servers started inside the caller's event loop and stopped when the ``async with`` ends; each
yields the port it bound (port 0: the kernel picks a free one, so parallel runs never collide).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import datetime
import os
import pickle
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

T = TypeVar("T")
_CLONE_NEWNET = 0x40000000


@dataclass(frozen=True)
class Route:
    """What the HTTP server answers for one path: status, body, and an optional delay before answering."""

    status: int = 200
    body: bytes = b""
    delay: float = 0.0


REASONS = {200: "OK", 204: "No Content", 301: "Moved Permanently", 404: "Not Found", 500: "Internal Server Error",
           503: "Service Unavailable"}


@dataclass
class HttpLog:
    """What the HTTP server saw: request heads (first line and headers) in arrival order."""

    requests: list[tuple[str, dict[str, str]]]


@contextlib.asynccontextmanager
async def http_server(host: str, routes: dict[str, Route], tls: ssl.SSLContext | None = None,
                      log: HttpLog | None = None, port: int = 0) -> AsyncIterator[int]:
    """An HTTP/1.x server: one response per connection (Connection: close), 404 for unknown paths; on ``port``
    (0: a free one)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _version = lines[0].split(" ", 2)
            headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            if log is not None:
                log.requests.append((lines[0], headers))
            route = routes.get(path, Route(404, b"not found\n"))
            if route.delay:
                await asyncio.sleep(route.delay)
            reason = REASONS.get(route.status, "Status")
            writer.write(f"HTTP/1.1 {route.status} {reason}\r\nContent-Length: {len(route.body)}\r\n"
                         f"Connection: close\r\n\r\n".encode() + (route.body if method != "HEAD" else b""))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port, ssl=tls, backlog=4096)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1)


@contextlib.asynccontextmanager
async def silent_server(host: str) -> AsyncIterator[int]:
    """Accepts connections (the kernel completes the handshake) and never reads or answers."""
    held: list[asyncio.StreamWriter] = []

    async def handle(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(handle, host, 0, backlog=4096)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for w in held:
            w.close()
        server.close()


class _Datagram(asyncio.DatagramProtocol):
    def __init__(self, answer: Callable[[bytes], bytes | None]) -> None:
        self.answer = answer
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        reply = self.answer(data)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


@contextlib.asynccontextmanager
async def udp_server(host: str, answer: Callable[[bytes], bytes | None]) -> AsyncIterator[int]:
    """A UDP server replying ``answer(datagram)`` (None: stay silent). ``lambda d: d`` is an echo."""
    loop = asyncio.get_running_loop()
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    transport, _ = await loop.create_datagram_endpoint(lambda: _Datagram(answer), local_addr=(host, 0), family=fam)
    try:
        yield transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


def dns_answerer(records: dict[tuple[str, str], list[str]], rcode: int = 0) -> Callable[[bytes], bytes | None]:
    """A DNS responder for :func:`udp_server`: answers (name, type) from ``records`` with ``rcode``."""
    import dns.message
    import dns.rcode
    import dns.rdatatype
    import dns.rrset

    def answer(wire: bytes) -> bytes | None:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        response.set_rcode(dns.rcode.Rcode(rcode))
        for q in query.question:
            key = (q.name.to_text(), dns.rdatatype.to_text(q.rdtype))
            if key in records:
                response.answer.append(dns.rrset.from_text_list(q.name, 60, "IN", key[1], records[key]))
        return bytes(response.to_wire())

    return answer


@dataclass
class SmtpRecorder:
    """What an :func:`smtp_server` received: each message's aiosmtpd envelope and the HELO/EHLO name it came
    with (the e-mail alert tests read them)."""

    envelopes: list[Any] = field(default_factory=list)
    helos: list[str] = field(default_factory=list)

    async def handle_DATA(self, _server: object, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        self.helos.append(str(session.host_name))
        return "250 OK"


@contextlib.asynccontextmanager
async def smtp_server(host: str, banner_hostname: str = "mail.test",
                      recorder: SmtpRecorder | None = None) -> AsyncIterator[int]:
    """A real SMTP server (aiosmtpd) in this event loop: 220 banner, HELO 250, QUIT 221; what arrives goes to
    ``recorder`` when given."""
    from aiosmtpd.smtp import SMTP

    handler = recorder if recorder is not None else SmtpRecorder()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, hostname=banner_hostname), host, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def self_signed(directory: Path, name: str = "localhost",
                ips: Sequence[str] = ("127.0.0.1", "::1")) -> tuple[Path, Path]:
    """(certificate, key) PEM files of a fresh self-signed certificate for ``name`` and ``ips``."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(name), *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def server_tls(cert: Path, key: Path, sni_seen: list[str] | None = None) -> ssl.SSLContext:
    """A server TLS context; with ``sni_seen`` it records the SNI name of each handshake."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if sni_seen is not None:
        def record(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
            sni_seen.append(name or "")
        ctx.sni_callback = record
    return ctx


@contextlib.asynccontextmanager
async def unanswered_port(host: str) -> AsyncIterator[int]:
    """A port whose TCP connects hang (SYN dropped): a listener with backlog 0 whose one queue slot is taken
    and never accepted. Gives a real connect timeout on loopback, no firewall needed."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(fam, socket.SOCK_STREAM)
    filler = socket.socket(fam, socket.SOCK_STREAM)
    try:
        listener.bind((host, 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        filler.connect((host, port))
        yield port
    finally:
        filler.close()
        listener.close()


@contextlib.asynccontextmanager
async def line_server(host: str, greeting: bytes, replies: Sequence[bytes] = ()) -> AsyncIterator[int]:
    """A TCP server that sends ``greeting`` on connect, then answers the n-th line it receives with
    ``replies[n]`` and stays silent after the last: a scripted SMTP peer (a wrong banner, a HELO or QUIT never
    answered)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(greeting)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
            for reply in replies:
                if not await reader.readline():
                    break
                writer.write(reply)
                await writer.drain()
            await reader.read()
        writer.close()

    server = await asyncio.start_server(handle, host, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def closed_port(host: str, kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A port nothing listens on (bound then released): TCP gets RST, UDP gets ICMP port unreachable."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, kind) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
    return port


def in_fresh_netns(fn: Callable[[], T], setup: Sequence[Sequence[str]] = ()) -> T:
    """Run ``fn`` in a forked child inside a new, unnamed network namespace (it vanishes with the child),
    after the ``ip`` commands of ``setup``; return its (picklable) result or raise its error. Needs root."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into the caller's stack
        code = 1
        try:
            os.close(r)
            asyncio.events._set_running_loop(None)
            if libc.unshare(_CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET) failed")
            for argv in setup:
                subprocess.run(list(argv), check=True, capture_output=True)
            payload = pickle.dumps((True, fn()))
            code = 0
        except BaseException as exc:
            payload = pickle.dumps((False, f"{type(exc).__name__}: {exc}"))
        finally:
            with contextlib.suppress(Exception):
                os.write(w, payload)
            os._exit(code)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    os.waitpid(pid, 0)
    ok, value = pickle.loads(b"".join(chunks))
    if not ok:
        raise RuntimeError(f"in a fresh netns: {value}")
    return value  # type: ignore[no-any-return]
