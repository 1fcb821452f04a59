"""SMTP_CHECK (keepalived's check_smtp.c): the banner must be 220, ``HELO helo_name`` must get 250, then QUIT must
get a reply (any code: keepalived only reads it).
aiosmtplib speaks the protocol on a socket we connected (so bindto/bind_if/fwmark apply); it is told not to try
EHLO or STARTTLS so the dialogue is keepalived's."""

from __future__ import annotations

import contextlib

import aiosmtplib

from checkers.core.spec import ProbeResult, SmtpProbe, Target
from checkers.io.sockets import connect_tcp


async def probe_smtp(target: Target, probe: SmtpProbe, timeout: float) -> ProbeResult:
    try:
        sock = await connect_tcp(target)
    except OSError as exc:
        return ProbeResult(False, f"SMTP connection failed ({exc.strerror or exc}) to")
    client = aiosmtplib.SMTP(sock=sock, local_hostname=probe.helo_name, timeout=timeout, start_tls=False,
                             use_tls=False)
    try:
        banner = await client.connect()
        if banner.code != 220:
            return ProbeResult(False, "Bad greeting banner from server")
        reply = await client.helo()
        if reply.code != 250:
            return ProbeResult(False, "Bad HELO response from server")
        with contextlib.suppress(aiosmtplib.SMTPResponseException):  # any reply to QUIT will do
            await client.quit()
        return ProbeResult(True)
    except aiosmtplib.SMTPConnectResponseError:
        return ProbeResult(False, "Bad greeting banner from server")
    except aiosmtplib.SMTPHeloError:
        return ProbeResult(False, "Bad HELO response from server")
    except (aiosmtplib.SMTPTimeoutError, aiosmtplib.SMTPServerDisconnected):
        return ProbeResult(False, "Read timeout from server")
    except aiosmtplib.SMTPException as exc:
        return ProbeResult(False, f"SMTP check failed ({type(exc).__name__}: {exc}) on")
    except OSError as exc:
        return ProbeResult(False, f"SMTP connection failed ({exc.strerror or exc}) to")
    finally:
        client.close()
        sock.close()
