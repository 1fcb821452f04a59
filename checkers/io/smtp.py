"""SMTP_CHECK (keepalived's check_smtp.c): the banner must be 220, ``HELO helo_name`` must get 250, then QUIT.
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
            return ProbeResult(False, f"SMTP banner {banner.code} from")
        reply = await client.helo()
        if reply.code != 250:
            return ProbeResult(False, f"SMTP HELO answered {reply.code} by")
        with contextlib.suppress(aiosmtplib.SMTPException):  # the verdict is made once HELO got 250
            await client.quit()
        return ProbeResult(True)
    except aiosmtplib.SMTPException as exc:
        return ProbeResult(False, f"SMTP check failed ({type(exc).__name__}: {exc}) on")
    except OSError as exc:
        return ProbeResult(False, f"SMTP connection failed ({exc.strerror or exc}) to")
    finally:
        client.close()
        sock.close()
