"""TCP_CHECK: the check passes when a TCP connect completes (keepalived's check_tcp.c). This is the one-probe
path (a coroutine per probe); the driver runs TCP_CHECKs in bulk through ``checkers.io.connector``, which
reports with :func:`failed` too."""

from __future__ import annotations

import errno
import os

from checkers.core.spec import ProbeResult, Target
from checkers.io.sockets import connect_tcp


def failed(err: int) -> ProbeResult:
    """A failed connect, named by its errno as the C library names it ("Connection refused")."""
    return ProbeResult(False, f"TCP connection failed ({os.strerror(err)}) to")


async def probe_tcp(target: Target) -> ProbeResult:
    try:
        sock = await connect_tcp(target)
    except OSError as exc:
        return failed(exc.errno or errno.EIO)
    sock.close()
    return ProbeResult(True)
