"""E-mail alerts (``smtp_alert``) with keepalived 2.2.7's subjects and bodies, sent without ever blocking a loop.

Why: operators filter these mails by subject ("[router] VRRP Instance VI_1 - Entering MASTER state"), so a drop-in
must use keepalived's words (core/smtp.c ``smtp_alert``, vrrp/vrrp_notify.c, check/check_*.c).  Why a queue: an
SMTP server can take ``smtp_connect_timeout`` seconds to answer or not answer at all; a VRRP advert or a checker
verdict must not wait for it.  ``SmtpAlerter.submit`` only appends to a bounded queue and returns; one task sends
the queue through aiosmtplib, one message at a time, each bounded by ``smtp_connect_timeout``; a failure is logged
in keepalived's words and the next message goes on.

Which events mail, and when (keepalived's rules): a VRRP instance or sync group mails on entering MASTER, BACKUP,
FAULT and on stop, once per state change; its ``smtp_alert`` comes from the instance/group keyword, else
``smtp_alert_vrrp``, else ``smtp_alert``, else off.  A real server mails when its checker verdict changes, a virtual
server when its quorum changes; their ``smtp_alert`` falls back on ``smtp_alert_checker``, then ``smtp_alert``.
Nothing is sent without ``smtp_server`` and at least one ``notification_email``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import pwd
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP

import aiosmtplib

from ipvs.model import DestKey, ServiceKey
from pykeepalived.config.model import GlobalDefs
from vrrp.core.state import State

log = logging.getLogger("pykeepalived.smtp")

#: The body keepalived adds to every mail's headers (SMTP_HEADERS_CMD).
X_MAILER = "Keepalived"


def local_name() -> str:
    """keepalived's get_local_name: the node name (uname), used for router_id, HELO and From defaults."""
    return os.uname().nodename or "unknown"


@dataclass(frozen=True)
class SmtpSettings:
    """Resolved ``global_defs`` SMTP settings, keepalived's defaults filled in (global_data.c init_global_data)."""

    server: str
    port: int
    helo_name: str
    email_from: str
    email_to: tuple[str, ...]
    connect_timeout: float
    router_id: str
    alert: bool | None = None
    alert_vrrp: bool | None = None
    alert_checker: bool | None = None

    @classmethod
    def from_defs(cls, g: GlobalDefs, *, hostname: str | None = None) -> SmtpSettings | None:
        """The settings of a ``global_defs`` block, or None when it configures no mail (no server or no
        recipient: keepalived then sends nothing)."""
        if not g.smtp_server or not g.notification_email:
            return None
        name = hostname or local_name()
        return cls(
            server=g.smtp_server,
            port=g.smtp_port,
            helo_name=g.smtp_helo_name or name,
            email_from=g.notification_email_from or f"{pwd.getpwuid(os.getuid()).pw_name}@{name}",
            email_to=tuple(g.notification_email),
            connect_timeout=float(g.smtp_connect_timeout),
            router_id=g.router_id or name,
            alert=g.smtp_alert,
            alert_vrrp=g.smtp_alert_vrrp,
            alert_checker=g.smtp_alert_checker,
        )

    def vrrp_enabled(self, own: bool | None) -> bool:
        """Whether a VRRP instance or sync group with ``smtp_alert`` ``own`` (None: not set) mails."""
        return _first(own, self.alert_vrrp, self.alert)

    def checker_enabled(self, own: bool | None) -> bool:
        """Whether a virtual server with ``smtp_alert`` ``own`` (None: not set) mails."""
        return _first(own, self.alert_checker, self.alert)

    def real_server_enabled(self, own: bool | None) -> bool:
        """Whether a real server mails: as a virtual server, but on when nothing is set (check_data.c: "in order
        to maintain backwards compatibility")."""
        return _first(own, self.alert_checker, self.alert, True)


def _first(*choices: bool | None) -> bool:
    return next((c for c in choices if c is not None), False)


# ------------------------------------------------------------------------------------------- what is said


class VrrpEvent(enum.Enum):
    """The VRRP events keepalived mails about (vrrp_smtp_notifier / vrrp_sync_smtp_notifier)."""

    MASTER = "MASTER"
    BACKUP = "BACKUP"
    FAULT = "FAULT"
    STOP = "STOP"
    DELETED = "DELETED"  # an instance removed by a reload (instances only)


_INSTANCE_TEXT: dict[VrrpEvent, tuple[str, str]] = {
    VrrpEvent.MASTER: ("Entering MASTER state", "=> VRRP Instance is now owning VRRP VIPs <="),
    VrrpEvent.BACKUP: ("Entering BACKUP state", "=> VRRP Instance is no longer owning VRRP VIPs <="),
    VrrpEvent.FAULT: ("Entering FAULT state", "=> VRRP Instance is no longer owning VRRP VIPs <="),
    VrrpEvent.STOP: ("Stopping", "=> VRRP Instance stopping <="),
    VrrpEvent.DELETED: ("Deleted", "=> VRRP Deleted at reload <="),
}

_GROUP_TEXT: dict[VrrpEvent, tuple[str, str]] = {
    VrrpEvent.MASTER: ("Entering MASTER state", "=> All VRRP group instances are now in MASTER state <="),
    VrrpEvent.BACKUP: ("Entering BACKUP state", "=> All VRRP group instances are now in BACKUP state <="),
    VrrpEvent.FAULT: ("Entering FAULT state", "=> All VRRP group instances are now in FAULT state <="),
    VrrpEvent.STOP: ("Stopping", "=> All VRRP group instances are now stopping <="),
}

#: The checker's words in a real server's mail body (check_tcp.c, check_http.c, ... "=> %s <=").
_CHECKER_WORDS: dict[str, tuple[str, str]] = {
    "TCP_CHECK": ("TCP CHECK succeed on service", "TCP CHECK failed on service"),
    "HTTP_GET": ("CHECK succeed on service", "CHECK failed on service : HTTP request failed"),
    "SSL_GET": ("CHECK succeed on service", "CHECK failed on service : HTTP request failed"),
    "SMTP_CHECK": ("CHECK succeed on service", "CHECK failed on service"),
    "DNS_CHECK": ("DNS_CHECK: succeed on service", "DNS_CHECK: failed on service"),
    "PING_CHECK": ("ICMP CHECK succeed on service", "ICMP CHECK failed on service"),
    "UDP_CHECK": ("UDP CHECK succeed on service", "UDP CHECK failed on service"),
    "MISC_CHECK": ("MISC CHECK succeeded on service", "MISC CHECK failed on service"),
}


@dataclass(frozen=True)
class Alert:
    """One mail: keepalived's subject (router id included) and body."""

    subject: str
    body: str


def instance_alert(router_id: str, iname: str, event: VrrpEvent) -> Alert:
    """``[router_id] VRRP Instance NAME - Entering MASTER state`` and its body."""
    subject, body = _INSTANCE_TEXT[event]
    return Alert(f"[{router_id}] VRRP Instance {iname} - {subject}", body)


def group_alert(router_id: str, gname: str, event: VrrpEvent) -> Alert:
    """``[router_id] VRRP Group NAME - Entering MASTER state`` and its body (no DELETED for groups)."""
    if event not in _GROUP_TEXT:
        raise ValueError(f"keepalived sends no sync-group mail for {event.value}")
    subject, body = _GROUP_TEXT[event]
    return Alert(f"[{router_id}] VRRP Group {gname} - {subject}", body)


_PROTO = {6: "tcp", 17: "udp", 132: "sctp", 0: "none"}


def fmt_vs(key: ServiceKey, *, group: str | None = None) -> str:
    """keepalived's FMT_VS: ``[192.0.2.10]:tcp:80``, ``FWM 7``, or ``[GROUP]:80`` for a virtual_server_group."""
    if group is not None:
        return f"[{group}]:{key.port}"
    if key.is_fwmark:
        return f"FWM {key.fwmark}"
    return f"[{key.addr}]:{_PROTO.get(key.protocol, '?')}:{key.port}"


def fmt_rs(dest: DestKey, service: ServiceKey) -> str:
    """keepalived's FMT_RS: the real server's address, the virtual server's protocol, its port."""
    return f"[{dest.addr}]:{_PROTO.get(service.protocol, '?')}:{dest.port}"


def real_server_alert(router_id: str, real_server: str, virtual_server: str, checker: str, up: bool) -> Alert:
    """A checker verdict: ``[router_id] Realserver RS of virtual server VS - UP`` with the checker's words.

    ``real_server`` / ``virtual_server`` are keepalived's FMT_RS/FMT_VS texts (``fmt_rs``, ``fmt_vs``).
    """
    words = _CHECKER_WORDS.get(checker, ("CHECK succeed on service", "CHECK failed on service"))
    return Alert(f"[{router_id}] Realserver {real_server} of virtual server {virtual_server} - "
                 f"{'UP' if up else 'DOWN'}", f"=> {words[0] if up else words[1]} <=")


def real_server_removed_alert(router_id: str, real_server: str, virtual_server: str, *, stopping: bool) -> Alert:
    """A real server taken out by a reload or at stop (ipwrapper.c SMTP_MSG_RS_SHUT)."""
    return Alert(f"[{router_id}] Realserver {real_server} of virtual server {virtual_server} - DOWN",
                 "=> Shutting down <=" if stopping else "=> Removing <=")


def virtual_server_alert(router_id: str, virtual_server: str, *, up: bool, init: bool, quorum: int,
                         hysteresis: int, threshold: int, weight_sum: int) -> Alert:
    """A virtual server's quorum change (ipwrapper.c update_quorum_state)."""
    what = ("Starting with quorum up" if init else "Gained quorum") if up else \
           ("Starting with quorum down" if init else "Lost quorum")
    return Alert(f"[{router_id}] Virtualserver {virtual_server} - {'UP' if up else 'DOWN'}",
                 f"=> {what} {quorum}+{hysteresis}={threshold} <= {weight_sum} <=")


#: keepalived writes each header on one line (subjects up to 256 characters); RFC 5322's hard limit is 998.
_POLICY = SMTP.clone(max_line_length=998)


def render(alert: Alert, settings: SmtpSettings, *, now: float | None = None) -> EmailMessage:
    """The message keepalived sends: Date, From, Subject, X-Mailer, To (recipients comma-joined), the body."""
    msg = EmailMessage(policy=_POLICY)
    stamp = time.localtime(time.time() if now is None else now)
    msg["Date"] = time.strftime("%a, %d %b %Y %H:%M:%S %z", stamp)
    msg["From"] = settings.email_from
    msg["Subject"] = alert.subject
    msg["X-Mailer"] = X_MAILER
    msg["To"] = ", ".join(settings.email_to)
    msg.set_content(alert.body)
    return msg


# ------------------------------------------------------------------------------------------------ sending

#: How one message goes out; aiosmtplib.send by default, replaceable for a test that needs a slow sender.
Sender = Callable[[EmailMessage, SmtpSettings], Awaitable[object]]


async def _aiosmtplib_send(msg: EmailMessage, settings: SmtpSettings) -> object:
    # Plain SMTP as keepalived speaks it (it has no TLS); every step bounded by smtp_connect_timeout.
    # Flattened here with our policy: aiosmtplib's own would fold a long subject, keepalived never does.
    return await aiosmtplib.send(
        msg.as_bytes(policy=_POLICY),
        sender=settings.email_from,
        recipients=list(settings.email_to),
        hostname=settings.server,
        port=settings.port,
        local_hostname=settings.helo_name,
        timeout=settings.connect_timeout,
        use_tls=False,
        start_tls=False,
    )


class SmtpAlerter:
    """Queues alerts and sends them one by one from a background task of the running loop.

    ``submit`` never waits: when ``max_queued`` mails are already waiting (a dead server and a flapping
    instance), the new one is dropped and counted in ``dropped``.  ``sent`` and ``failed`` count outcomes.
    """

    def __init__(self, settings: SmtpSettings, *, max_queued: int = 64, sender: Sender = _aiosmtplib_send) -> None:
        self.settings = settings
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._sender = sender
        self._queue: asyncio.Queue[EmailMessage] = asyncio.Queue(maxsize=max_queued)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the sending task on the running loop (idempotent)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="smtp-alerts")

    def submit(self, alert: Alert) -> bool:
        """Queue ``alert``; returns at once, False when the queue was full and the alert was dropped."""
        try:
            self._queue.put_nowait(render(alert, self.settings))
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("SMTP alert queue full, dropping: %s", alert.subject)
            return False
        return True

    async def drain(self) -> None:
        """Wait until every queued alert has been sent or has failed (tests, and a graceful stop)."""
        await self._queue.join()

    async def aclose(self, *, grace: float | None = None) -> None:
        """Stop the task; with ``grace`` seconds, first let the queued alerts go out (the STOP mails)."""
        if self._task is None:
            return
        if grace:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), grace)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            msg = await self._queue.get()
            try:
                await self._sender(msg, self.settings)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                self.failed += 1
                self._log_failure(exc)
            else:
                self.sent += 1
                log.info("SMTP alert successfully sent.")
            finally:
                self._queue.task_done()

    def _log_failure(self, exc: BaseException) -> None:
        host = f"[{self.settings.server}]:{self.settings.port}"
        if isinstance(exc, aiosmtplib.SMTPConnectTimeoutError | TimeoutError | aiosmtplib.SMTPTimeoutError):
            log.info("Timeout connecting SMTP server %s.", host)
        elif isinstance(exc, aiosmtplib.SMTPConnectError | OSError):
            log.info("SMTP connection ERROR to %s.", host)
        else:
            log.info("Error sending SMTP alert to %s: %s", host, exc)


def vrrp_event(state: State) -> VrrpEvent:
    """The mail a new state calls for: MASTER, BACKUP and FAULT by name; INIT (a stop) is ``VrrpEvent.STOP``."""
    return {State.MASTER: VrrpEvent.MASTER, State.BACKUP: VrrpEvent.BACKUP, State.FAULT: VrrpEvent.FAULT,
            State.INIT: VrrpEvent.STOP}[state]


class TransitionMailer:
    """keepalived's vrrp_smtp_notifier / vrrp_sync_smtp_notifier: one mail per change of an instance's or a sync
    group's state (``last_email_state``), only where its ``smtp_alert`` (or the global defaults) says so."""

    def __init__(self, alerter: SmtpAlerter) -> None:
        self._alerter = alerter
        self._last: dict[tuple[str, str], VrrpEvent] = {}

    def instance(self, name: str, state: State | VrrpEvent, *, smtp_alert: bool | None = None) -> bool:
        """An instance entered ``state`` (or was stopped/deleted); True when a mail was queued."""
        return self._changed("instance", name, state, smtp_alert)

    def group(self, name: str, state: State | VrrpEvent, *, smtp_alert: bool | None = None) -> bool:
        """A sync group entered ``state``; True when a mail was queued."""
        return self._changed("group", name, state, smtp_alert)

    def _changed(self, kind: str, name: str, state: State | VrrpEvent, own: bool | None) -> bool:
        settings = self._alerter.settings
        event = vrrp_event(state) if isinstance(state, State) else state
        if not settings.vrrp_enabled(own) or self._last.get((kind, name)) is event:
            return False
        if kind == "group" and event is VrrpEvent.DELETED:
            return False
        self._last[(kind, name)] = event
        make = instance_alert if kind == "instance" else group_alert
        return self._alerter.submit(make(settings.router_id, name, event))


class CheckerMailer:
    """keepalived's checker alerts: a check's verdict changing (check_*.c: only a real change, up after down or
    down after up; with ``no_checker_emails`` only when the real server's membership changed too), a virtual
    server's quorum decided (ipwrapper.c do_vs_notifies), a real server taken out by a reload or at stop
    (clear_service_rs).  ``submit`` never waits (see :class:`SmtpAlerter`)."""

    def __init__(self, alerter: SmtpAlerter, *, no_checker_emails: bool = False) -> None:
        self.alerter = alerter
        self.no_checker_emails = no_checker_emails

    def verdict(self, real_server: str, virtual_server: str, checker: str, up: bool, *, own: bool | None,
                membership_changed: bool) -> bool:
        settings = self.alerter.settings
        if not settings.real_server_enabled(own) or (self.no_checker_emails and not membership_changed):
            return False
        return self.alerter.submit(real_server_alert(settings.router_id, real_server, virtual_server, checker, up))

    def quorum(self, virtual_server: str, *, up: bool, init: bool, quorum: int, hysteresis: int, threshold: int,
               weight: int, stopping: bool, own: bool | None) -> bool:
        settings = self.alerter.settings
        if not settings.checker_enabled(own):
            return False
        if stopping:
            alert = Alert(f"[{settings.router_id}] Virtualserver {virtual_server} - {'UP' if up else 'DOWN'}",
                          "=> Shutting down <=")
        else:
            alert = virtual_server_alert(settings.router_id, virtual_server, up=up, init=init, quorum=quorum,
                                         hysteresis=hysteresis, threshold=threshold, weight_sum=weight)
        return self.alerter.submit(alert)

    def real_server_shut(self, real_server: str, virtual_server: str, *, stopping: bool, own: bool | None) -> bool:
        settings = self.alerter.settings
        if not settings.real_server_enabled(own):
            return False
        return self.alerter.submit(real_server_removed_alert(settings.router_id, real_server, virtual_server,
                                                             stopping=stopping))
