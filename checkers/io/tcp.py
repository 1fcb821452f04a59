"""TCP_CHECK: the check passes when a TCP connect completes (keepalived's check_tcp.c)."""

from __future__ import annotations

from checkers.core.spec import ProbeResult, Target
from checkers.io.sockets import connect_tcp


async def probe_tcp(target: Target) -> ProbeResult:
    try:
        sock = await connect_tcp(target)
    except OSError as exc:
        return ProbeResult(False, f"TCP connection failed ({exc.strerror or exc}) to")
    sock.close()
    return ProbeResult(True)
