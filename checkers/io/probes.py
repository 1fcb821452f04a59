"""One entry point for every probe: pick the checker type's probe and bound it by a hard timeout, so a server
that accepts and never answers costs one pending coroutine and delays no other check."""

from __future__ import annotations

import asyncio
from typing import assert_never

from checkers.core.spec import (
    CheckSpec,
    DnsProbe,
    FileProbe,
    HttpProbe,
    MiscProbe,
    PingProbe,
    ProbeResult,
    SmtpProbe,
    TcpProbe,
    UdpProbe,
)
from checkers.io.dns import probe_dns
from checkers.io.file import probe_file
from checkers.io.http import probe_http
from checkers.io.misc import probe_misc
from checkers.io.ping import probe_ping
from checkers.io.smtp import probe_smtp
from checkers.io.tcp import probe_tcp
from checkers.io.udp import probe_udp


async def _dispatch(spec: CheckSpec) -> ProbeResult:
    t = spec.target
    timeout = spec.timing.connect_timeout
    match spec.probe:
        case TcpProbe():
            return await probe_tcp(t)
        case HttpProbe() as p:
            return await probe_http(t, p, timeout)
        case SmtpProbe() as p:
            return await probe_smtp(t, p, timeout)
        case DnsProbe() as p:
            return await probe_dns(t, p)
        case MiscProbe() as p:
            return await probe_misc(p)
        case UdpProbe() as p:
            return await probe_udp(t, p, timeout)
        case PingProbe():
            return await probe_ping(t, timeout)
        case FileProbe() as p:
            return await probe_file(p)
        case _:
            assert_never(spec.probe)


async def run_probe(spec: CheckSpec) -> ProbeResult:
    """Run ``spec``'s probe; never raises for a network or script failure, never outlives its hard timeout."""
    try:
        async with asyncio.timeout(spec.probe_timeout):
            return await _dispatch(spec)
    except TimeoutError:
        what = "Misc check timed out for" if isinstance(spec.probe, MiscProbe) else "Timeout connecting"
        return ProbeResult(False, what)
    except OSError as exc:
        return ProbeResult(False, f"{spec.kind} failed ({exc}) for")
