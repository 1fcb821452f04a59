"""PING_CHECK (keepalived's check_ping.c): one ICMP (IPv4) or ICMPv6 echo request, passed when the matching
reply arrives within connect_timeout. icmplib builds and matches the packets; raw sockets when we are root,
unprivileged ICMP datagram sockets otherwise (ping_group_range). fwmark and bind_if are set on its socket."""

from __future__ import annotations

import os
import socket

import icmplib
from icmplib.utils import unique_identifier

from checkers.core.spec import ProbeResult, Target
from checkers.io.sockets import family_of, socket_options


async def probe_ping(target: Target, timeout: float) -> ProbeResult:
    privileged = os.geteuid() == 0
    kind = icmplib.ICMPv6Socket if family_of(target.ip) == socket.AF_INET6 else icmplib.ICMPv4Socket
    try:
        icmp = kind(target.bindto, privileged)
    except icmplib.ICMPLibError as exc:
        return ProbeResult(False, f"PING_CHECK socket failed ({exc}) for")
    try:
        for level, opt, value in socket_options(target):
            icmp.sock.setsockopt(level, opt, value)
        sock = icmplib.AsyncSocket(icmp)
        request = icmplib.ICMPRequest(destination=target.ip, id=unique_identifier(), sequence=1)
        sock.send(request)
        reply = await sock.receive(request, timeout)
        reply.raise_for_status()
        return ProbeResult(True)
    except icmplib.TimeoutExceeded:
        return ProbeResult(False, "PING_CHECK no echo reply from")
    except (icmplib.ICMPLibError, OSError) as exc:
        return ProbeResult(False, f"PING_CHECK failed ({exc}) for")
    finally:
        icmp.close()
