"""``genhash`` (and ``keepalived --genhash``/``-T``): fetch one URL and print the MD5 digest of its body, the
value an HTTP_GET/SSL_GET ``url { digest ... }`` compares (keepalived's check_genhash.c and genhash(1)).

Options are keepalived's: ``-s server -p port -u url`` are required; ``-S`` uses TLS, ``-I`` sends SNI (the
``-V`` virtualhost), ``-V host`` sets the Host header, ``-m mark`` sets SO_MARK, ``-P 1.0|1.0c|1.1``,
``-t seconds``, ``-v`` also prints the status line and headers. The fetch is the checker's own
(:func:`checkers.io.http.fetch`), so the digest printed is exactly the one compared.
"""

from __future__ import annotations

import asyncio
import getopt
import ipaddress
import ssl
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from checkers.core.spec import Target, TlsSpec
from checkers.io.http import fetch, make_client

SHORT = "hvSIs:V:p:u:m:P:t:"
LONG = ["help", "verbose", "use-ssl", "use-sni", "server=", "use-virtualhost=", "port=", "url=", "fwmark=",
        "protocol=", "timeout="]


def usage(prog: str) -> str:
    return (
        f"Usage: {prog} COMMAND [OPTIONS]\n"
        "Commands:\n"
        "   -s server-address -p port -u url\n"
        "   -S -s server-address -p port -u url\n"
        "   -h\n\n"
        "Options:\n"
        "Either long or short options are allowed.\n"
        "   --use-ssl         -S       Use SSL connection to remote server.\n"
        "   --use-sni         -I       Use SNI during SSL handshake (uses virtualhost setting; see -V).\n"
        "   --server          -s       Use the specified remote server address.\n"
        "   --port            -p       Use the specified remote server port.\n"
        "   --url             -u       Use the specified remote server url.\n"
        "   --use-virtualhost -V       Use the specified virtualhost in GET query.\n"
        "   --verbose         -v       Use verbose mode output.\n"
        "   --help            -h       Display this short inlined help screen.\n"
        "   --fwmark          -m       Use the specified FW mark.\n"
        "   --protocol        -P       Use the specified HTTP protocol - '1.0', 1.0c', '1.1'.\n"
        "                                1.0c means 1.0 with 'Connection: close'\n"
        "   --timeout         -t       Timeout in seconds\n"
    )


class UsageError(Exception):
    """A bad command line: the message, then the usage text, exit status 1 (keepalived's)."""


@dataclass(frozen=True)
class Request:
    server: str
    port: int
    url: str
    ssl: bool = False
    sni: bool = False
    virtualhost: str | None = None
    fwmark: int | None = None
    protocol: str = "1.0"
    timeout: float = 5.0
    verbose: bool = False


def parse(argv: Sequence[str]) -> Request | None:
    """The request, or None for ``-h``; raises :class:`UsageError` naming the bad option."""
    try:
        opts, rest = getopt.gnu_getopt(list(argv), SHORT, LONG)
    except getopt.GetoptError as exc:
        raise UsageError(str(exc)) from None
    if rest:
        raise UsageError("Unexpected argument(s): " + " ".join(rest))
    got: dict[str, object] = {}
    for opt, val in opts:
        match opt:
            case "-h" | "--help":
                return None
            case "-v" | "--verbose":
                got["verbose"] = True
            case "-S" | "--use-ssl":
                got["ssl"] = True
            case "-I" | "--use-sni":
                got["sni"] = True
            case "-s" | "--server":
                try:
                    got["server"] = str(ipaddress.ip_address(val))
                except ValueError:
                    raise UsageError(f"server should be an IP, not {val}") from None
            case "-p" | "--port":
                if not val.isdigit() or not 0 < int(val) < 65536:
                    raise UsageError(f"invalid port number '{val}'")
                got["port"] = int(val)
            case "-u" | "--url":
                got["url"] = val
            case "-V" | "--use-virtualhost":
                got["virtualhost"] = val
            case "-m" | "--fwmark":
                if not val.isdigit():
                    raise UsageError(f"invalid fwmark '{val}'")
                got["fwmark"] = int(val)
            case "-P" | "--protocol":
                if val.lower() not in ("1.0", "1.0c", "1.1"):
                    raise UsageError(f"invalid HTTP protocol version '{val}'")
                got["protocol"] = val
            case "-t" | "--timeout":
                try:
                    t = float(val)
                except ValueError:
                    t = 0.0
                if t <= 0:
                    raise UsageError(f"invalid timeout '{val}'")
                got["timeout"] = t
    missing = [k for k in ("server", "port", "url") if k not in got]
    if missing:
        raise UsageError("missing " + ", ".join(f"--{k}" for k in missing))
    return Request(**got)  # type: ignore[arg-type]


async def digest_of(req: Request) -> tuple[str, str]:
    """(digest, verbose header text) of one GET, fetched exactly as the checker fetches."""
    target = Target(req.server, req.port, fwmark=req.fwmark)
    tls = TlsSpec(enable_sni=req.sni) if req.ssl else None
    async with asyncio.timeout(req.timeout):
        async with make_client(target, tls, req.timeout) as client:
            got = await fetch(client, target, req.url, tls=tls, virtualhost=req.virtualhost, timeout=req.timeout)
    header = f"HTTP status {got.status}, {len(got.body)} bytes of body\n"
    return got.digest, header


def main(argv: Sequence[str], prog: str = "genhash") -> int:
    """Run genhash with ``argv`` (without the program name); returns the exit status."""
    try:
        req = parse(argv)
    except UsageError as exc:
        sys.stderr.write(f"{exc}\n{usage(prog)}")
        return 1
    if req is None:
        sys.stderr.write(usage(prog))
        return 0
    try:
        digest, header = asyncio.run(digest_of(req))
    except TimeoutError:
        sys.stderr.write(f"Timeout connecting server [{req.server}]:{req.port}.\n")
        return 1
    except (httpx.HTTPError, OSError, ssl.SSLError) as exc:
        sys.stderr.write(f"Connection to [{req.server}]:{req.port} failed: {exc or type(exc).__name__}\n")
        return 1
    if req.verbose:
        sys.stdout.write(header)
        sys.stdout.write("-----------------------[ HTML hash final resulting ]-----------------------\n")
    sys.stdout.write(digest + "\n")
    return 0


def console_main() -> None:
    sys.exit(main(sys.argv[1:], prog=sys.argv[0].rsplit("/", 1)[-1]))
