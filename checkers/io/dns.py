"""DNS_CHECK (keepalived's check_dns.c): one recursive query of ``type`` for ``name`` over UDP; the first reply
with our id and QR set decides: RCODE NOERROR passes, anything else fails. dnspython builds and parses the
messages; the socket is ours so bindto/bind_if/fwmark apply."""

from __future__ import annotations

import asyncio

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

from checkers.core.spec import DnsProbe, ProbeResult, Target
from checkers.io.sockets import connect_udp

#: the record types keepalived's DNS_CHECK accepts
DNS_TYPES = ("A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA", "RRSIG", "DNSKEY")


async def probe_dns(target: Target, probe: DnsProbe) -> ProbeResult:
    if probe.qtype.upper() not in DNS_TYPES:
        return ProbeResult(False, f"DNS_CHECK type {probe.qtype!r} unknown for")
    query = dns.message.make_query(probe.name, dns.rdatatype.from_text(probe.qtype.upper()))
    query.flags |= dns.flags.RD
    loop = asyncio.get_running_loop()
    try:
        sock = await connect_udp(target)
    except OSError as exc:
        return ProbeResult(False, f"DNS_CHECK socket failed ({exc.strerror or exc}) for")
    try:
        await loop.sock_sendall(sock, query.to_wire())
        while True:
            wire = await loop.sock_recv(sock, 65535)
            if len(wire) < 12 or wire[:2] != query.id.to_bytes(2, "big") or not wire[2] & 0x80:
                continue  # too short, another id, or not a response: keep waiting, as keepalived does
            rcode = wire[3] & 0x0F
            if rcode != dns.rcode.NOERROR:
                return ProbeResult(False, f"DNS_CHECK read error occurred (rcode = {rcode}) from")
            try:
                dns.message.from_wire(wire, question_only=True)
            except dns.exception.DNSException as exc:
                return ProbeResult(False, f"DNS_CHECK malformed reply ({exc}) from")
            return ProbeResult(True)
    except OSError as exc:
        return ProbeResult(False, f"DNS_CHECK failed ({exc.strerror or exc}) for")
    finally:
        sock.close()
